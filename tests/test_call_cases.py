"""A call's case: opened when a window answers (the counsellor hears its number), and transferred live to the next tier."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from fake_twilio import fake_twilio
from running import Running, make_settings, running_app
from sqlalchemy import select
from test_cases import CHIYODA_ORG, DIRECTORY, NATIONAL, NATIONAL_ORG, TOKYO, TOKYO_ORG, TUESDAY_10
from voice_support import AUTH_TOKEN, PUBLIC_URL, Call, voice_settings

from referral_directory.models import AuditEvent
from routing.cases.models import Case, Referral
from routing.telephony.calls import load_call, save_call
from routing.telephony.simulator import Caller, TwilioSimulator


async def cases(running: Running) -> list[Case]:
    async with running.runtime.sessions() as session:
        return list((await session.execute(select(Case))).scalars().all())


async def answered_at_the_national_window(desk: Running) -> tuple[Call, Case, dict[str, str]]:
    call = Call(desk)
    await call.reach_dial(postal="1000001")
    await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "8" * 32)
    (case,) = await cases(desk)
    return call, case, await desk.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)


@pytest.fixture
async def desk(tmp_path: Path, redis_url: str, regions):
    with fake_twilio() as fake:
        twilio = {"twilio_account_sid": "AC" + "2" * 32, "twilio_api_url": fake.url}
        settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, **(voice_settings() | twilio))
        async with running_app(settings, regions) as running:
            await running.store(DIRECTORY)
            running.fake = fake
            yield running


async def test_the_answering_window_hears_the_case_number_and_the_case_opens_there(desk: Running) -> None:
    simulator = TwilioSimulator(desk.client, public_url=PUBLIC_URL, auth_token=AUTH_TOKEN)
    result = await simulator.call(Caller(keys=["9", "1000001"]))
    assert result.errors() == [] and result.rung() == [NATIONAL.phones[0].number]
    (case,) = await cases(desk)
    (whisper,) = result.whispered()
    assert "ケース番号は、" + "、".join(case.id.replace("-", "")) in whisper and "孤独・孤立" in whisper
    assert (case.holder_org, case.holder_tier, case.topic, case.lgcode) == (NATIONAL_ORG, "national", "general", "131016")
    assert case.caller_pseudonym and case.caller_pseudonym.startswith("k1:")
    token = await desk.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)
    listed = (await desk.client.get("/api/cases", headers=token)).json()
    assert [c["id"] for c in listed] == [case.id]


async def test_a_repeated_answer_report_opens_no_second_case(desk: Running) -> None:
    call = Call(desk)
    await call.reach_dial()
    first = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "9" * 32)
    again = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "9" * 32)
    assert first.said() == again.said() and len(await cases(desk)) == 1


async def test_an_answer_retried_after_the_case_opened_but_before_the_call_remembered_it_finds_that_case(desk: Running) -> None:
    """The first answer inserts the case without looking for it; the unique call_ref turns a second insert into a lookup."""
    call = Call(desk)
    await call.reach_dial()
    first = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "9" * 32)
    state = await load_call(desk.runtime.redis, call.sid)
    assert state is not None and state.case_id is not None
    state.case_id = None  # as if the first try ran out of time between its commit and storing the call's state
    await save_call(desk.runtime.redis, call.sid, state)
    again = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "9" * 32)
    (case,) = await cases(desk)
    assert first.said() == again.said() and case.id.replace("-", "")[:4] in "".join(again.said()[0].split("、"))
    assert (await load_call(desk.runtime.redis, call.sid)).case_id == case.id
    async with desk.runtime.sessions() as session:
        opened = (await session.execute(select(AuditEvent).where(AuditEvent.action == "case.open"))).scalars().all()
    assert [e.resource_id for e in opened] == [case.id]


async def test_a_window_answer_reported_three_times_at_once_opens_one_case(desk: Running) -> None:
    call = Call(desk)
    await call.reach_dial()
    leg = "CA" + "9" * 32
    answers = await asyncio.gather(*(call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid=leg) for _ in range(3)))
    (case,) = await cases(desk)
    assert all(answer.said() == answers[0].said() for answer in answers)
    assert "、".join(case.id.replace("-", "")) in answers[0].said()[0]
    async with desk.runtime.sessions() as session:
        opened = (await session.execute(select(AuditEvent).where(AuditEvent.action == "case.open"))).scalars().all()
    assert [e.resource_id for e in opened] == [case.id]


async def test_a_whisper_that_cannot_be_built_still_puts_the_window_through(desk: Running) -> None:
    answer = await Call(desk).post("/twilio/voice/answered", ParentCallSid="CA" + "0" * 32)
    assert answer.status == 200 and answer.verbs() == [] and answer.dialled() == []  # no fallback dial on the window's leg


async def test_a_window_is_put_through_at_once_while_another_program_holds_the_database(tmp_path: Path, redis_url: str, regions) -> None:
    """Past the webhook's budget the window is put through without its whisper, not kept waiting for the lock;
    the case opens on the next answer."""
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, webhook_budget_seconds=0.5, **voice_settings())
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        call = Call(running)
        await call.reach_dial(postal="1000001")
        holder = sqlite3.connect(tmp_path / "tsunagu.db", isolation_level=None)  # the sqlite3 shell, say, in a write transaction
        holder.execute("BEGIN IMMEDIATE")
        released: list[bool] = []

        def release() -> None:
            if not released:
                released.append(True)
                holder.execute("ROLLBACK")

        backstop = asyncio.get_running_loop().call_later(10, release)  # only if the window is held up until then
        try:
            answer = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "7" * 32)
            assert not released, "the window waited for the database"
            assert answer.status == 200 and answer.verbs() == []  # silence: the two sides are bridged
        finally:
            backstop.cancel()
            release()
            holder.close()
        assert await cases(running) == []  # the given-up case opening was undone

        again = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "7" * 32)
        (case,) = await cases(running)
        assert any("ケース番号は、" + "、".join(case.id.replace("-", "")) in said for said in again.said())


async def test_a_counsellor_transfers_the_live_call_to_the_prefecture_window(desk: Running) -> None:
    call, case, national = await answered_at_the_national_window(desk)
    suggested = (await desk.client.get(f"/api/cases/{case.id}/suggestions", headers=national)).json()
    assert suggested[0]["service_id"] == TOKYO.id and suggested[0]["open_now"]
    moved = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
    assert moved.status_code == 202, moved.text
    (update,) = desk.fake.updates
    assert update["CallSid"] == call.sid and update["Url"] == PUBLIC_URL + "/twilio/voice/transfer"
    # Twilio now fetches the new TwiML for the caller, rings Tokyo, and Tokyo hears the whisper.
    rung = await call.post("/twilio/voice/transfer")
    assert rung.dialled() == [TOKYO.phones[0].number]
    # Twilio also reports the end of the first window's leg to the old <Dial>'s action: it must not touch Tokyo's line.
    await call.post("/twilio/voice/dialled", DialCallStatus="completed", DialCallSid="CA" + "8" * 32)
    assert dict(await desk.runtime.live.slots_in_use([TOKYO.id])) == {TOKYO.id: 1}
    whisper = await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "7" * 32)
    assert "転送" in whisper.said()[0] and case.id.replace("-", "")[0] in whisper.said()[0]
    async with desk.runtime.sessions() as session:
        (hop,) = (await session.execute(select(Referral))).scalars().all()
    assert (hop.kind, hop.status, hop.from_tier, hop.to_tier, hop.to_org) == ("transfer", "accepted", "national", "prefecture", TOKYO_ORG)
    assert dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id])) == {TOKYO.id: 1}  # the first window's line is free
    tokyo = await desk.token("東京都の相談員", role="counsellor", org=TOKYO_ORG)
    assert (await desk.client.get(f"/api/cases/{case.id}", headers=tokyo)).status_code == 200
    await call.dial_result("completed")
    await call.end()
    assert dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id])) == {}


async def test_a_transfer_twilio_refuses_leaves_the_call_with_the_first_window_and_can_be_tried_again(desk: Running) -> None:
    call, case, national = await answered_at_the_national_window(desk)
    desk.fake.fail_updates = 1
    refused = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
    assert refused.status_code == 502 and "still with you" in refused.json()["detail"]
    assert dict(await desk.runtime.live.slots_in_use([NATIONAL.id, TOKYO.id])) == {NATIONAL.id: 1}  # Tokyo's line is free again
    assert (await load_call(desk.runtime.redis, call.sid)).ringing.service_id == NATIONAL.id
    async with desk.runtime.sessions() as session:
        (hop,) = (await session.execute(select(Referral))).scalars().all()
        failed = (await session.execute(select(AuditEvent.detail).where(AuditEvent.action == "referral.transfer_failed"))).scalars().all()
    assert (hop.kind, hop.status) == ("transfer", "expired") and [d["referral"] for d in failed] == [hop.id]

    moved = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
    assert moved.status_code == 202, moved.text
    assert (await call.post("/twilio/voice/transfer")).dialled() == [TOKYO.phones[0].number]


async def test_other_writes_go_on_while_twilio_is_asked_to_transfer(desk: Running) -> None:
    _, case, national = await answered_at_the_national_window(desk)
    asked, answer = threading.Event(), threading.Event()
    desk.fake.on_update = lambda _form: (asked.set(), answer.wait(30))
    moving = asyncio.create_task(desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national))
    try:
        assert await asyncio.to_thread(asked.wait, 30)
        # Twilio has not answered yet: an audited read (a write to the audit chain) must not queue behind the transfer.
        outbox = await asyncio.wait_for(desk.client.get("/api/referrals?box=outbox", headers=national), timeout=20)
        assert outbox.status_code == 200 and [(r["kind"], r["status"]) for r in outbox.json()] == [("transfer", "proposed")]
    finally:
        answer.set()
    assert (await moving).status_code == 202


async def test_a_transfer_is_refused_clearly_when_it_cannot_happen(desk: Running) -> None:
    call = Call(desk)
    await call.reach_dial()
    await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "6" * 32)
    (case,) = await cases(desk)
    chiyoda = await desk.token("千代田区の相談員", role="counsellor", org=CHIYODA_ORG)
    assert (await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=chiyoda)).status_code == 404
    national = await desk.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)
    await call.dial_result("completed")
    await call.end()
    ended = await desk.client.post(f"/api/cases/{case.id}/transfer", json={"to_service": TOKYO.id}, headers=national)
    assert ended.status_code == 409 and "not connected" in ended.json()["detail"]
    assert desk.fake.updates == []


async def test_a_repeat_caller_is_recognised_by_pseudonym_not_number(desk: Running) -> None:
    national = await desk.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)
    first, second = Call(desk, caller="+819011112222"), Call(desk, caller="+819011112222")
    await first.reach_dial()
    await first.post("/twilio/voice/answered", ParentCallSid=first.sid, CallSid="CA" + "1" * 32)
    await first.dial_result("completed")
    await first.end()
    await desk.records_written()  # earlier calls are counted from the call records, written behind
    await second.reach_dial()
    await second.post("/twilio/voice/answered", ParentCallSid=second.sid, CallSid="CA" + "2" * 32)
    both = await cases(desk)
    views = [(await desk.client.get(f"/api/cases/{c.id}", headers=national)).json() for c in both]
    assert sorted(v["earlier_calls"] for v in views) == [0, 1]  # the second call's case knows of the first call
    assert both[0].caller_pseudonym == both[1].caller_pseudonym and "11112222" not in (both[0].caller_pseudonym or "")
