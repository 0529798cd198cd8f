"""Fault: Redis killed (SIGKILL) mid-call and started again, under a real `tsunagu serve`. Real processes throughout.

Redis runs as deploy/README.md says production runs it (append-only file, fsync every second, no
eviction). While it is down every caller still gets TwiML that dials a human, `/readyz` names
Redis, and a status callback is kept until Redis is back; after the restart no window holds more
calls than its lines, new calls reach the windows again, and the record of every call that ended
during the outage is written.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from builders import make_phone, make_records, make_schedule, make_service
from fake_twilio import fake_twilio
from processes import FALLBACK, Caller, reaches_a_human, redis_server, serve, service_environment, store_directory, wait_for

from referral_directory.records import WEEKDAYS
from routing.live.keys import slot_key

LINE = "+81312345678"
CAPACITY = 2
WINDOW = make_service(
    name="全国 24時間窓口",
    capacity=(("voice", CAPACITY),),
    phones=(make_phone(number=LINE),),
    schedules=(make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00"),),
)


def sid(n: int) -> str:
    return f"CA{n:032x}"


def records(var: Path) -> int:
    with sqlite3.connect(var / "tsunagu.db") as database:
        return database.execute("SELECT count(*) FROM call_record").fetchone()[0]


def test_redis_killed_mid_call_and_restarted(tmp_path: Path) -> None:
    var = tmp_path / "var"
    store_directory(var, make_records(WINDOW))
    with fake_twilio() as twilio, redis_server(tmp_path / "redis") as rds:
        env = service_environment(var, rds.url, twilio.url, TSUNAGU_SLOT_LEASE_SECONDS="60", TSUNAGU_RECONCILE_SECONDS="1")
        with serve(var, env) as service:
            base = service.base
            talking = [Caller(base, sid(n)) for n in (1, 2)]
            assert all(reaches_a_human(call.reach_dial(), LINE) for call in talking)
            for call in talking:
                twilio.statuses[call.sid] = "in-progress"
            choosing = Caller(base, sid(3))  # in the menu when Redis goes
            choosing.post("/twilio/voice/incoming", CallStatus="ringing")
            choosing.post("/twilio/voice/topic", Digits="9")

            rds.kill()
            down = service.ready()
            during = [choosing.post("/twilio/voice/postal", Digits="1000001"), Caller(base, sid(4)).post("/twilio/voice/incoming")]
            ended_during = talking[1].end()  # a window hangs up while Redis is down: its line and record must not be lost
            twilio.statuses[talking[1].sid] = "completed"

            rds.start()  # the same port and append-only file
            started = time.monotonic()
            wait_for("/readyz to say ready again", lambda: service.ready().status_code == 200)
            ready_after = time.monotonic() - started
            wait_for("the record of the call that ended during the outage", lambda: records(var) == 1)
            after = Caller(base, sid(5)).reach_dial()  # the freed line takes a new caller
            with rds.client() as client:
                now_ms = int(client.time()[0]) * 1000
                held = client.zcount(slot_key(WINDOW.id), now_ms, "+inf")
            for n in (1, 3, 4):  # the window's caller, and the two put through to the fallback number, hang up
                Caller(base, sid(n)).end()
            wait_for("every call's record", lambda: records(var) == 4)

    affected = sum(1 for answer in during if reaches_a_human(answer, FALLBACK))
    print(
        f"\nFAULT redis-killed: callers affected {affected} (all put through to the fallback number), "
        f"records recovered {records(var)}/4, ready again {ready_after:.2f} s after restart, window {held}/{CAPACITY} lines"
    )
    assert down.status_code == 503 and down.json()["down"] == ["redis"] and down.json()["checks"]["redis"].startswith("unreachable")
    assert affected == len(during), [answer.text for answer in during]
    assert ended_during == 204
    assert reaches_a_human(after, LINE), after.text
    assert held <= CAPACITY
