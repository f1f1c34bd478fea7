"""The dashboard in headless Chromium against real API and consumer processes."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from shared.config import Settings
from tests.browser.conftest import Console
from tests.support.processes import Stack
from tests.support.waiting import wait_task_status

pytestmark = pytest.mark.browser

SLOW = 30_000  # ms: generous, only so a stuck page fails instead of hanging


def start(stack: Stack, settings: Settings) -> httpx.Client:
    stack.migrate()
    stack.api(settings)
    stack.consumer(settings)
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    return httpx.Client(base_url=stack.api_url(), headers=headers, timeout=10)


def submit(client: httpx.Client, action: str, data: dict | None = None) -> str:
    response = client.post("/tasks", json={"action": action, "data": data or {}})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def row(page: Page, task_id: str):
    return page.locator(f'#tasks tbody tr[data-task-id="{task_id}"]')


def test_tasks_show_with_results_and_filter_by_status_and_action(
    stack: Stack, settings: Settings, settings_with, page: Page, console: Console
) -> None:
    one_try = settings_with(settings, max_attempts=1)
    with start(stack, one_try) as api:
        done = submit(api, "uppercase", {"text": "hello browser"})
        failed = submit(api, "fail", {"message": "broken on purpose"})
        wait_task_status(api, done, {"completed"}, timeout=60)
        wait_task_status(api, failed, {"failed"}, timeout=60)

        page.goto(stack.api_url())
        expect(row(page, done)).to_have_attribute("data-status", "completed", timeout=SLOW)
        expect(row(page, failed)).to_have_attribute("data-status", "failed")
        expect(page.locator('[data-count="completed"]')).to_have_text("1")
        expect(page.locator('[data-count="failed"]')).to_have_text("1")
        expect(page.locator('[data-count="total"]')).to_have_text("2")
        expect(page.locator("#chart svg rect.bar")).to_have_count(60)
        expect(page.locator('[data-queue="work"]')).to_have_text("0")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")

        row(page, done).click()
        expect(page.locator("#detail-id")).to_have_text(done)
        expect(page.locator("#detail-result")).to_contain_text('"output": "HELLO BROWSER"')
        expect(page.locator("#detail-data")).to_contain_text('"text": "hello browser"')
        expect(page.locator("#retry-button")).to_be_hidden()

        page.select_option("#status-filter", "failed")
        expect(row(page, done)).to_have_count(0, timeout=SLOW)
        expect(row(page, failed)).to_have_count(1)
        page.select_option("#status-filter", "completed")
        expect(row(page, failed)).to_have_count(0, timeout=SLOW)
        expect(row(page, done)).to_have_count(1)

        page.select_option("#status-filter", "")
        page.fill("#action-filter", "fail")
        expect(row(page, done)).to_have_count(0, timeout=SLOW)
        expect(row(page, failed)).to_have_count(1)
        page.fill("#action-filter", "no-such-action")
        expect(page.locator("#tasks-empty")).to_be_visible(timeout=SLOW)

        # a task submitted now shows up by itself: the page polls
        page.fill("#action-filter", "")
        later = submit(api, "sum", {"numbers": [2, 3]})
        expect(row(page, later)).to_have_attribute("data-status", "completed", timeout=SLOW)
    assert console.errors == []


def test_retry_button_puts_a_failed_task_back(
    stack: Stack, settings: Settings, settings_with, page: Page, console: Console
) -> None:
    one_try = settings_with(settings, max_attempts=1)
    with start(stack, one_try) as api:
        failed = submit(api, "fail", {"message": "try me again"})
        assert wait_task_status(api, failed, {"failed"}, timeout=60)["attempts"] == 1
        # with no consumer the replayed task waits in the queue, where the page can see it
        stack.started[-1].terminate()

        page.goto(stack.api_url())
        row(page, failed).click()
        expect(page.locator("#detail-error")).to_have_text("try me again", timeout=SLOW)
        retry = page.locator("#retry-button")
        expect(retry).to_be_visible()
        retry.click()

        expect(page.locator("#detail")).to_have_attribute("data-status", "queued", timeout=SLOW)
        expect(page.locator("#detail-attempts")).to_have_text("0")
        expect(retry).to_be_hidden()
        expect(row(page, failed)).to_have_attribute("data-status", "queued")
        task = api.get(f"/tasks/{failed}").json()
        assert (task["status"], task["attempts"], task["error"]) == ("queued", 0, None)

        stack.consumer(one_try)
        expect(page.locator("#detail")).to_have_attribute("data-status", "failed", timeout=SLOW)
        expect(page.locator("#detail-attempts")).to_have_text("1")
    assert console.errors == []


def test_with_a_token_the_page_asks_for_it_once(
    stack: Stack, settings: Settings, settings_with, page: Page, console: Console
) -> None:
    secured = settings_with(settings, api_token="let-me-in")
    with start(stack, secured) as api:
        done = submit(api, "uppercase", {"text": "secret"})
        wait_task_status(api, done, {"completed"}, timeout=60)

        page.goto(stack.api_url())
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible(timeout=SLOW)
        page.fill("#token-input", "wrong")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#token-error")).to_be_visible(timeout=SLOW)

        page.fill("#token-input", "let-me-in")
        page.click("#token-form button[type=submit]")
        expect(dialog).to_be_hidden()
        expect(row(page, done)).to_have_attribute("data-status", "completed", timeout=SLOW)
        assert page.evaluate("sessionStorage.getItem('taskq.token')") == "let-me-in"

        page.reload()  # the token is kept for the tab: no second prompt
        expect(row(page, done)).to_be_visible(timeout=SLOW)
        expect(dialog).to_be_hidden()
    # the browser logs each refused request (the first load and the wrong token); nothing else
    assert console.errors, "expected the 401s to be logged"
    assert all("401" in error for error in console.errors), console.errors


def test_scheduled_count_and_the_schedules_panel(
    stack: Stack, settings: Settings, page: Page, console: Console
) -> None:
    with start(stack, settings) as api:
        later = api.post("/tasks", json={"action": "sum", "delay_s": 600})
        assert later.status_code == 202, later.text
        nightly = {"name": "nightly", "action": "sum", "cron": "0 3 * * *", "timezone": "UTC"}
        assert api.post("/schedules", json=nightly).status_code == 201
        assert (
            api.post("/schedules", json={"name": "tick", "action": "sum", "every_s": 1}).status_code
            == 201
        )
        assert api.patch("/schedules/nightly", json={"enabled": False}).status_code == 200

        page.goto(stack.api_url())
        expect(page.locator('[data-count="scheduled"]')).to_have_text("1", timeout=SLOW)
        tick = page.locator('#schedules tbody tr[data-schedule="tick"]')
        expect(tick).to_contain_text("every 1s", timeout=SLOW)
        expect(tick.locator("a")).to_have_count(1, timeout=SLOW)  # its last task, once it fired
        paused = page.locator('#schedules tbody tr[data-schedule="nightly"]')
        expect(paused.locator(".badge")).to_have_text("paused")
        expect(page.locator("#schedules-summary")).to_have_text("2 schedules, 1 paused")

        tick.locator("a").click()
        expect(page.locator("#detail-action")).to_have_text("sum", timeout=SLOW)
