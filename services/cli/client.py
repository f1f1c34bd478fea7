"""The HTTP side of the CLI: one call per API operation, every failure as an ApiError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from shared.names import FINAL_STATUSES

Task = dict[str, Any]
Schedule = dict[str, Any]
FINAL = frozenset(s.value for s in FINAL_STATUSES)
TIMEOUT_S = 30.0


class ApiError(Exception):
    """The API could not be reached, or answered with an error; the message is one line."""


def describe(exc: httpx.HTTPError, url: str) -> str:
    """One line for a transport failure, without a traceback."""
    if isinstance(exc, httpx.TimeoutException):
        return f"the taskq API at {url} did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach the taskq API at {url}: {exc or 'connection failed'}"
    return f"request to the taskq API at {url} failed: {exc or type(exc).__name__}"


def check(response: httpx.Response) -> Any:
    """The JSON body of a 2xx; ApiError saying status and reason otherwise."""
    if response.is_success:
        return response.json()
    try:
        reason = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
    if response.status_code == 401:
        reason += " (pass --token or set TASKQ_API_TOKEN)"
    raise ApiError(f"{response.status_code} {reason}")


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Client:
    """A synchronous client of one taskq API."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers(token), timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as exc:
            raise ApiError(describe(exc, self.url)) from None
        except ValueError as exc:  # a 2xx whose body is not JSON: not a taskq API
            raise ApiError(f"{self.url} did not answer like a taskq API: {exc}") from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._errors():
            return check(self._http.request(method, path, **kwargs))

    def submit(
        self,
        action: str,
        data: dict[str, Any],
        key: str | None = None,
        priority: str = "normal",
        **timing: float | str | None,
    ) -> Task:
        """POST /tasks; `timing` may hold delay_s, run_at and timeout_s (None ones are left out)."""
        extra = {"Idempotency-Key": key} if key else {}
        body = {
            "action": action,
            "data": data,
            "priority": priority,
            **{k: v for k, v in timing.items() if v},
        }
        accepted: Task = self._call("POST", "/tasks", json=body, headers=extra)
        return accepted

    def get(self, task_id: str) -> Task:
        task: Task = self._call("GET", f"/tasks/{task_id}")
        return task

    def list(
        self,
        status: str | None = None,
        action: str | None = None,
        limit: int | None = None,
        priority: str | None = None,
    ) -> dict[str, Any]:
        params = {"status": status, "action": action, "limit": limit, "priority": priority}
        page: dict[str, Any] = self._call(
            "GET", "/tasks", params={k: v for k, v in params.items() if v is not None}
        )
        return page

    def retry(self, task_id: str) -> Task:
        accepted: Task = self._call("POST", f"/tasks/{task_id}/retry")
        return accepted

    def retry_failed(self, action: str | None = None) -> dict[str, Any]:
        params = {"status": "failed", **({"action": action} if action else {})}
        replayed: dict[str, Any] = self._call("POST", "/tasks/retry", params=params)
        return replayed

    def delete(self, task_id: str) -> None:
        with self._errors():
            response = self._http.delete(f"/tasks/{task_id}")
            if not response.is_success:
                check(response)

    def schedules(self) -> Any:
        return self._call("GET", "/schedules")["schedules"]

    def add_schedule(self, body: dict[str, Any]) -> Schedule:
        created: Schedule = self._call("POST", "/schedules", json=body)
        return created

    def patch_schedule(self, name: str, body: dict[str, Any]) -> Schedule:
        changed: Schedule = self._call("PATCH", f"/schedules/{name}", json=body)
        return changed

    def delete_schedule(self, name: str) -> None:
        with self._errors():
            response = self._http.delete(f"/schedules/{name}")
            if not response.is_success:
                check(response)

    def cancel(self, task_id: str) -> Task:
        answer: Task = self._call("POST", f"/tasks/{task_id}/cancel")
        return answer

    def cancel_many(self, status: str | None, action: str | None) -> dict[str, Any]:
        params = {k: v for k, v in {"status": status, "action": action}.items() if v}
        counted: dict[str, Any] = self._call("POST", "/tasks/cancel", params=params)
        return counted

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/stats")
        return stats

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
