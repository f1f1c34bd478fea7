// The dashboard: polls /stats, /tasks and the open task every POLL_MS and redraws.

import { api, ApiError, token, Unauthorized } from "./api.js";
import { drawChart } from "./chart.js";
import { renderSchedules } from "./schedules.js";

const POLL_MS = 2000;
const PAGE_SIZE = 50;
const $ = (selector) => document.querySelector(selector);

const state = { selected: null, timer: null, generation: 0, stats: null };

function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value);
  }
  element.append(...children);
  return element;
}

function ago(iso) {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return new Date(iso).toLocaleDateString();
}

// sv-SE reads as ISO 8601 (2024-05-01 13:45:07), in the viewer's own time zone
const fullTime = (iso) => (iso ? new Date(iso).toLocaleString("sv-SE") : "—");
const badge = (status) => el("span", { class: "badge", dataset: { status } }, status);
const pretty = (value) => (value === null || value === undefined ? "—" : JSON.stringify(value, null, 2));

function setLive(stateName, text) {
  const live = $("#live");
  live.dataset.state = stateName;
  live.textContent = text;
}

function renderStats(stats) {
  for (const [status, count] of Object.entries(stats.counts)) {
    const cell = document.querySelector(`[data-count="${status}"]`);
    if (cell) cell.textContent = count.toLocaleString();
  }
  $('[data-count="total"]').textContent = stats.total.toLocaleString();

  drawChart($("#chart"), stats.completed_per_minute);
  const hour = stats.completed_per_minute.reduce((sum, p) => sum + p.count, 0);
  $("#chart-summary").textContent = `${hour.toLocaleString()} in the last hour`;

  const queues = stats.queues;
  $("#queues-note").hidden = queues !== null;
  const depth = { work: 0, high: 0, retry: 0, dead: 0 };
  const retryRows = [];
  for (const [name, count] of Object.entries(queues ?? {})) {
    if (name.endsWith(".dead")) depth.dead += count;
    else if (name.includes(".retry.")) {
      depth.retry += count;
      retryRows.push(el("li", {}, el("span", {}, name), el("span", {}, String(count))));
    } else if (name.endsWith(".high")) depth.high += count;
    else depth.work += count;
  }
  for (const [kind, count] of Object.entries(depth)) {
    const cell = document.querySelector(`[data-queue="${kind}"]`);
    cell.textContent = queues === null ? "–" : count.toLocaleString();
    cell.classList.toggle("nonzero", count > 0);
  }
  $("#retry-queues").replaceChildren(...retryRows);
}

function renderTasks(page) {
  const rows = page.tasks.map((task) => {
    const row = el(
      "tr",
      { dataset: { taskId: task.id, status: task.status } },
      el("td", { class: "mono", title: task.id }, task.id.slice(0, 8)),
      el("td", {}, task.action),
      el("td", {}, badge(task.status), ...(task.priority === "high" ? [el("span", { class: "badge high" }, "high")] : [])),
      el("td", { class: "num" }, String(task.attempts)),
      el("td", { title: fullTime(task.created_at) }, ago(task.created_at)),
      el("td", { title: fullTime(task.processed_at) }, ago(task.processed_at)),
    );
    if (task.id === state.selected) row.classList.add("selected");
    row.addEventListener("click", () => select(task.id));
    return row;
  });
  $("#tasks tbody").replaceChildren(...rows);
  $("#tasks-empty").hidden = rows.length > 0;
}

function renderDetail(task) {
  $("#detail").hidden = false;
  $("#detail").dataset.status = task.status;
  $("#detail-id").textContent = task.id;
  $("#detail-action").textContent = task.action;
  $("#detail-status").replaceChildren(badge(task.status));
  $("#detail-attempts").textContent = String(task.attempts);
  $("#detail-created").textContent = fullTime(task.created_at);
  $("#detail-due").textContent = fullTime(task.run_at);
  $("#detail-started").textContent = fullTime(task.started_at);
  $("#detail-processed").textContent = fullTime(task.processed_at);
  $("#detail-data").textContent = pretty(task.data);
  $("#detail-result").textContent = pretty(task.result);
  $("#detail-error").textContent = task.error ?? "—";
  $("#retry-button").hidden = task.status !== "failed";
  $("#cancel-button").hidden = !CANCELLABLE.has(task.status);
  $("#detail-priority").textContent = task.priority;
  const progress = task.progress;
  $("#detail-progress").hidden = progress === null;
  if (progress !== null) {
    $("#detail-progress-bar").value = progress.fraction;
    const percent = `${Math.round(progress.fraction * 100)}%`;
    $("#detail-progress-text").textContent = progress.message ? `${percent} · ${progress.message}` : percent;
  }
}

