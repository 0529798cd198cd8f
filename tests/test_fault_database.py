"""A fault with real processes: the database unreachable for 30 s while calls come and go.

`tsunagu serve --workers 2` on a real PostgreSQL cluster and a real redis-server (as production runs
them), Twilio's REST API a local fake, every webhook signed as Twilio signs it. The database is made
unreachable the harsh way: every PostgreSQL process is stopped (SIGSTOP), so connections stay open
and nothing answers on them (a network partition, not a polite refusal), for 30 s, then continued.

While it is away, callers are routed from the directory in memory and reach the windows; calls that
end get their records written behind (queued in Redis); `/readyz` names the database. Once it is
back, every queued record reaches SQL, nobody holds a line past its window's capacity, and new
callers reach the windows. The test prints its figures (`-s`; docs/performance.md, "Faults").
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
import psutil
import pytest
from builders import make_records
from fake_twilio import FakeTwilio, fake_twilio
from processes import (
    LINE,
    Caller,
    RedisProcess,
    Service,
    all_day_window,
    call_sid,
    reaches_a_human,
    redis_server,
    serve,
    service_environment,
    store_directory,
    wait_for,
)

from loadtests.harness.pg_cluster import SCRATCH, PostgresUnavailable, ThrowawayPostgres

CAPACITY = 3
OUTAGE_SECONDS = 30.0
RECORDS_BOUND_SECONDS = 10.0  # records queued during the outage are in SQL this long after it at the latest (drainer backoff 5 s)
WINDOW = all_day_window(CAPACITY)


@dataclass
class Dial:
    database: ThrowawayPostgres
    redis: RedisProcess
    twilio: FakeTwilio
    service: Service

    @property
    def base(self) -> str:
        return self.service.base

    def records(self) -> int:
        async def count() -> int:
            connection = await asyncpg.connect(self.database.url, timeout=5)
            try:
                return int(await connection.fetchval("SELECT count(*) FROM call_record"))
            finally:
                await connection.close()

        return asyncio.run(count())

    def lines_held(self) -> int:
        return self.redis.lines_held(WINDOW.id)

    def database_processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(self.database.pid)
        return [postmaster, *postmaster.children(recursive=True)]

    def wait_for(self, what: str, condition: Callable[[], object], *, seconds: float = 10.0) -> object:
        """`processes.wait_for`, quoting the end of the service's log if it gives up."""
        return wait_for(what, condition, seconds=seconds, logs=(self.service.log,))


@pytest.fixture(scope="module")
def dial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dial]:
    root = tmp_path_factory.mktemp("database-fault")
    var = root / "var"
    database = ThrowawayPostgres(SCRATCH)
    try:
        url = database.start()
    except PostgresUnavailable as why:
        pytest.fail(f"this fault needs PostgreSQL (scripts/install --test installs it): {why}")
    try:
        store_directory(var, make_records(WINDOW), url)
        with fake_twilio() as twilio, redis_server(root / "redis") as rds:
            env = service_environment(
                var, rds.url, twilio.url, TSUNAGU_DATABASE_URL=url, TSUNAGU_SLOT_LEASE_SECONDS="6", TSUNAGU_RECONCILE_SECONDS="1"
            )
            with serve(var, env, "--workers", "2") as service:
                yield Dial(database, rds, twilio, service)
    finally:
        database.stop()


def signal_all(processes: list[psutil.Process], sent: signal.Signals) -> None:
    """Signal each process; one that has ended meanwhile (a backend whose client had gone) needs none."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sent)


def test_the_database_unreachable_for_30_seconds(dial: Dial) -> None:
    base, twilio = dial.base, dial.twilio
    talking = [Caller(base, call_sid(n)) for n in (1, 2)]
    assert all(reaches_a_human(call.reach_dial(), LINE) for call in talking)
    for call in talking:
        twilio.statuses[call.sid] = "in-progress"
    before = dial.records()

    frozen = dial.database_processes()
    signal_all(frozen, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        down = dial.service.ready()
        ended = []
        for call in talking:  # both windows hang up while the database is away: their records wait in Redis
            twilio.statuses[call.sid] = "completed"
            ended.append(call.end())
        newcomers = [Caller(base, call_sid(n)) for n in (3, 4, 5)]  # the lines the two freed, then the third
        during = [call.reach_dial() for call in newcomers]
        for call in newcomers:
            twilio.statuses[call.sid] = "in-progress"
        held_during = dial.lines_held()
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        still_down = dial.service.ready()
    finally:
        signal_all(frozen, signal.SIGCONT)
    back_at = time.monotonic()

    dial.wait_for("/readyz to say ready again", lambda: dial.service.ready().status_code == 200, seconds=30)
    ready_after = time.monotonic() - back_at
    dial.wait_for("the records of the calls that ended during the outage", lambda: dial.records() == before + 2, seconds=30)
    records_after = time.monotonic() - back_at
    for call in newcomers:
        twilio.statuses[call.sid] = "completed"
        assert call.end() == 204
    dial.wait_for("every call's record", lambda: dial.records() == before + 5)
    dial.wait_for("every line free", lambda: dial.lines_held() == 0)
    after = Caller(base, call_sid(6)).reach_dial()

    affected = sum(1 for answer in during if not reaches_a_human(answer, LINE))
    print(
        f"\nFAULT database-unreachable: {OUTAGE_SECONDS:.0f} s (every PostgreSQL process stopped); callers affected {affected} of "
        f"{len(during)} (all routed from memory to the window), records 2/2 queued during it and written "
        f"{records_after:.1f} s after it, /readyz ready again {ready_after:.1f} s after it, window {held_during}/{CAPACITY} lines "
        f"during it"
    )
    assert down.status_code == 503 and "database" in down.json()["down"] and "redis" not in down.json()["down"], down.json()
    assert still_down.status_code == 503
    assert ended == [204, 204]
    assert affected == 0, [answer.text for answer in during]
    assert held_during <= CAPACITY
    assert records_after <= RECORDS_BOUND_SECONDS
    assert reaches_a_human(after, LINE), after.text
