"""Whom the drill's calls reached: the single-number baseline, 988-style figures and the queue's honesty (pure)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from loadtests.surge.baseline import Caller, Pool, Redial, SingleNumber, open_lines, pool_of, single_number
from loadtests.surge.call_figures import Clocks, by_day, call_reach, call_reach_text, like_988, queue_honesty
from loadtests.surge.player import CallPlayer, CallReport, Reply, Request, drive, read_reply, told_wait
from loadtests.surge.shapes import JST, Timeline, calendar
from loadtests.surge.world import Persona, WorldParams
from referral_directory.hours import DatedHours, Hours, is_open_at, japanese_holidays, window
from routing.telephony import prompts, twiml
from routing.telephony.webhooks import WAIT_SECONDS

EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
DAYTIME = Hours(weekly=(window(EVERY_DAY, "09:00", "17:00"),), closed_on_holidays=False)
AROUND_THE_CLOCK = Hours(weekly=(window(EVERY_DAY, "00:00", "24:00"),), closed_on_holidays=False)
BASE = "http://127.0.0.1:8000"


def seconds_from(start: datetime):
    return lambda at: (at - start).total_seconds()


# -- the single number, worked out by hand --


def test_two_lines_and_five_callers_connect_as_worked_out_by_hand() -> None:
    callers = [
        Caller(arrival=0, talk=10, patience=0),  # A: a line is free; holds it until 10
        Caller(arrival=1, talk=5, patience=0),  # B: the second line; until 6
        Caller(arrival=2, talk=10, patience=10),  # C: busy at 2 and at 5; at 8 E has just hung up: connected until 18
        Caller(arrival=3, talk=1, patience=0),  # D: busy at 3, would ring again at 6, after their patience: gives up
        Caller(arrival=6, talk=2, patience=5),  # E: B hangs up at 6, the line is E's; until 8
    ]
    result = single_number(callers, Pool(((0.0, 2),)), Redial(gap=3), seed=1)
    assert (result.callers, result.connected, result.busy, result.gave_up) == (5, 4, 3, 1)


def test_a_caller_rings_again_up_to_the_last_instant_of_their_patience() -> None:
    # One line, X holds it 0–4. Y hears busy at 1 and 3, rings again at 5 (4 s after arriving: within a patience of 4).
    holding, patient = Caller(0, 4, 4), Caller(1, 1, 4)
    result = single_number([holding, patient], Pool(((0.0, 1),)), Redial(gap=2), seed=1)
    assert (result.connected, result.busy, result.gave_up) == (2, 2, 0)
    impatient = Caller(1, 1, 3.9)  # at 5 they would be 4 s in: they give up after the busy tone at 3
    result = single_number([holding, impatient], Pool(((0.0, 1),)), Redial(gap=2), seed=1)
    assert (result.connected, result.busy, result.gave_up) == (1, 2, 1)


def test_at_night_the_daytime_lines_are_closed_and_everyone_hears_busy() -> None:
    night = datetime(2026, 12, 30, 20, tzinfo=JST)
    steps = open_lines({DAYTIME: 2}, night, night + timedelta(hours=8), holidays=frozenset())
    assert steps == [(night, 0)]
    # Each rings at arrival, +4 and +8 s (a patience of 10 s): three busy tones each, then they give up.
    callers = [Caller(arrival, talk=60, patience=10) for arrival in (0, 10, 20)]
    result = single_number(callers, pool_of(steps, seconds_from(night)), Redial(gap=4), seed=1)
    assert (result.connected, result.busy, result.gave_up) == (0, 9, 3)


def test_the_pool_opens_at_nine_and_a_caller_ringing_again_gets_a_line() -> None:
    start = datetime(2026, 12, 30, 8, 58, tzinfo=JST)
    steps = open_lines({DAYTIME: 2, AROUND_THE_CLOCK: 1}, start, start + timedelta(minutes=5), holidays=frozenset())
    assert steps == [(start, 1), (datetime(2026, 12, 30, 9, tzinfo=JST), 3)]
    pool = pool_of(steps, seconds_from(start))
    assert (pool.lines_at(-1), pool.lines_at(0), pool.lines_at(119.9), pool.lines_at(120), pool.span(0, 300)) == (0, 1, 1, 3, (1, 3))
    assert pool.span(0, 120) == (1, 1)  # until nine
    # The night line is taken at 60 s; the next caller hears busy at 61 and 91 s and gets a daytime line at 121 s.
    result = single_number([Caller(60, 600, 0), Caller(61, 60, 120)], pool, Redial(gap=30), seed=1)
    assert (result.connected, result.busy, result.gave_up) == (2, 2, 0)


def test_open_lines_agree_with_is_open_at_minute_by_minute_over_new_year() -> None:
    new_year = (datetime(2026, 12, 29).date(), datetime(2027, 1, 3).date())
    lines = {
        Hours(weekly=(window("MO,TU,WE,TH,FR", "08:30", "17:15"),), closures=(new_year,)): 7,  # a town hall: shut for the holidays
        AROUND_THE_CLOCK: 3,  # a 24-hour line (open_until's "stays open" answer)
        Hours(weekly=(window("MO,TU,WE,TH,SU", "17:00", "22:00"), window("FR,SA", "18:00", "02:00")), closed_on_holidays=False): 2,
        Hours(
            weekly=(window("MO,TU,WE,TH,FR", "09:00", "17:00"),), extra=(DatedHours(*new_year, (window(EVERY_DAY, "10:00", "22:00"),)),)
        ): 5,  # extended New Year hours
    }
    holidays = japanese_holidays(2026, 2027)
    start, end = datetime(2026, 12, 27, 1, 30, tzinfo=JST), datetime(2027, 1, 6, tzinfo=JST)  # from inside a Saturday night
    pool = pool_of(open_lines(lines, start, end, holidays), seconds_from(start))
    minute = start
    while minute < end:
        expected = sum(n for hours, n in lines.items() if is_open_at(hours, minute, holidays))
        assert pool.lines_at(seconds_from(start)(minute)) == expected, minute
        minute += timedelta(minutes=1)
    assert pool.span(0, seconds_from(start)(end)) == (3, 15)  # a weekday at 16:00: 7 + 3 + 5; at night the 24-hour line alone


def test_the_same_seed_gives_the_same_redials() -> None:
    rng = random.Random(5)
    callers = [Caller(rng.uniform(0, 100), rng.uniform(5, 30), rng.uniform(0, 60)) for _ in range(200)]
    pool, redial = Pool(((0.0, 3),)), Redial(gap=5, jitter=0.5)
    assert single_number(callers, pool, redial, seed=7) == single_number(callers, pool, redial, seed=7)
    assert single_number(callers, pool, Redial(gap=5), seed=7) == single_number(callers, pool, Redial(gap=5), seed=8)


def test_callers_redial_at_the_pace_tsunagu_tries_the_lines_again_for_a_waiting_caller() -> None:
    assert WorldParams().redial_seconds == WAIT_SECONDS


# -- the estimate a waiting caller hears --


@pytest.mark.parametrize(("place", "minutes"), [(1, 1), (3, 36), (12, 12), (105, 240)])
def test_the_told_wait_is_read_from_the_queue_place_prompt_in_both_languages(place: int, minutes: int) -> None:
    assert told_wait(prompts.queue_place(place, minutes)) == minutes
    assert told_wait(prompts.en_queue_place(place, minutes)) == minutes


def test_other_words_tell_no_wait() -> None:
    for said in (prompts.ALL_BUSY, prompts.CALLBACK_OFFER, prompts.LONG_WAIT, "あと5分ほどでおつなぎできる見込みです。", ""):
        assert told_wait(said) is None


class Service:
    """A pretend service answering each webhook path with fixed TwiML."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def __call__(self, action) -> Reply | None:
        if not isinstance(action, Request):
            return None
        if not action.twiml:
            return read_reply(204, "", b"", twiml=False)
        return read_reply(200, "application/xml", self.answers[action.name].encode(), twiml=True)