// what a Cancel button may stop: waiting tasks end at once, a running one is asked to stop
const CANCELLABLE = new Set(["queued", "scheduled", "retrying", "running"]);

function listPath() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const status = $("#status-filter").value;
  const action = $("#action-filter").value.trim();
  if (status) params.set("status", status);
  if (action) params.set("action", action);
  return `/tasks?${params}`;
}

// an open task that is gone (a database reset, say) closes its panel instead of halting the page
function forgetMissing(error) {
  if (!(error instanceof ApiError) || error.status !== 404) throw error;
  state.selected = null;
  $("#detail").hidden = true;
  return null;
}

async function refresh(generation) {
  const selected = state.selected;
  const [stats, page, task, schedules] = await Promise.all([
    api("/stats"),
    api(listPath()),
    selected ? api(`/tasks/${selected}`).catch(forgetMissing) : null,
    api("/schedules"),
  ]);
  // a filter change or a click started a newer refresh: its answer wins
  if (generation !== state.generation) return;
  state.stats = stats;
  renderStats(stats);
  renderTasks(page);
  renderSchedules({ el, fullTime, ago, badge, select }, schedules);
  if (task && state.selected === task.id) renderDetail(task);
}

// Every call starts a new chain of polls and ends the one before, so a click never doubles them.
async function poll() {
  clearTimeout(state.timer);
  const generation = ++state.generation;
  try {
    await refresh(generation);
    if (generation === state.generation) setLive("live", `live · ${new Date().toLocaleTimeString("sv-SE")}`);
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof Unauthorized) {
      askForToken(error.hadToken);
      return; // polling resumes once a token is given
    }
    setLive("error", `offline · ${error.message}`);
  }
  if (generation === state.generation) state.timer = setTimeout(poll, POLL_MS);
}

function askForToken(refused) {
  if (refused) token.clear();
  setLive("error", "waiting for a token");
  $("#token-error").hidden = !refused;
  const dialog = $("#token-dialog");
  if (!dialog.open) dialog.showModal();
  $("#token-input").focus();
}

function select(taskId) {
  state.selected = taskId;
  $("#detail-notice").hidden = true;
  for (const row of document.querySelectorAll("#tasks tbody tr")) {
    row.classList.toggle("selected", row.dataset.taskId === taskId);
  }
  poll();
}

async function retrySelected() {
  const button = $("#retry-button");
  const notice = $("#detail-notice");
  button.disabled = true;
  try {
    await api(`/tasks/${state.selected}/retry`, { method: "POST" });
    notice.textContent = "Queued again with fresh attempts.";
  } catch (error) {
    if (error instanceof Unauthorized) return askForToken(error.hadToken);
    notice.textContent = `Retry refused: ${error.message}`;
  } finally {
    button.disabled = false;
  }
  notice.hidden = false;
  poll();
}

async function cancelSelected() {
  const button = $("#cancel-button");
  const notice = $("#detail-notice");
  button.disabled = true;
  try {
    const answer = await api(`/tasks/${state.selected}/cancel`, { method: "POST" });
    notice.textContent = answer.cancel_requested ? "Running: its consumer was told to stop it." : "Cancelled.";
  } catch (error) {
    if (error instanceof Unauthorized) return askForToken(error.hadToken);
    notice.textContent = `Cancel refused: ${error.message}`;
  } finally {
    button.disabled = false;
  }
  notice.hidden = false;
  poll();
}

function start() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token-input").value.trim();
    if (!value) return;
    token.set(value);
    $("#token-input").value = "";
    $("#token-dialog").close();
    poll();
  });
  // Escape would leave the page with nothing to show: keep asking
  $("#token-dialog").addEventListener("cancel", (event) => event.preventDefault());
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#status-filter").addEventListener("change", poll);
  let typing = null;
  $("#action-filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(poll, 300);
  });
  $("#detail-close").addEventListener("click", () => {
    state.selected = null;
    $("#detail").hidden = true;
    for (const row of document.querySelectorAll("#tasks tbody tr.selected")) row.classList.remove("selected");
  });
  $("#retry-button").addEventListener("click", retrySelected);
  $("#cancel-button").addEventListener("click", cancelSelected);
  window.addEventListener("resize", () => state.stats && drawChart($("#chart"), state.stats.completed_per_minute));
  poll();
}

start();
