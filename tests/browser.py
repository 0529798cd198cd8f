"""A real browser for page tests: Debian's Chromium driven by Playwright, against the app on a real uvicorn.

The browser comes from the project's own install (`scripts/install --test` installs Debian's
`chromium` and `fonts-ipafont-gothic`); Playwright's own browser download is never used.
When Chromium is missing the test fails, saying how to install it: a page test that quietly
skips would let a broken page through.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path(os.environ.get("TSUNAGU_TEST_CHROMIUM", "/usr/bin/chromium"))
JAPANESE_FONT = Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Return Debian's Chromium, or fail the test saying how to install it (with a font that renders Japanese)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `scripts/install --test` (it installs Debian's chromium "
            "and fonts-ipafont-gothic). Browser tests never download a browser of their own."
        )
    if not JAPANESE_FONT.exists():
        pytest.fail(f"no Japanese font at {JAPANESE_FONT}: run `scripts/install --test` (it installs fonts-ipafont-gothic)")
    return str(CHROMIUM)


_playwright: Any = None
_browser: Any = None  # one Chromium for the whole run: a launch costs seconds, a fresh context a fraction of one


async def shared_chromium() -> Any:  # a playwright Browser
    """Launch headless Chromium the first time a test asks for it; conftest.py closes it at the end of the run."""
    global _playwright, _browser
    if _browser is None or not _browser.is_connected():
        from playwright.async_api import async_playwright

        executable = chromium_path()
        if _playwright is None:
            _playwright = await async_playwright().start()
        _browser = await _playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    return _browser


async def close_chromium() -> None:
    """Close the shared Chromium and its driver, if a test started them."""
    global _playwright, _browser
    if _browser is not None:
        await _browser.close()
    if _playwright is not None:
        await _playwright.stop()
    _playwright = _browser = None


class Contexts:
    """The shared Chromium as one test sees it: it opens contexts (each its own cookies and storage, nothing on disk),
    and `close` closes those, not the browser."""

    def __init__(self, browser: Any) -> None:
        self._browser, self._opened = browser, []

    async def new_context(self, **options: Any) -> Any:
        context = await self._browser.new_context(**options)
        self._opened.append(context)
        return context

    async def close(self) -> None:
        for context in self._opened:
            await context.close()
        self._opened.clear()


@asynccontextmanager
async def browser_contexts() -> AsyncIterator[Contexts]:
    """Yield the shared Chromium for a test that opens its own contexts; every one of them is closed afterwards."""
    contexts = Contexts(await shared_chromium())
    try:
        yield contexts
    finally:
        await contexts.close()


@asynccontextmanager
async def chromium() -> AsyncIterator:  # yields a playwright BrowserContext
    """A fresh browser context (no cookies, no storage) in the shared Chromium: Japanese locale and time zone."""
    async with browser_contexts() as contexts:
        context = await contexts.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1100, "height": 800})
        context.set_default_timeout(10_000)
        yield context


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve an app with a real uvicorn on a free loopback port, in a thread; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start serving the app")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()
