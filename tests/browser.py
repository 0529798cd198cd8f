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


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator:  # yields a playwright BrowserContext
    """Launch headless Chromium with a fresh profile in `profile`, Japanese locale and time zone."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
            viewport={"width": 1100, "height": 800},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            await context.close()


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
