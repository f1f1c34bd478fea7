"""Make docs/dashboard.png: run a real stack with a few minutes of mixed traffic, then take a
screenshot of the dashboard with a failed task open.

    TASKQ_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ .venv/bin/python -m tests.browser.screenshot

Every number in the picture is real: nothing is written to the database behind the API's back.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx

from tests.browser.chromium import chromium, missing_reason
from tests.support.broker import test_broker
from tests.support.processes import ROOT, Stack, isolated_settings
from tests.support.waiting import wait_task_status

WORDS = ["invoice", "report", "hello world", "thumbnail", "welcome email", "nightly export"]


def submit(api: httpx.Client, action: str, data: dict) -> str:
    response = api.post("/tasks", json={"action": action, "data": data})
    response.raise_for_status()
    return str(response.json()["id"])


def traffic(api: httpx.Client, minutes: float, rng: random.Random) -> None:
    """Bursts every few seconds whose size drifts, so the chart has a shape."""
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        elapsed = 1 - (deadline - time.monotonic()) / (minutes * 60)
        for _ in range(rng.randint(2, 6) + round(10 * elapsed)):
            if rng.random() < 0.5:
                submit(api, "uppercase", {"text": rng.choice(WORDS)})
            else:
                submit(api, "sum", {"numbers": [rng.randint(1, 99) for _ in range(4)]})
        if rng.random() < 0.3:
            submit(api, "fail", {"times": 1})  # fails once, succeeds on its retry
        if rng.random() < 0.12:
            submit(api, "fail", {"message": rng.choice(["upstream timed out", "bad input"])})
        time.sleep(rng.uniform(2, 5))


def schedules(api: httpx.Client) -> None:
    """Two schedules (one paused) and a few tasks due later, for the schedules panel."""
    for body in [
        {"name": "heartbeat", "action": "uppercase", "data": {"text": "ping"}, "every_s": 20},
        {
            "name": "nightly-report",
            "action": "sum",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
        },
        {"name": "weekly-export", "action": "sleep", "cron": "30 4 * * 1", "enabled": False},
    ]:
        api.post("/schedules", json=body).raise_for_status()
    for minutes in (10, 45, 90):
        api.post("/tasks", json={"action": "sum", "delay_s": minutes * 60}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    if (reason := missing_reason()) is not None:
        raise SystemExit(reason)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, test_broker() as broker:
        if broker is None:
            raise SystemExit("no broker: set TASKQ_TEST_AMQP_URL")
        settings = isolated_settings(
            broker.amqp_url,
            Path(tmp),
            queue_prefix="demo",
            work_delay_ms=40,
            retry_delays_s=(1.0, 5.0),
            shutdown_grace_s=2,
        )
        (Path(tmp) / "logs").mkdir()
        stack = Stack(settings, Path(tmp) / "logs")
        try:
            stack.migrate()
            stack.api()
            stack.consumer()
            with httpx.Client(base_url=stack.api_url(), timeout=10) as api:
                schedules(api)
                traffic(api, args.minutes, rng)
                failed = submit(api, "fail", {"message": "upstream timed out after 30s"})
                wait_task_status(api, failed, {"failed"}, timeout=120, every=0.2)
                # a little in flight: six long tasks run while short ones go on completing
                for _ in range(6):
                    submit(api, "sleep", {"seconds": 60})
                traffic(api, 0.1, rng)
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(stack.api_url())
                page.wait_for_selector("#tasks tbody tr")
                page.click(f'tr[data-task-id="{failed}"]')
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_timeout(2500)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
        finally:
            stack.stop_all()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
