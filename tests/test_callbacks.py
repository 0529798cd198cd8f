"""Callbacks: consent, a sealed number, a call placed through Twilio's REST API (a local fake) when a line frees."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path

from builders import make_records, make_schedule, make_service
from fake_twilio import fake_twilio
from running import make_settings, running_app
from sqlalchemy import select
from test_voice import DIRECTORY, FAMILY, NATIONAL_A, TUESDAY_10, slots_held
from voice_support import DIAL_NUMBER, PUBLIC_URL, Call, voice_settings

from routing.contacts.reconciler import reconcile_once
from routing.live.keys import callback_lease
from routing.privacy.confidentiality import unseal
from routing.telephony.callbacks import dispatch_once, twilio_client
from routing.telephony.records import CallbackRequest, CallRecord

ACCOUNT = "AC" + "1" * 32
CANARY = "+819055501234"
EVENING = make_schedule(id="evening-family", opens_at="18:00", closes_at="22:00")


@asynccontextmanager
async def family_lines_taken(tmp_path: Path, redis_url: str, regions):
    """A running service with a local fake of Twilio's REST API, and FAMILY's two lines taken by calls."""
    with fake_twilio() as twilio:
        settings = make_settings(
            tmp_path,
            redis_url,
            clock=TUESDAY_10,
            clock_speed=0,
            twilio_account_sid=ACCOUNT,
            twilio_api_url=twilio.url,
            callback_seconds=3600,
            **voice_settings(),
        )
        async with running_app(settings, regions) as running:
            await running.store(DIRECTORY)
            talking = [Call(running) for _ in range(2)]
            for call in talking:
                await call.reach_dial(topic="5")
            yield running, twilio, twilio_client(settings), talking, settings


async def requests(running) -> list[CallbackRequest]:
    async with running.runtime.sessions() as session:
        return list((await session.execute(select(CallbackRequest))).scalars().all())


async def test_a_waiting_caller_books_a_callback_and_is_called_back_when_a_line_frees(tmp_path: Path, redis_url: str, regions) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        waiting = Call(running, caller=CANARY)
        wait = await waiting.reach_dial(topic="5")
        assert wait.gathers()[0]["action"] == "/twilio/voice/callback" and "折り返し" in " ".join(wait.said())

        consent = await waiting.post("/twilio/voice/callback", Digits="1")
        assert "暗号化" in consent.said()[0]
        booked = await waiting.post("/twilio/voice/callback-consent", Digits="1")
        assert "こちらからお電話します" in booked.said()[0] and booked.verbs()[-1] == "Hangup"
        await waiting.end()

        (request,) = await requests(running)
        assert request.status == "pending" and CANARY not in request.number_sealed
        assert unseal(request.number_sealed, keys=running.runtime.keys) == CANARY
        assert await dispatch_once(running.runtime, client) == 0  # no free line yet
        assert twilio.calls == []

        await talking[0].dial_result("completed")  # a line frees
        assert await dispatch_once(running.runtime, client) == 1
        (placed,) = twilio.calls
        assert (placed["account_sid"], placed["To"], placed["From"]) == (ACCOUNT, CANARY, DIAL_NUMBER)
        assert placed["Url"] == f"{PUBLIC_URL}/twilio/voice/callback-bridge?request={request.id}&try=1"
        assert placed["StatusCallback"] == f"{PUBLIC_URL}/twilio/voice/callback-status?request={request.id}&try=1"
        assert await slots_held(running) == {FAMILY.id: 2}  # the callback holds the freed line

        person = Call(running, caller=DIAL_NUMBER)  # Twilio's outbound call to the person, now answered
        bridge = await person.post(placed["Url"].removeprefix(PUBLIC_URL))
        assert bridge.dialled() == [FAMILY.phones[0].number] and "折り返し" in bridge.said()[0]
        assert (
            bridge.root is not None
            and bridge.root.find("Dial").get("action") == f"/twilio/voice/callback-dialled?request={request.id}&try=1"
        )
        await person.post(f"/twilio/voice/callback-dialled?request={request.id}&try=1", DialCallStatus="completed")

        (request,) = await requests(running)
        assert (request.status, request.number_sealed, request.service_id) == ("connected", "", FAMILY.id)
        assert await slots_held(running) == {FAMILY.id: 1}
        await running.records_written()
        async with running.runtime.sessions() as session:
            outcomes = [r.outcome for r in (await session.execute(select(CallRecord))).scalars().all()]
        assert outcomes == ["callback_booked"]
    database = b"".join(p.read_bytes() for p in tmp_path.glob("tsunagu.db*"))
    assert CANARY.encode() not in database and CANARY[1:].encode() not in database


async def test_callers_on_the_line_come_before_callbacks_and_unanswered_callbacks_go_back_in_line(
    tmp_path: Path, redis_url: str, regions
) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        booker = Call(running, caller=CANARY)
        await booker.reach_dial(topic="5")
        await booker.post("/twilio/voice/callback", Digits="1")
        await booker.post("/twilio/voice/callback-consent", Digits="1")
        live = Call(running)
        await live.reach_dial(topic="5")  # a caller on the line, waiting
        await talking[0].dial_result("completed")
        assert await dispatch_once(running.runtime, client) == 0  # the live caller comes first
        served = await live.post("/twilio/voice/wait")
        assert served.dialled() == [FAMILY.phones[0].number]

        await talking[1].dial_result("completed")
        assert await dispatch_once(running.runtime, client) == 1
        (request,) = await requests(running)
        await Call(running).post(f"/twilio/voice/callback-status?request={request.id}", CallStatus="no-answer")
        (request,) = await requests(running)
        assert (request.status, request.tries) == ("pending", 1) and request.number_sealed
        assert await slots_held(running) == {FAMILY.id: 1}


async def book_callback(running) -> None:
    """A caller waiting for a family line asks to be called back, consents, and hangs up."""
    waiting = Call(running, caller=CANARY)
    await waiting.reach_dial(topic="5")
    await waiting.post("/twilio/voice/callback", Digits="1")
    await waiting.post("/twilio/voice/callback-consent", Digits="1")
    await waiting.end()


async def test_a_callback_whose_topic_windows_have_closed_is_placed_by_an_open_general_line(
    tmp_path: Path, redis_url: str, regions
) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        assert await dispatch_once(running.runtime, client) == 0  # the family lines are taken, and open
        evening_only = make_service(**{**{f: getattr(FAMILY, f) for f in FAMILY.__slots__}, "schedules": (EVENING,)})
        await running.store(make_records(evening_only))  # the coordinator changes its hours: it is closed now
        assert await dispatch_once(running.runtime, client) == 1
        (request,) = await requests(running)
        assert (request.topic, request.service_id) == ("family", NATIONAL_A.id), "its topic is kept; a general line calls back"
        assert twilio.calls[0]["To"] == CANARY


async def test_a_line_a_callback_has_just_claimed_is_not_freed_before_the_request_says_calling(
    tmp_path: Path, redis_url: str, regions
) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        (request,) = await requests(running)
        await talking[0].dial_result("completed")  # a line frees, and the dispatcher claims it (then marks the request calling)
        entry = running.runtime.snapshot.services[FAMILY.id]
        assert await running.runtime.switchboard.claim(entry, holder=callback_lease(request.id), channel="voice")
        assert request.status == "pending" and (await reconcile_once(running.runtime)).released == 0
        assert await slots_held(running) == {FAMILY.id: 2}, "the claimed line stays the callback's: nobody else is put on it"


async def test_a_callback_whose_number_is_gone_fails_once_and_calls_nobody(tmp_path: Path, redis_url: str, regions) -> None:
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        async with running.runtime.sessions() as session:  # as a purge, or a destroyed key, leaves it
            (request,) = (await session.execute(select(CallbackRequest))).scalars().all()
            request.number_sealed = ""
            await session.commit()
        await talking[0].dial_result("completed")  # a line frees
        assert await dispatch_once(running.runtime, client) == 0
        assert await dispatch_once(running.runtime, client) == 0
        (request,) = await requests(running)
        assert request.status == "failed" and twilio.calls == [] and await slots_held(running) == {FAMILY.id: 1}


async def test_a_callback_is_marked_calling_before_twilio_is_asked(tmp_path: Path, redis_url: str, regions) -> None:
    """Twilio may fetch /callback-bridge before calls.create() returns: by then the request must hold its line."""
    async with family_lines_taken(tmp_path, redis_url, regions) as (running, twilio, client, talking, settings):
        await book_callback(running)
        seen: list[tuple[str, str | None]] = []

        def look(_form: dict[str, str]) -> None:  # runs inside the fake, while tsunagu waits for its answer
            with sqlite3.connect(tmp_path / "tsunagu.db") as database:
                seen.extend(database.execute("SELECT status, service_id FROM callback_request").fetchall())

        twilio.on_create = look
        await talking[0].dial_result("completed")
        assert await dispatch_once(running.runtime, client) == 1
        assert seen == [("calling", FAMILY.id)]
