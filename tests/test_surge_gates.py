"""The surge gates fail for a broken service and pass for a clean run (pure: no server, no Redis, no Locust)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from datetime import datetime

import redis

from loadtests.surge.collect import VOICE_SLOTS, lasting_leases
from loadtests.surge.gates import EndpointLatency, RunFacts, evaluate, histogram_percentile, max_concurrent, percentile
from loadtests.surge.player import CallPlayer, DialEvent, Request, Sleep, drive, read_reply
from loadtests.surge.shapes import JST, Timeline, arrivals, calendar, speed_for
from loadtests.surge.world import Persona, WorldParams
from routing.live.keys import slot_key
from routing.telephony import twiml

GENERAL, CRISIS = "svc-general", "svc-crisis"
NUMBERS = {"+81312345678": GENERAL, "+81355554444": CRISIS}
CAPACITY = {GENERAL: 2, CRISIS: 1}
FALLBACK = "+81300000999"
BASE = "http://127.0.0.1:8000"
WEBHOOKS = ("/twilio/voice/incoming", "/twilio/voice/topic", "/twilio/voice/postal", "/twilio/voice/dialled", "/twilio/voice/status")


def dials(*steps: tuple[str, str, bool]) -> list[tuple[str, bool, str]]:
    """Build a dial stream from (call, number, started) steps, in order."""
    return [(number, started, call) for call, number, started in steps]


def clean_facts(**changes) -> RunFacts:
    """What a clean run measures: two callers on the general line (capacity 2), one in crisis, all ended and recorded."""
    stream = dials(
        ("a", "+81312345678", True),
        ("b", "+81312345678", True),
        ("c", "+81355554444", True),
        ("a", "+81312345678", False),
        ("c", "+81355554444", False),
        ("b", "+81312345678", False),
    )
    facts = RunFacts(
        failures={},
        latency=[EndpointLatency(name, 100, 0, 8.0, 20.0, 40.0) for name in WEBHOOKS],
        webhook_p99_ms=40.0,
        webhook_fallbacks=0.0,
        degraded={},
        world_outcomes={"connected": 3, "no_service_open": 1},
        recorded_outcomes={"connected": 3, "no_service_open": 1},
        metric_outcomes={"connected": 3.0, "no_service_open": 1.0},
        concurrency=max_concurrent(stream, NUMBERS),
        sampled_held={GENERAL: 2, CRISIS: 1},
        capacities=CAPACITY,
        held_after_drain={},
    )
    return replace(facts, **changes)


def failing(facts: RunFacts) -> list[str]:
    return [gate.name for gate in evaluate(facts) if not gate.passed]


def test_a_clean_run_passes_every_gate() -> None:
    gates = evaluate(clean_facts())
    assert [g.verdict for g in gates] == ["PASS"] * 6
    assert "3 dialled at once" not in " ".join(g.figures for g in gates)


def test_slot_claims_disabled_show_as_more_simultaneous_dials_than_capacity() -> None:
    # The service hands the general line (capacity 2) to a third caller before anyone hung up.
    stream = dials(
        ("a", "+81312345678", True),
        ("b", "+81312345678", True),
        ("c", "+81312345678", True),
        ("a", "+81312345678", False),
        ("b", "+81312345678", False),
        ("c", "+81312345678", False),
    )
    concurrency = max_concurrent(stream, NUMBERS)
    assert concurrency.by_service == {GENERAL: 3} and concurrency.unfinished == 0
    gate = next(g for g in evaluate(clean_facts(concurrency=concurrency)) if not g.passed)
    assert gate.name == "no slot over-assignment" and "3 dialled at once, capacity 2" in gate.details[0]
    assert failing(clean_facts(concurrency=concurrency)) == ["no slot over-assignment"]


def test_a_line_freed_before_the_next_caller_is_no_over_assignment() -> None:
    # End before start in the stream: the slot was released first, so two at once at most.
    stream = dials(
        ("a", "+81312345678", True),
        ("b", "+81312345678", True),
        ("a", "+81312345678", False),
        ("c", "+81312345678", True),
        ("b", "+81312345678", False),
        ("c", "+81312345678", False),
    )
    assert max_concurrent(stream, NUMBERS).by_service == {GENERAL: 2}


def test_the_service_s_own_slot_sets_holding_too_many_fail_the_same_gate() -> None:
    assert failing(clean_facts(sampled_held={GENERAL: 3})) == ["no slot over-assignment"]


def test_a_slot_left_held_after_the_drain_fails() -> None:
    facts = clean_facts(held_after_drain={slot_key(GENERAL): 1})
    assert failing(facts) == ["no slot held after drain"]


def test_a_dial_the_world_never_ended_fails_the_drain_gate() -> None:
    stream = dials(("a", "+81312345678", True))
    assert failing(clean_facts(concurrency=max_concurrent(stream, NUMBERS))) == ["no slot held after drain"]


def test_a_failed_request_fails_and_a_403_is_named() -> None:
    gate = evaluate(clean_facts(failures={"/twilio/voice/topic: answered HTTP 403": 2}))[0]
    assert (gate.name, gate.passed, gate.figures) == ("no failed request", False, "2 failed (403: 2)")
    assert failing(clean_facts(failures={"WORLD: <Enqueue> is valid TwiML but this world does not play it": 1})) == ["no failed request"]


def test_p99_over_the_target_fails_and_names_the_endpoint() -> None:
    slow = [EndpointLatency(name, 2500, 0, 8.0, 60.0, 140.0 if name.endswith("/postal") else 40.0) for name in WEBHOOKS]
    gate = next(g for g in evaluate(clean_facts(latency=slow)) if g.name == "webhook p99")
    assert not gate.passed and gate.details == ("/twilio/voice/postal: p99 140 ms over 2500 requests",)
    assert "worst endpoint p99 140 ms at /twilio/voice/postal" in gate.figures
    assert failing(clean_facts(latency=slow, p99_target_ms=150.0)) == []


def test_an_endpoint_with_hundreds_of_requests_is_held_to_the_target_at_its_p95() -> None:
    # 185 requests: their p99 is the second slowest, which one slow request decides; their p95 has nine above it.
    one_slow_pair = [*clean_facts().latency, EndpointLatency("/twilio/voice/callback-dialled", 185, 0, 11.0, 27.0, 100.1)]
    assert failing(clean_facts(latency=one_slow_pair)) == []
    slow_tail = [*clean_facts().latency, EndpointLatency("/twilio/voice/callback-consent", 228, 0, 13.0, 120.0, 260.0)]
    gate = next(g for g in evaluate(clean_facts(latency=slow_tail)) if g.name == "webhook p99")
    assert not gate.passed and gate.details == ("/twilio/voice/callback-consent: p95 120 ms over 228 requests",)


def test_p99_of_all_webhooks_together_over_the_target_fails() -> None:
    assert failing(clean_facts(webhook_p99_ms=101.0)) == ["webhook p99"]
    assert failing(clean_facts(webhook_p99_ms=None)) == ["webhook p99"]  # no webhook answered at all


def test_an_endpoint_with_few_requests_counts_in_the_whole_not_alone() -> None:
    # Forty requests: their "p99" is the slowest one; it weighs in the p99 of all webhooks instead.
    few = [*clean_facts().latency, EndpointLatency("/twilio/voice/any-line", 40, 0, 9.0, 30.0, 180.0)]
    assert failing(clean_facts(latency=few)) == []


def test_histogram_percentile_is_nearest_rank() -> None:
    assert histogram_percentile({5: 98, 40: 1, 900: 1}, 0.99) == 40.0
    assert histogram_percentile({5: 98, 900: 2}, 0.99) == 900.0
    assert histogram_percentile({}, 0.99) is None


def test_a_call_with_no_outcome_fails() -> None:
    world = {"connected": 3, "no_service_open": 1, "undefined": 1}
    assert failing(clean_facts(world_outcomes=world)) == ["every call has an outcome"]
    # A call the world finished but the service never recorded.
    assert failing(clean_facts(world_outcomes={"connected": 4, "no_service_open": 1})) == ["every call has an outcome"]
    # A record with an outcome outside the defined ones.
    assert failing(clean_facts(recorded_outcomes={"connected": 3, "lost": 1})) == ["every call has an outcome"]


def test_fallback_answers_fail_whether_counted_by_the_service_or_seen_by_the_world() -> None:
    assert failing(clean_facts(webhook_fallbacks=1.0)) == ["no fallback answer"]
    assert failing(clean_facts(degraded={"/twilio/voice/dialled": 1})) == ["no fallback answer"]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.99)) == (50, 99, 0.0)


# -- the world's player turns TwiML into the facts above --


class Script:
    """A pretend service: answers each webhook path with fixed TwiML; records what the player did."""

    def __init__(self, answers: dict[str, str | bytes | int]) -> None:
        self.answers, self.done = answers, []

    def __call__(self, action):
        self.done.append(action)
        if isinstance(action, Request):
            answer = self.answers.get(action.name, 204 if not action.twiml else 404)
            if isinstance(answer, int):
                return read_reply(answer, "", b"", twiml=action.twiml)
            body = answer.encode() if isinstance(answer, str) else answer
            return read_reply(200, "application/xml", body, twiml=action.twiml)
        return None


def play(answers: dict[str, str | bytes | int], *, seed: int = 3, keys=None):
    params = WorldParams(early_hang_up=0.0, patience_mean=1e9, dial_outcomes={"answer": 1}, time_scale=0.0, talk_mean=1.0)
    persona = Persona(params, random.Random(seed), None)
    player = CallPlayer(persona, sid="CA1", call_params={"CallSid": "CA1"}, fallback_number=FALLBACK, time_scale=0.0)
    script = Script(answers)
    report = drive(player.play(BASE + "/twilio/voice/incoming", BASE + "/twilio/voice/status"), script)
    return report, script.done


def test_a_call_the_service_connects_is_connected_with_its_dial_paired() -> None:
    report, done = play(
        {
            "/twilio/voice/incoming": twiml.redirect("/twilio/voice/wait"),
            "/twilio/voice/wait": twiml.dial("+81312345678", action="/twilio/voice/dialled", caller_id="+81120000000"),
            "/twilio/voice/dialled": twiml.tell_and_hang_up(["お電話ありがとうございました。"]),
        }
    )
    assert report.outcome == "connected" and report.problems == []
    events = [a for a in done if isinstance(a, DialEvent)]
    assert [(e.number, e.started) for e in events] == [("+81312345678", True), ("+81312345678", False)]
    dialled = next(a for a in done if isinstance(a, Request) and a.name.endswith("/dialled"))
    assert dialled.params["DialCallStatus"] == "completed" and "DialCallDuration" in dialled.params
    assert done.index(events[1]) < done.index(dialled)  # the world lets go of the line before it reports the dial's end
    assert isinstance(done[-1], Request) and done[-1].params["CallStatus"] == "completed"
    assert any(isinstance(a, Sleep) and a.seconds > 0 for a in done)  # the talk time is slept


def test_the_bare_fallback_answer_is_seen_as_degraded() -> None:
    report, _ = play({"/twilio/voice/incoming": twiml.fallback(FALLBACK)})
    assert (report.outcome, report.degraded_from, report.fallback_dialled) == ("degraded", "/twilio/voice/incoming", True)


def test_the_24_hour_line_by_design_is_not_a_degraded_answer() -> None:
    """After the longest wait, or with no window at all, the caller is told they go to the 24-hour line: routing, not failure."""
    report, _ = play({"/twilio/voice/incoming": twiml.to_24_hour_line([], FALLBACK)})
    assert report.degraded_from is None and report.fallback_dialled


def test_invalid_twiml_is_a_failure_and_leaves_no_defined_outcome() -> None:
    report, _ = play({"/twilio/voice/incoming": "<Response><Dial><Queue>x</Queue></Dial></Response>"})
    assert report.outcome == "undefined" and report.problems == ["<Queue> cannot be nested in <Dial>"]
    report, _ = play({"/twilio/voice/incoming": 403})
    assert report.problems == ["answered HTTP 403"]


def test_silence_at_a_gather_runs_the_next_verb_and_keys_post_to_the_action() -> None:
    menu = twiml.postal_prompt("/twilio/voice/postal", again=False, english=False)
    report, done = play({"/twilio/voice/incoming": menu, "/twilio/voice/postal": twiml.tell_and_hang_up(["いまは受付時間外です。"])})
    posted = [a for a in done if isinstance(a, Request) and a.name == "/twilio/voice/postal"]
    assert len(posted) == 1  # keyed (Digits), or silent / "#" (the Redirect after the Gather posts without Digits)
    assert report.outcome == "no_service_open"


def test_a_window_that_answers_hears_the_number_url_s_whisper_before_the_talk() -> None:
    dial = twiml.dial("+81312345678", action="/twilio/voice/dialled", caller_id="+81120000000", whisper="/twilio/voice/answered")
    report, done = play(
        {
            "/twilio/voice/incoming": dial,
            "/twilio/voice/answered": twiml.whisper(["ケース番号 1234 です。"]),
            "/twilio/voice/dialled": twiml.tell_and_hang_up([]),
        }
    )
    whisper = next(a for a in done if isinstance(a, Request) and a.name == "/twilio/voice/answered")
    assert whisper.params["ParentCallSid"] == "CA1" and whisper.params["To"] == "+81312345678"
    assert (
        whisper.params["CallSid"] == next(a for a in done if isinstance(a, Request) and a.name.endswith("/dialled")).params["DialCallSid"]
    )
    assert report.outcome == "connected" and report.problems == []


# -- the calendars the attempt rate follows --


def test_the_new_year_calendar_peaks_just_after_midnight_on_new_year_s_day() -> None:
    newyear = calendar("newyear")

    def at(text: str) -> float:
        return newyear.relative(datetime.fromisoformat(text).replace(tzinfo=JST))

    assert at("2027-01-01T00:30") > 0.99 and at("2026-12-31T22:00") > at("2026-12-31T05:00") * 3
    assert at("2027-01-01T00:30") > at("2026-12-31T22:00") > at("2026-12-28T22:00")  # busier as the holidays go on
    assert at("2026-12-28T08:59") == 0.0 and at("2027-01-04T12:00") == 0.0  # outside Dec 28 09:00 – Jan 4 12:00


def test_the_may_campaign_steps_the_rate_to_five_times() -> None:
    may = calendar("may")
    before = may.relative(datetime(2027, 5, 17, 9, 59, tzinfo=JST))
    after = may.relative(datetime(2027, 5, 17, 10, 0, tzinfo=JST))
    assert abs(after / before - 5.0) < 0.05
    assert may.relative(datetime(2027, 5, 18, 22, tzinfo=JST)) > may.relative(datetime(2027, 5, 22, 22, tzinfo=JST))  # weekday evening


def test_arrivals_follow_the_target_rate() -> None:
    newyear = calendar("newyear")
    timeline = Timeline(newyear, epoch0=1000.0, speed=speed_for(newyear, 120), peak=20.0)
    expected = timeline.expected(timeline.epoch0, timeline.epoch_end)
    counts = [sum(1 for _ in arrivals(timeline, random.Random(seed), start=0.0, share=0.5)) for seed in range(2)]
    assert abs(sum(counts) - expected) < 4 * expected**0.5  # two processes at half the rate make the whole


def test_a_line_held_after_the_drain_is_one_held_in_two_readings_not_a_callback_try_claimed_and_given_back(one_redis_url: str) -> None:
    client = redis.Redis.from_url(one_redis_url, decode_responses=True)
    held, tried = slot_key("held-window", "voice"), slot_key("tried-window", "voice")
    client.zadd(held, {"CA-left-behind": 10**13})
    stop = threading.Event()

    def callback_tries() -> None:  # the service trying a booked callback: claims (until a lease from now), is refused, gives back
        while not stop.is_set():
            client.zadd(tried, {"callback:7": time.time() * 1000 + 60_000})
            time.sleep(0.01)
            client.zrem(tried, "callback:7")
            time.sleep(0.01)

    trying = threading.Thread(target=callback_tries)
    trying.start()
    try:
        lasting = lasting_leases(client, VOICE_SLOTS, apart=0.3)
    finally:
        stop.set()
        trying.join()
        client.delete(held, tried)
        client.close()
    assert lasting == {held: 1}
