"""Call records written behind: the status callback queues them, a drainer writes them to SQL.

The status callback never waits for the database. It appends the finished, anonymised record (a
keyed reference, a keyed pseudonym, topic, lgcode, times, attempts, outcome: never a number) to a
Redis stream in the same round trip that clears the call's live state, and answers. When Redis
fails at that moment, the record goes straight to the database; when that fails too, to an
append-only spool file in the var dir (fsync'd). The drainer (a loop of routing/jobs.py, one
process at a time) writes the spool, then the stream, to SQL in batches, each batch one
transaction of `INSERT ... ON CONFLICT (call_ref) DO NOTHING`: a record queued twice (a callback
delivered twice, a batch retried after a crash) is stored once. An entry is acknowledged and
deleted only after its batch committed, so a drainer that dies mid-batch leaves its entries
pending, and the next round claims them (XAUTOCLAIM) once they have been idle `RETRY_MS`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from referral_directory.storage import db
from routing.live.keys import CALL_RECORDS_GROUP, CALL_RECORDS_REFUSED_STREAM, CALL_RECORDS_STREAM
from routing.metrics import Metrics
from routing.telephony.records import CallRecord

log = structlog.get_logger("tsunagu.records")

EVERY_SECONDS = 0.5  # the drainer's period: a record reaches SQL about this long after its call ended
BATCH = 500  # records per transaction
ROUND_SECONDS = 10.0  # a round drains batches for at most this long, then lets the next round go on
BACKOFF_SECONDS = 5.0  # the longest wait after failed rounds: records reach SQL at most this long after it is back
RETRY_MS = 5_000  # an entry read but not acknowledged this long ago (a failed batch, a dead drainer) is claimed again
SPOOL_NAME = "call-records.spool"
_DATES = ("started_at", "ended_at")


def record_json(record: CallRecord) -> str:
    """Return the record as the stream and the spool keep it (the columns of call_record, dates in ISO 8601)."""
    values = {column: getattr(record, column) for column in CallRecord.model_fields}
    for name in _DATES:
        values[name] = values[name].isoformat()
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def row_of(text: str | bytes) -> dict[str, Any]:
    """Return the call_record row a queued record stands for."""
    values = json.loads(text)
    for name in _DATES:
        values[name] = datetime.fromisoformat(values[name])
    return values


def stage_record(pipe: Pipeline, record: CallRecord) -> None:
    """Add to a pipeline: queue the record for the drainer."""
    pipe.xadd(CALL_RECORDS_STREAM, {"record": record_json(record)})


async def insert_rows(engine: AsyncEngine, rows: list[dict[str, Any]]) -> int:
    """Insert call records in one transaction, each call_ref once (those stored already are left as they are); returns how many were new."""
    if not rows:
        return 0
    table = db.table_of(CallRecord)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    unique = list({row["call_ref"]: row for row in rows}.values())  # one batch may hold the same record twice
    statement = dialect.insert(table).values(unique).on_conflict_do_nothing(index_elements=["call_ref"]).returning(table.c.call_ref)
    async with engine.begin() as connection:
        return len((await connection.execute(statement)).all())


async def keep_without_redis(engine: AsyncEngine, var_dir: Path, record: CallRecord, *, timeout: float) -> str:
    """Redis failed: store the record straight in the database within `timeout`, else in the spool; returns where it went."""
    try:
        async with asyncio.timeout(timeout):
            await insert_rows(engine, [row_of(record_json(record))])
        return "database"
    except Exception as error:
        log.error("call_record_spooled", error=type(error).__name__)
        await asyncio.to_thread(spool, var_dir, record)
        return "spool"


# -- the spool: the last resort when neither Redis nor the database took the record ----------------


def spool_path(var_dir: Path) -> Path:
    """Return the spool file of a var dir."""
    return var_dir / SPOOL_NAME


def spool(var_dir: Path, record: CallRecord) -> None:
    """Append the record to the spool, durably (blocking: run it in a thread)."""
    line = (record_json(record) + "\n").encode()
    fd = os.open(spool_path(var_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # lets the lock go


def read_spool(var_dir: Path) -> tuple[list[str], int]:
    """Return the spool's complete lines and the bytes they take (blocking)."""
    try:
        with spool_path(var_dir).open("rb") as file:
            fcntl.flock(file, fcntl.LOCK_SH)
            data = file.read()
    except FileNotFoundError:
        return [], 0
    complete = data[: data.rfind(b"\n") + 1]
    return [line for line in complete.decode().splitlines() if line], len(complete)


