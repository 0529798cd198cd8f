"""Faults with real processes: Redis killed mid-call and started again, then one of two workers killed mid-call.

One `tsunagu serve --workers 2` runs on a real redis-server for both (starting it is most of the
time): Redis as deploy/README.md says production runs it (append-only file, fsync every second, no
eviction), Twilio's REST API a local fake, every webhook signed as Twilio signs it. Each test
prints its figures (`-s` shows them; docs/performance.md, "Faults").

Redis killed: while it is down every caller still gets TwiML that dials a human, `/readyz` names
Redis, and a status callback is kept by its worker until Redis is back; after the restart no window
holds more calls than its lines, new calls reach the windows again, and every call has its record.

A worker killed: three requests are held in flight (their calls' turns are taken in Redis, so each
waits in a worker): two status callbacks of calls talking to a window, and a caller's step in the
menu. The worker holding the most of them is killed. What it held is lost as a real worker's would
be: Twilio answers the caller from the number's fallback URL (README: a TwiML Bin dialling the
fallback number), and a status callback it never answered is not sent again. The other worker
answers every new webhook; the reconciler ends the calls Twilio says are over within its bound
(half a lease, then one round), their lines freed and their records written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from builders import make_records
from fake_twilio import FakeTwilio, fake_twilio
from processes import (
    FALLBACK,
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
from voice_support import Twiml

from routing.live.keys import call_turn_key

CAPACITY = 2
LEASE_SECONDS = 6  # the reconciler asks Twilio about a call once half its lease is used: 3 s here, an hour by default
WINDOW = all_day_window(CAPACITY)


@dataclass
class Dial:
    var: Path
    redis: RedisProcess
    twilio: FakeTwilio
    service: Service

    @property
    def base(self) -> str:
        return self.service.base

    def records(self) -> int:
        with sqlite3.connect(self.var / "tsunagu.db") as database:
            return database.execute("SELECT count(*) FROM call_record").fetchone()[0]

    def wait_for(self, what: str, condition: Callable[[], object], *, seconds: float = 10.0) -> object:
        """`processes.wait_for`, quoting the ends of the service's and Redis's logs if it gives up."""
        return wait_for(what, condition, seconds=seconds, logs=(self.service.log, self.redis.folder / "redis.log"))

    def lines_held(self) -> int:
        return self.redis.lines_held(WINDOW.id)


@pytest.fixture(scope="module")
def dial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dial]:
    root = tmp_path_factory.mktemp("faults")
    var = root / "var"
    store_directory(var, make_records(WINDOW))
    with fake_twilio() as twilio, redis_server(root / "redis") as rds:
        env = service_environment(var, rds.url, twilio.url, TSUNAGU_SLOT_LEASE_SECONDS=str(LEASE_SECONDS), TSUNAGU_RECONCILE_SECONDS="1")
        with serve(var, env, "--workers", "2") as service:
            yield Dial(var, rds, twilio, service)


def test_redis_killed_mid_call_and_restarted(dial: Dial) -> None:
    base, twilio, rds, before = dial.base, dial.twilio, dial.redis, dial.records()
    talking = [Caller(base, call_sid(n)) for n in (1, 2)]
    assert all(reaches_a_human(call.reach_dial(), LINE) for call in talking)
    for call in talking:
        twilio.statuses[call.sid] = "in-progress"
    choosing = Caller(base, call_sid(3))  # in the menu when Redis goes
    choosing.post("/twilio/voice/incoming", CallStatus="ringing")
    choosing.post("/twilio/voice/topic", Digits="9")

    rds.kill()
    down = dial.service.ready()
    during = [choosing.post("/twilio/voice/postal", Digits="1000001"), Caller(base, call_sid(4)).post("/twilio/voice/incoming")]
    ended_during = talking[1].end()  # a window hangs up while Redis is down: its line and record must not be lost
    twilio.statuses[talking[1].sid] = "completed"

    rds.start()  # the same port and append-only file
    started = time.monotonic()
    dial.wait_for("/readyz to say ready again", lambda: dial.service.ready().status_code == 200)
    ready_after = time.monotonic() - started
    dial.wait_for("the record of the call that ended during the outage", lambda: dial.records() == before + 1)
    after = Caller(base, call_sid(5)).reach_dial()  # the freed line takes a new caller
    held = dial.lines_held()
    for n in (1, 3, 4, 5):  # the window's callers, and the two put through to the fallback number, hang up
        twilio.statuses[call_sid(n)] = "completed"
        Caller(base, call_sid(n)).end()
    dial.wait_for("every call's record", lambda: dial.records() == before + 5)

    affected = sum(1 for answer in during if reaches_a_human(answer, FALLBACK))
    print(
        f"\nFAULT redis-killed: callers affected {affected} (all put through to the fallback number), records "
        f"{dial.records() - before}/5 (1 ended during the outage, written after it; 1 of a call that never reached Redis), "
        f"/readyz ready again {ready_after:.2f} s after the restart, window {held}/{CAPACITY} lines"
    )
    assert down.status_code == 503 and down.json()["down"] == ["redis"] and down.json()["checks"]["redis"].startswith("unreachable")
    assert affected == len(during), [answer.text for answer in during]
    assert ended_during == 204
    assert reaches_a_human(after, LINE), after.text
    assert held <= CAPACITY


def workers(serve_pid: int, port: int) -> dict[int, int]:
    """Each uvicorn worker (a child listening on the port) → how many requests it holds open now."""
    found: dict[int, int] = {}
    for child in psutil.Process(serve_pid).children():
        try:
            connections = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            found[child.pid] = sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
    return found


def in_flight(send: list[tuple[Caller, str, dict[str, str]]]) -> tuple[list[threading.Thread], list[Twiml | Exception | None]]:
    answers: list[Twiml | Exception | None] = [None] * len(send)

    def post(i: int, caller: Caller, path: str, params: dict[str, str]) -> None:
        try:
            answers[i] = caller.post(path, **params)
        except httpx.HTTPError as error:
            answers[i] = error

    threads = [threading.Thread(target=post, args=(i, *request)) for i, request in enumerate(send)]
    for thread in threads:
        thread.start()
    return threads, answers


def test_one_of_two_workers_killed_mid_call(dial: Dial) -> None:
    base, twilio, service, before = dial.base, dial.twilio, dial.service, dial.records()
    port = int(base.rsplit(":", 1)[1])
    dial.wait_for("two workers", lambda: len(workers(service.process.pid, port)) == 2, seconds=60)
    dial.wait_for("every line free", lambda: dial.lines_held() == 0)
    talking = [Caller(base, call_sid(n)) for n in (11, 12)]
    assert all(reaches_a_human(call.reach_dial(), LINE) for call in talking)
    choosing = Caller(base, call_sid(13))
    choosing.post("/twilio/voice/incoming", CallStatus="ringing")
    choosing.post("/twilio/voice/topic", Digits="9")
    with dial.redis.client() as client:
        for call in (*talking, choosing):
            client.set(call_turn_key(call.sid), "held by the test", px=5000)  # each request waits in its worker (3 s at most)
    for call in talking:
        twilio.statuses[call.sid] = "completed"
    threads, answers = in_flight(
        [
            (talking[0], "/twilio/voice/status", {"CallStatus": "completed", "CallDuration": "42"}),
            (talking[1], "/twilio/voice/status", {"CallStatus": "completed", "CallDuration": "42"}),
            (choosing, "/twilio/voice/postal", {"Digits": "1000001"}),
        ]
    )
    held = dial.wait_for("three requests in flight", lambda: (w := workers(service.process.pid, port)) and sum(w.values()) >= 3 and w)
    assert isinstance(held, dict)
    victim = max(held, key=lambda pid: held[pid])
    psutil.Process(victim).kill()
    killed_at = time.monotonic()
    new_calls = [Caller(base, call_sid(n)).post("/twilio/voice/incoming", CallStatus="ringing") for n in range(20, 26)]
    for thread in threads:
        thread.join(timeout=20)
    freed = lambda: dial.lines_held() == 0 and dial.records() == before + 2  # noqa: E731
    dial.wait_for("the reconciler to end the calls whose status callbacks died", freed, seconds=LEASE_SECONDS + 5)
    freed_after = time.monotonic() - killed_at
    after = Caller(base, call_sid(30)).reach_dial()
    in_use = dial.lines_held()

    lost = [answer for answer in answers if isinstance(answer, Exception)]
    callers_lost = sum(isinstance(answer, Exception) for answer in answers[2:])
    print(
        f"\nFAULT worker-killed: the killed worker held {held[victim]} of 3 requests in flight; callers affected {callers_lost} "
        f"(answered by Twilio's fallback URL), new webhooks answered {sum(a.status == 200 for a in new_calls)}/{len(new_calls)}, "
        f"records 2/2 ({len(lost) - callers_lost} recovered by the reconciler after their status callback died), "
        f"lines freed {freed_after:.1f} s after the kill (bound: half a lease + a round)"
    )
    assert lost, "the killed worker held no request"
    assert all(isinstance(answer, Twiml) and answer.status in (200, 204) for answer in answers if answer not in lost)
    assert all(answer.status == 200 and answer.root is not None and answer.gathers() for answer in new_calls)
    assert reaches_a_human(after, LINE) and in_use <= CAPACITY
