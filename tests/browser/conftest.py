"""Browser fixtures: a Chromium per test, and a page that records every console error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.browser.chromium import chromium, missing_reason


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Without Chromium the browser tests fail with one line saying what to install, never skip."""
    reason = missing_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    with chromium() as launched:
        yield launched


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (so a fresh sessionStorage) and page per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.on("console", console.record)
    opened.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    try:
        yield opened
    finally:
        context.close()
