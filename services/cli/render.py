"""How the CLI shows tasks and numbers: rich tables on a terminal, whole values tab-separated
when piped (with a header line, as `docker ps` does), and JSON for scripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from rich import box
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from shared.names import Status

STYLES: dict[str, str] = {
    Status.SCHEDULED: "cyan",
    Status.QUEUED: "bright_black",
    Status.RUNNING: "blue",
    Status.RETRYING: "yellow",
    Status.COMPLETED: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "magenta",
}
BARS = " ▁▂▃▄▅▆▇█"  # a minute with none is blank
Rows = list[list[str]]
FLATTEN = str.maketrans("\t\n\r", "   ")


def as_json(payload: Any) -> str:
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def tsv(rows: Rows) -> str:
    """One line per row, cells separated by tabs; a tab or line break inside a cell is a space."""
    return "\n".join("\t".join(cell.translate(FLATTEN) for cell in row) for row in rows)


def plain(value: Any) -> str:
    """A cell of piped output: text as it is, anything else as compact JSON, nothing for null."""
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def status(value: str) -> Text:
    return Text(value, style=STYLES.get(value, ""))


def when(iso: str | None) -> str:
    """An RFC 3339 timestamp in local time, to the second."""
    if iso is None:
        return "—"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_when(iso: str | None) -> str:
    """Only the time of day for today, so a table of tasks fits 80 columns."""
    if iso is None:
        return "—"
    moment = datetime.fromisoformat(iso).astimezone()
    if moment.date() == datetime.now().astimezone().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def task_detail(task: dict[str, Any]) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("id", task["id"])
    facts.add_row("action", task["action"])
    facts.add_row("status", status(task["status"]))
    if task.get("priority", "normal") != "normal":
        facts.add_row("priority", task["priority"])
    progress = task.get("progress")
    if progress is not None:
        done = f"{progress['fraction']:.0%}"
        facts.add_row("progress", f"{done} {progress['message'] or ''}".rstrip())
    facts.add_row("attempts", str(task["attempts"]))
    facts.add_row("created", when(task["created_at"]))
    if task.get("run_at") is not None:
        facts.add_row("due", when(task["run_at"]))
    if task.get("schedule") is not None:
        facts.add_row("schedule", task["schedule"])
    facts.add_row("started", when(task["started_at"]))
    facts.add_row("finished", when(task["processed_at"]))
    facts.add_row("data", JSON.from_data(task["data"]))
    if task["result"] is not None:
        facts.add_row("result", JSON.from_data(task["result"]))
    if task["error"] is not None:
        facts.add_row("error", Text(task["error"], style="red"))
    return facts


# what the id, status and tries columns of a task table take, with the gaps between columns
FIXED_COLUMNS_WIDTH = 36 + 9 + 5 + 14


def task_table(tasks: list[dict[str, Any]], width: int, title: str | None = None) -> Table:
    """Tasks as rows; the id and status stay whole, a long action name is cut to fit `width`."""
    created = [short_when(task["created_at"]) for task in tasks]
    # a task of another day shows its date too: the action gives up the room, never the id
    created_width = max((len(c) for c in created), default=0)
    room = max(width - FIXED_COLUMNS_WIDTH - max(created_width, len("created")), 6)
    table = Table(
        title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("action", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for task, when_created in zip(tasks, created, strict=True):
        action = task["action"]
        table.add_row(
            task["id"],
            action if len(action) <= room else action[: room - 1] + "…",
            status(task["status"]),
            str(task["attempts"]),
            when_created,
        )
    if not tasks:
        table.caption = "no tasks"
    return table


def task_rows(tasks: list[dict[str, Any]]) -> Rows:
    """The task table's columns, whole: the full action name and the API's timestamp."""
    header = ["id", "action", "status", "tries", "created"]
    return [
        header,
        *([t["id"], t["action"], t["status"], str(t["attempts"]), t["created_at"]] for t in tasks),
    ]


DETAIL_FIELDS = {
    "id": "id",
    "action": "action",
    "status": "status",
    "attempts": "attempts",
    "created": "created_at",
    "started": "started_at",
    "finished": "processed_at",
    "data": "data",
    "result": "result",
    "error": "error",
}


def detail_rows(task: dict[str, Any]) -> Rows:
    """One task as field and value lines; every field is there, null ones empty."""
    return [["field", "value"], *([name, plain(task[key])] for name, key in DETAIL_FIELDS.items())]


def stats_rows(stats: dict[str, Any]) -> Rows:
    """The numbers of `stats_view` in one table, e.g. `tasks  failed  3`, `queue  taskq.tasks  0`."""
    minutes = [p["count"] for p in stats["completed_per_minute"]]
    return [
        ["kind", "name", "value"],
        *(["tasks", name, str(n)] for name, n in stats["counts"].items()),
        ["tasks", "total", str(stats["total"])],
        *(["queue", name, str(depth)] for name, depth in (stats["queues"] or {}).items()),
        ["completed", "last_hour", str(sum(minutes))],
        ["completed", "this_minute", str(minutes[-1] if minutes else 0)],
    ]


def sparkline(counts: list[int]) -> str:
    """One character per count; any count above zero shows at least the lowest bar."""
    top = max(counts, default=0)
    levels = len(BARS) - 1
    return "".join(BARS[max(1, round(c / top * levels)) if c else 0] for c in counts)


def stats_view(stats: dict[str, Any]) -> RenderableType:
    counts = Table(title="tasks", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for name in stats["counts"]:
        counts.add_column(Text(name, style=STYLES.get(name, "")), justify="right")
    counts.add_column("total", justify="right")
    counts.add_row(*(str(n) for n in stats["counts"].values()), str(stats["total"]))

    queues = Table(
        title="queues (messages ready)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    queues.add_column("queue")
    queues.add_column("ready", justify="right")
    if stats["queues"] is None:
        queues.add_row("(the broker is unavailable)", "—")
    else:
        for name, depth in stats["queues"].items():
            queues.add_row(name, str(depth))

    minutes = [p["count"] for p in stats["completed_per_minute"]]
    chart = Text.assemble(
        ("completed per minute", "bold"),
        f" (last hour: {sum(minutes)}, this minute: {minutes[-1] if minutes else 0})\n",
        ("▕", "bright_black"),
        (sparkline(minutes), "green"),
        ("▏", "bright_black"),
    )
    return Group(counts, queues, chart)
