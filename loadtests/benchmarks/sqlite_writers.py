"""SQLite writers in two worker processes: tsunagu's connections against plain aiosqlite.

    .venv/bin/python -m loadtests.benchmarks.sqlite_writers [--rate 40] [--seconds 15] [--check]

Two processes, as two uvicorn workers, write to one SQLite file in WAL mode. Each opens
transactions at random (Poisson) times at --rate per second: a read, then four writes shaped like
a case opening with its audit event (insert, lock the chain head, insert, move the head), then the
commit. Each event loop is kept about half busy meanwhile, in 1 ms slices, as by other requests.
The same run is made through plain aiosqlite (`create_async_engine`), through tsunagu's engine
without its write turn, and through tsunagu's engine (`db.create_engine`: see
referral_directory/storage/sqlite_connection.py); the figures are the transactions' latencies, start to
commit, over both processes. The middle line shows what the write turn is worth: little at the
default rate, more in a busier hour (--rate 150, 2026-11-27: p99 33 ms and max 113 ms without it,
19.5 ms and 37 ms with it).

Target: tsunagu's p99 at most a third of plain aiosqlite's, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from referral_directory.storage import db

BUSY_SHARE = 0.5  # of each event loop, burnt in 1 ms slices
TARGET_RATIO = 3.0
SCHEMA = """
CREATE TABLE cases (id INTEGER PRIMARY KEY, body TEXT);
CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT);
CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER);
INSERT INTO head VALUES (1, 0);
"""


def make_engine(kind: str, path: Path) -> AsyncEngine:
    if kind.startswith("tsunagu"):
        return db.create_engine(f"sqlite+aiosqlite:///{path}", write_turn=kind == "tsunagu")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _as_tsunagu_sets_it(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")  # the file is in WAL mode already
        cursor.close()

    return engine


async def one_transaction(engine: AsyncEngine, latencies: list[float]) -> None:
    started = time.perf_counter()
    async with engine.connect() as connection:
        await connection.execute(text("SELECT seq FROM head WHERE id = 1"))
        await connection.execute(text("INSERT INTO cases (body) VALUES (:body)"), {"body": "c" * 200})
        await connection.execute(text("UPDATE head SET seq = seq WHERE id = 1 RETURNING seq"))
        await connection.execute(text("INSERT INTO events (body) VALUES (:body)"), {"body": "e" * 200})
        await connection.execute(text("UPDATE head SET seq = seq + 1 WHERE id = 1"))
        await connection.commit()
    latencies.append(time.perf_counter() - started)


async def keep_busy() -> None:
    while True:
        until = time.perf_counter() + 0.001
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0.001 * (1 - BUSY_SHARE) / BUSY_SHARE)


async def worker(kind: str, path: Path, rate: float, seconds: float) -> list[float]:
    sys.setswitchinterval(0.001)  # as the service sets it (routing/app.py)
    engine = make_engine(kind, path)
    busy = asyncio.create_task(keep_busy())
    latencies: list[float] = []
    pending = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pending.append(asyncio.create_task(one_transaction(engine, latencies)))
        await asyncio.sleep(random.expovariate(rate))
    await asyncio.gather(*pending)
    busy.cancel()
    await engine.dispose()
    return latencies


def run_worker(kind: str, path: Path, rate: float, seconds: float, results: multiprocessing.Queue) -> None:
    results.put(asyncio.run(worker(kind, path, rate, seconds)))


def measure(kind: str, rate: float, seconds: float) -> list[float]:
    """Return every transaction's latency, in ms, sorted, from two processes writing to a fresh file."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "writers.db"
        with sqlite3.connect(path) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.executescript(SCHEMA)
        results: multiprocessing.Queue = multiprocessing.Queue()
        processes = [multiprocessing.Process(target=run_worker, args=(kind, path, rate, seconds, results)) for _ in range(2)]
        for process in processes:
            process.start()
        latencies = sorted(1000 * x for _ in processes for x in results.get())
        for process in processes:
            process.join()
    return latencies


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="transactions per second per process (default 40)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each run (default 15)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    figures = {}
    for kind in ("plain aiosqlite", "tsunagu, no turn", "tsunagu"):
        latencies = measure(kind, args.rate, args.seconds)
        figures[kind] = percentile(latencies, 0.99)
        print(
            f"{kind:<18} {len(latencies):>6} transactions  p50 {percentile(latencies, 0.5):7.1f} ms  "
            f"p95 {percentile(latencies, 0.95):7.1f} ms  p99 {figures[kind]:7.1f} ms  max {latencies[-1]:7.1f} ms",
            flush=True,
        )
    ratio = figures["plain aiosqlite"] / max(figures["tsunagu"], 0.001)
    passed = ratio >= TARGET_RATIO
    print("\nSummary")
    print(f"  {'PASS' if passed else 'FAIL'}  SQLite writers in 2 processes: p99 plain aiosqlite / tsunagu ≥ {TARGET_RATIO:.0f}×")
    print(f"        {ratio:.1f}× ({figures['plain aiosqlite']:.1f} ms / {figures['tsunagu']:.1f} ms at {args.rate:g}/s per process)")
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