def cut_spool(var_dir: Path, size: int) -> None:
    """Remove the first `size` bytes of the spool (those stored), keeping what was appended since (blocking)."""
    fd = os.open(spool_path(var_dir), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        rest = os.pread(fd, os.fstat(fd).st_size, size)
        os.ftruncate(fd, 0)
        if rest:
            os.pwrite(fd, rest, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the drainer ------------------------------------------------------------------------------------


@dataclass
class Drained:
    """One round of the drainer: records stored (new to SQL), entries handled, batches that failed (to be retried)."""

    stored: int = 0
    handled: int = 0
    failed: int = 0


class RecordDrainer:
    """Writes queued call records to SQL; one round at a time per process (the round lock keeps it to one in the deployment)."""

    def __init__(self, redis: Redis, engine: AsyncEngine, var_dir: Path, metrics: Metrics, *, retry_ms: int = RETRY_MS) -> None:
        self.redis, self.engine, self.var_dir, self.metrics, self.retry_ms = redis, engine, var_dir, metrics, retry_ms
        self.consumer = f"{socket.gethostname()}:{os.getpid()}"
        self.failures = 0  # batches failed in a row: the next try waits longer (backoff)
        self.next_try = 0.0
        self.grouped = False  # the consumer group is known to exist (made again after a failed round: Redis may have lost it)

    async def drain_once(self) -> Drained:
        """Store the spool's records, then the stream's (claimed pending entries first), batch by batch; returns what it did."""
        done = Drained()
        if time.monotonic() < self.next_try:
            return done  # backing off after a failed batch
        try:
            await self._drain_spool(done)
            await self._ensure_group()
            deadline = time.monotonic() + ROUND_SECONDS
            while time.monotonic() < deadline:
                entries = await self._claim() or await self._read()
                if not entries:
                    break
                await self._store(entries, done)
        except Exception:
            self.grouped = False
            done.failed += 1
            self.failures += 1
            self.next_try = time.monotonic() + min(EVERY_SECONDS * 2**self.failures, BACKOFF_SECONDS)
            self.metrics.record_retries.inc()
            raise
        self.failures = 0
        return done

    async def _ensure_group(self) -> None:
        if self.grouped:
            return
        try:
            await self.redis.xgroup_create(CALL_RECORDS_STREAM, CALL_RECORDS_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self.grouped = True

    async def _claim(self) -> list[tuple[str, dict]]:
        """Entries read by a round that did not finish (its batch failed, or its process died), idle for `retry_ms`."""
        _next, entries, *_deleted = await self.redis.xautoclaim(
            CALL_RECORDS_STREAM, CALL_RECORDS_GROUP, self.consumer, min_idle_time=self.retry_ms, start_id="0-0", count=BATCH
        )
        return [(_text(entry_id), fields) for entry_id, fields in entries if fields]  # an entry deleted meanwhile comes back empty

    async def _read(self) -> list[tuple[str, dict]]:
        answer: Any = await self.redis.xreadgroup(CALL_RECORDS_GROUP, self.consumer, {CALL_RECORDS_STREAM: ">"}, count=BATCH)
        return [(_text(entry_id), fields) for _stream, entries in answer or [] for entry_id, fields in entries]

    async def _store(self, entries: list[tuple[str, dict]], done: Drained) -> None:
        rows: dict[str, dict[str, Any]] = {}
        refused: list[tuple[str, dict]] = []
        for entry_id, fields in entries:
            try:
                rows[entry_id] = row_of(_field(fields, "record"))
            except (KeyError, TypeError, ValueError):
                refused.append((entry_id, fields))
        try:
            done.stored += await insert_rows(self.engine, list(rows.values()))
        except (DataError, IntegrityError):  # a row the database refuses, whatever is tried: each alone, the refused set aside
            for entry_id, row in rows.items():
                try:
                    done.stored += await insert_rows(self.engine, [row])
                except (DataError, IntegrityError):
                    refused.append((entry_id, dict(row_json=json.dumps(row, default=str))))
        ids = [entry_id for entry_id, _fields in entries]
        pipe = self.redis.pipeline(transaction=True)  # acknowledged and gone together: the stream's length is the backlog
        for entry_id, fields in refused:  # kept for a person to look at (anonymised like every entry), never retried for ever
            pipe.xadd(CALL_RECORDS_REFUSED_STREAM, {"entry": entry_id, **fields})
        pipe.xack(CALL_RECORDS_STREAM, CALL_RECORDS_GROUP, *ids)
        pipe.xdel(CALL_RECORDS_STREAM, *ids)
        await pipe.execute()
        if refused:
            log.error("call_records_refused", records=len(refused), kept_in=CALL_RECORDS_REFUSED_STREAM)
        done.handled += len(ids)
        self.metrics.records_drained.inc(len(ids))

    async def _drain_spool(self, done: Drained) -> None:
        lines, size = await asyncio.to_thread(read_spool, self.var_dir)
        if not lines:
            return
        done.stored += await insert_rows(self.engine, [row_of(line) for line in lines])
        await asyncio.to_thread(cut_spool, self.var_dir, size)
        done.handled += len(lines)
        self.metrics.records_drained.inc(len(lines))
        log.warning("call_records_unspooled", records=len(lines))


@dataclass(frozen=True)
class Backlog:
    """Records waiting for SQL: queued in the stream (pending among them), the oldest one's age, and the spool's bytes."""

    queued: int
    pending: int
    oldest_seconds: float
    spooled_bytes: int


async def backlog(redis: Redis, var_dir: Path) -> Backlog:
    """Return what is waiting to be written to SQL."""
    pipe = redis.pipeline(transaction=False)
    pipe.xlen(CALL_RECORDS_STREAM)
    pipe.xrange(CALL_RECORDS_STREAM, count=1)
    queued, first = await pipe.execute()
    try:
        pending = (await redis.xpending(CALL_RECORDS_STREAM, CALL_RECORDS_GROUP))["pending"] if queued else 0
    except ResponseError:
        pending = 0  # no group yet: nothing was read
    oldest = time.time() - int(_text(first[0][0]).split("-")[0]) / 1000 if first else 0.0
    try:
        spooled = spool_path(var_dir).stat().st_size
    except FileNotFoundError:
        spooled = 0
    return Backlog(queued, pending, max(0.0, oldest), spooled)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: Mapping, name: str) -> str | bytes:
    return fields.get(name) or fields[name.encode()]
