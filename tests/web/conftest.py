"""A real headless Chromium (Debian's, never a downloaded one) for the settings page tests.

Every page a test opens records console errors and uncaught exceptions; a test that leaves any
behind fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from registries.conftest import fake_registry  # noqa: F401 - the fake registry, for the page
from support import CHROMIUM_FLAGS, ServerProcess, chromium_path

# Two cores shared with live checks and other servers: give the page room, never a race.
expect.set_options(timeout=20_000)

_PAGE_URL = re.compile(r"the settings page: (http://\S+\?code=\S+)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running on this thread while it
    is open, which would break the asyncio.run of tests that come after."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class PageOpener:
    """open_page(context=None): a new page (in a new context unless one is given).

    `allow(status)` names an HTTP error status the test provokes on purpose: the browser logs
    every failed fetch as a console error, and only those are let through.
    """

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.errors: list[str] = []
        self.allowed: list[str] = []
        self.contexts: list[BrowserContext] = []

    def __call__(self, context: BrowserContext | None = None, width: int = 1200) -> Page:
        if context is None:
            context = self.browser.new_context(viewport={"width": width, "height": 900})
            self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def allow(self, status: int) -> None:
        self.allowed.append(f"the server responded with a status of {status} ")

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(allowed in e for allowed in self.allowed)]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[PageOpener]:
    opener = PageOpener(browser)
    yield opener
    for context in opener.contexts:
        context.close()
    assert opener.unexpected_errors() == []


def printed_page_url(server: ServerProcess) -> str:
    found = _PAGE_URL.search(server.log())
    assert found, server.log()
    return found.group(1)


def screenshot(page: Page, name: str) -> None:
    """Refresh docs/images/NAME.png when UPDATE_SCREENSHOTS=1 (they are shown in the docs)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folder = Path(__file__).resolve().parents[2] / "docs" / "images"
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
