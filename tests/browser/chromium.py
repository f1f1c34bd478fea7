"""Debian's headless Chromium driven by Playwright (never `playwright install`: it cannot download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; else `chromium` or `chromium-browser` on PATH
NAMES = ("chromium", "chromium-browser")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def executable() -> Path | None:
    """The Chromium to drive, or None when there is none here."""
    if CHROMIUM.is_file():
        return CHROMIUM
    for name in NAMES:
        if (found := shutil.which(name)) is not None:
            return Path(found)
    return None


def missing_reason() -> str | None:
    if executable() is not None:
        return None
    return (
        f"no Chromium for the browser tests (looked for {CHROMIUM}, then {' and '.join(NAMES)} "
        "on PATH): `apt-get install -y chromium`"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    path = executable()
    if path is None:
        raise FileNotFoundError(missing_reason())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
