"""The dashboard's control of tasks in headless Chromium: a running task's progress bar, and
its Cancel button."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from shared.config import Settings
from tests.browser.conftest import Console
from tests.browser.test_dashboard import SLOW, row, start, submit
from tests.support.processes import Stack
from tests.support.waiting import wait_task_status

pytestmark = pytest.mark.browser


def test_progress_bar_and_cancel_button(
    stack: Stack, settings: Settings, page: Page, console: Console
) -> None:
    with start(stack, settings) as api:
        # slow enough to watch: 600 steps of 0.1 s
        counting = submit(api, "count", {"to": 600})
        wait_task_status(api, counting, {"running"}, timeout=60)

        page.goto(stack.api_url())
        row(page, counting).click()
        expect(page.locator("#detail-progress")).to_be_visible(timeout=SLOW)
        expect(page.locator("#detail-progress-text")).to_contain_text("counted", timeout=SLOW)
        cancel = page.locator("#cancel-button")
        expect(cancel).to_be_visible()
        cancel.click()
        expect(page.locator("#detail-notice")).to_contain_text("told to stop", timeout=SLOW)
        expect(page.locator("#detail")).to_have_attribute("data-status", "cancelled", timeout=SLOW)
        expect(cancel).to_be_hidden()
        expect(page.locator('[data-count="cancelled"]')).to_have_text("1", timeout=SLOW)
        page.select_option("#status-filter", "cancelled")
        expect(row(page, counting)).to_have_count(1, timeout=SLOW)
    assert console.errors == []