def test_the_player_records_when_the_caller_was_queued_what_they_were_told_and_when_a_window_answered() -> None:
    params = WorldParams(
        early_hang_up=0.0, patience_mean=1e9, dial_outcomes={"answer": 1}, time_scale=0.0, talk_mean=1.0, documented_keys={}, stray_key=0
    )
    persona = Persona(params, random.Random(3), None)
    player = CallPlayer(persona, sid="CA1", call_params={"CallSid": "CA1"}, fallback_number="+81300000999", time_scale=0.0)
    said = [prompts.ALL_BUSY, prompts.queue_place(2, 24)]
    service = Service(
        {
            "/twilio/voice/incoming": '<Response><Pause length="3"/><Redirect>/twilio/voice/wait</Redirect></Response>',
            "/twilio/voice/wait": twiml.wait_for_line(said, seconds=20, then="/twilio/voice/again", offer="/twilio/voice/callback"),
            "/twilio/voice/again": '<Response><Dial action="/twilio/voice/dialled"><Number>+81312345678</Number></Dial></Response>',
            "/twilio/voice/dialled": "<Response><Hangup/></Response>",
        }
    )
    report = drive(player.play(BASE + "/twilio/voice/incoming", BASE + "/twilio/voice/status"), service)
    assert report.outcome == "connected"
    assert (report.queued_at, report.first_estimate) == (3.0, 24)
    heard = sum(persona.say_seconds(text, False) for text in (*said, prompts.CALLBACK_OFFER))
    assert report.answered_at == report.experienced  # nothing after the answer is call time: the talk is real seconds
    assert report.answered_at is not None and 0 < report.answered_at - (3.0 + heard + 20) < 30  # the window's ring
    assert (report.talk_needed, report.patience) == (persona.talk, persona.patience) and report.talked == persona.talk


