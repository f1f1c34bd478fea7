// Talking to the taskq API: the bearer token lives in sessionStorage (this tab only).

const TOKEN_KEY = "taskq.token";

export class Unauthorized extends Error {
  constructor(hadToken) {
    super("the API wants a bearer token");
    this.hadToken = hadToken;
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(`${status}: ${message}`);
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function api(path, { method = "GET" } = {}) {
  const headers = { Accept: "application/json" };
  const current = token.get();
  if (current) headers.Authorization = `Bearer ${current}`;
  const response = await fetch(path, { method, headers, cache: "no-store" });
  if (response.status === 401) throw new Unauthorized(Boolean(current));
  const isJson = (response.headers.get("content-type") || "").includes("application/json");
  const body = isJson ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body?.error ?? response.statusText);
  return body;
}
