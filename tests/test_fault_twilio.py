"""Fault: Twilio's REST API answering past the client's timeout, during a live transfer and a callback.

The fake (a real local HTTP server) carries out each slow request after the client gave up on it, as
Twilio may: a redirect still moves the call, a call still rings the person. The counsellor reads a
clear error and the case stays as it was; the person hears a human, never silence; no line is held
twice or left claimed; a callback whose placing timed out is never placed a second time while the
first may still ring.
"""

from __future__ import annotations

import time
from pathlib import Path

from fake_twilio import fake_twilio
from running import make_settings, running_app
from sqlalchemy import select
from test_call_cases import answered_at_the_national_window
from test_callbacks import CANARY, requests
from test_cases import DIRECTORY as CASE_DIRECTORY
from test_cases import NATIONAL, TOKYO
from test_cases import TUESDAY_10 as CASE_TUESDAY_10
from test_voice import DIRECTORY, FAMILY, TUESDAY_10, slots_held
from voice_support import PUBLIC_URL, Call, voice_settings

from referral_directory.errors import UpstreamFailed
from routing.cases.models import Referral
from routing.telephony.callbacks import dispatch_once, twilio_client
from routing.web.case_views import japanese_message

TIMEOUT = 1.0  # the REST client's timeout here (10 s by default)
SLOW = 2.0  # how long the fake takes to answer: past the timeout, and it carries the request out all the same
CONFIRM = 2.0  # how long a callback whose placing timed out waits for Twilio's word


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


async def test_twilio_timing_out_during_a_live_transfer(tmp_path: Path, redis_url: str, regions) -> None:
    with fake_twilio() as fake:
        twilio = {"twilio_account_sid": "AC" + "2" * 32, "twilio_api_url": fake.url, "twilio_timeout_seconds": TIMEOUT}
        settings = make_settings(tmp_path, redis_url, clock=CASE_TUESDAY_10, clock_speed=0, **(voice_settings() | twilio))
        async with running_app(settings, regions) as desk:
            await desk.store(CASE_DIRECTORY)
            call, case, national = await answered_at_the_national_window(desk)
            fake.on_update = lambda _form: time.sleep(SLOW)
            started = time.monotonic()
            slow = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
            waited = time.monotonic() - started
            held_after_error = dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id]))
            async with desk.runtime.sessions() as session:
                (hop,) = (await session.execute(select(Referral))).scalars().all()
            wait_until(lambda: len(fake.updates) == 1)  # Twilio carried the redirect out after all
            redirected = await call.post("/twilio/voice/transfer")  # the caller's call, moved: where does it go?
            held_after_redirect = dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id]))
            fake.on_update = None
            retried = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
            moved = await call.post("/twilio/voice/transfer")
            held_after_retry = dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id]))

    detail = slow.json()["detail"]
    print(
        f"\nFAULT twilio-transfer-timeout: counsellor answered {slow.status_code} after {waited:.1f} s; callers affected 1 "
        f"(put through to the same window again), lines held {sum(held_after_redirect.values())} (the first window's one), records lost 0"
    )
    assert slow.status_code == 502 and "did not answer in time" in detail
    assert "時間内に返事がなかった" in japanese_message(UpstreamFailed(detail))  # what the case page shows
    assert (hop.kind, hop.status) == ("transfer", "expired")  # the case stays as it was: the call with the first window
    assert held_after_error == held_after_redirect == {NATIONAL.id: 1}
    assert redirected.dialled() == [NATIONAL.phones[0].number]  # never silence: back to the window it was with
    assert retried.status_code == 202 and moved.dialled() == [TOKYO.phones[0].number]
    assert held_after_retry == {TOKYO.id: 1}


async def test_twilio_timing_out_while_placing_a_callback(tmp_path: Path, redis_url: str, regions) -> None:
    with fake_twilio() as fake:
        settings = make_settings(
            tmp_path,
            redis_url,
            clock=TUESDAY_10,
            clock_speed=0,
            twilio_account_sid="AC" + "1" * 32,
            twilio_api_url=fake.url,
            twilio_timeout_seconds=TIMEOUT,
            callback_confirm_seconds=CONFIRM,
            callback_seconds=3600,
            **voice_settings(),
        )
        async with running_app(settings, regions) as running:
            await running.store(DIRECTORY)
            client = twilio_client(settings)
            talking = [Call(running) for _ in range(2)]
            for call in talking:
                await call.reach_dial(topic="5")
            booker = Call(running, caller=CANARY)
            await booker.reach_dial(topic="5")
            await booker.post("/twilio/voice/callback", Digits="1")
            await booker.post("/twilio/voice/callback-consent", Digits="1")
            await booker.end()
            await talking[0].dial_result("completed")  # a line frees for the callback

            # 1. Twilio answers too late, but places the call: it is placed once, and the person reaches the window.
            fake.on_create = lambda _form: time.sleep(SLOW)
            placed_at_once = await dispatch_once(running.runtime, client)
            (request,) = await requests(running)
            calling = (request.status, request.tries)
            held_calling = await slots_held(running)
            fake.on_create = None
            again = await dispatch_once(running.runtime, client)  # the next round must not call the person a second time
            wait_until(lambda: len(fake.calls) == 1)
            (late,) = fake.calls
            person = Call(running, caller="+81120000000")
            bridge = await person.post(late["Url"].removeprefix(PUBLIC_URL))
            time.sleep(CONFIRM)  # past the wait for Twilio's word: a confirmed try is not given up
            await dispatch_once(running.runtime, client)
            await person.post(f"/twilio/voice/callback-dialled?request={request.id}&try=1", DialCallStatus="completed")
            (request,) = await requests(running)
            first = (request.status, request.tries, len(fake.calls))

            # 2. Twilio answers too late and placed nothing: after the wait the request goes back in line, once.
            filler = Call(running)
            await filler.reach_dial(topic="5")  # both lines taken again
            second_booker = Call(running, caller="+819055509876")
            await second_booker.reach_dial(topic="5")
            await second_booker.post("/twilio/voice/callback", Digits="1")
            await second_booker.post("/twilio/voice/callback-consent", Digits="1")
            await second_booker.end()
            await filler.dial_result("completed")
            fake.on_create, fake.fail_next = (lambda _form: time.sleep(SLOW)), 1  # slow, and refused in the end
            await dispatch_once(running.runtime, client)
            fake.on_create = None
            never = next(r for r in await requests(running) if r.status == "calling")
            held_unconfirmed = await slots_held(running)
            time.sleep(CONFIRM)
            retried = await dispatch_once(running.runtime, client)
            never_after = next(r for r in await requests(running) if r.id == never.id)

    print(
        f"\nFAULT twilio-callback-timeout: calls placed {len(fake.calls)} for 2 callbacks (no duplicate), "
        f"callers affected 0 (the person reached a window), lines held while unconfirmed {sum(held_unconfirmed.values())} of 2"
    )
    assert placed_at_once == 0 and calling == ("calling", 1) and held_calling == {FAMILY.id: 2}
    assert again == 0
    assert bridge.dialled() == [FAMILY.phones[0].number]
    assert first == ("connected", 1, 1)
    assert held_unconfirmed == {FAMILY.id: 2}  # the unconfirmed try keeps its line: no one else is put on it meanwhile
    assert retried == 1 and (never_after.status, never_after.tries) == ("calling", 2) and len(fake.calls) == 2