# -- 988-style figures and the queue's honesty, on hand-made reports --


def inbound(**fields) -> dict:
    return CallReport(sid="CA", kind="inbound", **fields).to_json()


CALLS = [
    inbound(answered_service=True, ended_by="hangup-verb", answered_at=30.0),
    inbound(answered_service=True, ended_by="hangup-verb", queued_at=40.0, first_estimate=2, answered_at=400.0),  # 6 min: +4
    inbound(answered_service=True, ended_by="hangup-verb", queued_at=50.0, first_estimate=12, answered_at=290.0),  # 4 min: -8
    inbound(answered_service=True, ended_by="hangup-verb", queued_at=10.0, first_estimate=1, answered_at=130.0),  # 2 min: +1
    inbound(answered_service=True, ended_by="hangup-verb", answered_at=50.0),
    inbound(ended_by="caller-hung-up", waited=True, queued_at=45.0, first_estimate=4),  # abandoned in the queue
    inbound(ended_by="caller-hung-up"),  # abandoned in the menu
    inbound(ended_by="hangup-verb"),  # told that nothing is open
    inbound(ended_by="end-of-twiml", waited=True, fallback_dialled=True, queued_at=60.0, first_estimate=20),  # the longest wait
]
CLOCKS = Clocks(time_scale=0.5, speed=1200)


def test_the_988_figures_of_hand_made_calls() -> None:
    assert [c["outcome"] for c in CALLS] == [*["connected"] * 5, "abandoned_in_queue", "abandoned", "no_service_open", "fallback"]
    assert like_988(CALLS, CLOCKS) == {
        "callers": 9,
        "answered": 5,
        "answered_share": 0.5556,
        # (30 + 400 + 290 + 130 + 50) / 5 = 180 s of call time; half of it real; ×1,200 on the service's clock
        "speed_to_answer": {"n": 5, "call_s": 180.0, "real_s": 90.0, "simulated_s": 108000.0},
        "queued": 4 + 1,
        "abandoned_in_queue": 1,
        "abandoned_in_queue_share": 0.2,
        "told_closed": 1,
        "told_closed_share": 0.1111,
        "fallback": 1,
        "fallback_share": 0.1111,
    }


def test_the_queue_s_honesty_is_the_actual_wait_less_the_first_estimate_over_those_answered() -> None:
    # Errors +4, -8 and +1 minutes of call time; on the service's clock the waits are 600× longer (3,600, 2,400, 1,200 min).
    assert queue_honesty(CALLS, CLOCKS) == {
        "answered_after_queueing": 3,
        "error_call_min": {"median": 1.0, "p90": 4.0},
        "error_simulated_min": {"median": 2388.0, "p90": 3598.0},
        "told_min": {"median": 2.0, "p90": 12.0},
    }
    assert queue_honesty(CALLS[:1], CLOCKS)["error_call_min"] == {"median": None, "p90": None}


def test_call_reach_puts_the_run_s_callers_on_one_number_and_compares() -> None:
    night = calendar("newyear").window(datetime(2026, 12, 31, 20, tzinfo=JST), datetime(2027, 1, 1, 4, tzinfo=JST))
    timeline = Timeline(night, epoch0=1000.0, speed=1200.0, peak=3.0)
    world = WorldParams(time_scale=0.05)
    # Three callers at once on one line: the first talks 10 s; the others ring again every second of real time
    # (20 s of call time) for 40 s of call time (2 real s), hearing busy three times each.
    calls = [
        {**inbound(answered_service=True, ended_by="hangup-verb", answered_at=12.0, talk_needed=10.0, patience=40.0), "started": 1001.0},
        {**inbound(ended_by="hangup-verb", talk_needed=10.0, patience=40.0), "started": 1001.0},
        {**inbound(ended_by="caller-hung-up", talk_needed=10.0, patience=40.0), "started": 1001.0},
        {**CallReport(sid="CA", kind="callback", answered_service=True).to_json(), "started": 1002.0},
    ]
    figures = call_reach(calls, {AROUND_THE_CLOCK: 1}, frozenset(), timeline, WorldParams(time_scale=0.05, redial_jitter=0.0), seed=1)
    assert figures["single_number"] == {
        "callers": 3,
        "connected": 1,
        "busy": 6,
        "gave_up": 2,
        "lines_open": {"fewest": 1, "most": 1},
        "redial_call_s": world.redial_seconds,
        "seed": 1,
    }
    assert figures["tsunagu"] == {"connected": 1, "callbacks_kept": 1, "reached": 2, "to_single_number": 2.0}
    assert figures["like_988"]["speed_to_answer"] == {"n": 1, "call_s": 12.0, "real_s": 0.6, "simulated_s": 720.0}
    text = call_reach_text(figures)
    assert text[1] == "  single number at equal capacity (1–1 lines open in the calendar): 1 connected, 6 busy tones, 2 gave up"
    assert text[2] == "  tsunagu: 1 connected + 1 callbacks kept = 2, 2.00× the single number's connected"


def test_by_day_sets_each_day_s_single_number_against_tsunagu_and_the_lines_it_had() -> None:
    night = calendar("newyear").window(datetime(2026, 12, 31, 20, tzinfo=JST), datetime(2027, 1, 1, 4, tzinfo=JST))
    timeline = Timeline(night, epoch0=1000.0, speed=1200.0, peak=3.0)  # midnight is 12 real seconds in
    evening = {"started": 1001.0, "outcome": "connected"}
    late = {"started": 1011.0, "outcome": "abandoned_in_queue"}
    after_midnight = {"started": 1013.0, "outcome": "abandoned"}
    kept_after_midnight = {"started": 1014.0, "outcome": "callback_leg_connected"}
    pool = Pool(((1000.0, 2), (1012.0, 5)))  # 2 lines until midnight, then 5
    single = SingleNumber(3, 2, 0, 1, frozenset({1, 2}))  # the single number connected the late caller and the one after midnight
    assert by_day([evening, late, after_midnight], [kept_after_midnight], single, pool, timeline) == [
        {"day": "2026-12-31", "callers": 2, "single_connected": 1, "tsunagu_reached": 1, "most_lines": 2},
        {"day": "2027-01-01", "callers": 1, "single_connected": 1, "tsunagu_reached": 1, "most_lines": 5},
    ]
