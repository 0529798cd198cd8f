"""The chat side of the surge drill, its pure parts: chat arrivals per shape, the people on LINE, the message count, the SNS gates."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta

from test_surge_gates import clean_facts

from loadtests.surge.chat_gates import ChatFacts, MessageCheck, chat_gates, count_messages
from loadtests.surge.chat_world import FAREWELLS, STILL_HERE, ChatParams, ChatPerson, heard, written_postal_code
from loadtests.surge.gates import evaluate
from loadtests.surge.shapes import JST, MAY_CAMPAIGN_LAUNCH, NEW_YEAR_MIDNIGHT, Timeline, calendar, chat_arrivals, chat_boost, speed_for
from loadtests.surge.staff import chat_counsellors
from referral_directory.regions import Regions
from routing.chats import wording
from routing.chats.crisis_words import CrisisWords
from routing.chats.intake import Ask, Said, advance, begin

# --- chat arrivals per shape ---------------------------------------------------------------------


def test_new_years_night_brings_a_chat_spike_after_midnight_and_not_before() -> None:
    before, after = NEW_YEAR_MIDNIGHT - timedelta(minutes=30), NEW_YEAR_MIDNIGHT + timedelta(hours=1, minutes=30)
    assert chat_boost("newyear", before) == 1.0 and chat_boost("newyear", NEW_YEAR_MIDNIGHT - timedelta(days=2)) == 1.0
    assert chat_boost("newyear", after) > 2.0  # more than twice the share of the calls
    assert chat_boost("newyear", after + timedelta(hours=6)) < 1.05  # over by dawn


def test_may_s_campaign_launch_brings_a_chat_burst_that_fades() -> None:
    assert chat_boost("may", MAY_CAMPAIGN_LAUNCH - timedelta(minutes=1)) == 1.0
    assert chat_boost("may", MAY_CAMPAIGN_LAUNCH) == 3.0
    assert abs(chat_boost("may", MAY_CAMPAIGN_LAUNCH + timedelta(hours=6)) - 2.0) < 1e-9  # half the burst six hours on
    assert chat_boost("may", MAY_CAMPAIGN_LAUNCH + timedelta(days=3)) < 1.01


def test_chats_follow_the_calendar_at_their_share_of_the_calls() -> None:
    newyear = calendar("newyear")
    timeline = Timeline(newyear, epoch0=1000.0, speed=speed_for(newyear, 120), peak=20.0)
    quiet = timeline.epoch(datetime(2026, 12, 30, 15, tzinfo=JST))
    assert abs(timeline.chat_rate(quiet, 0.3) - 0.3 * timeline.rate(quiet)) < 1e-9
    spike = timeline.epoch(NEW_YEAR_MIDNIGHT + timedelta(hours=1, minutes=30))
    assert timeline.chat_rate(spike, 0.3) > 2 * 0.3 * timeline.rate(spike)
    assert timeline.chat_rate(timeline.epoch_end + 1, 0.3) == 0.0


def test_chat_arrivals_follow_their_target_rate_in_every_shape() -> None:
    for name in ("newyear", "may"):
        whole = calendar(name)
        timeline = Timeline(whole, epoch0=1000.0, speed=speed_for(whole, 120), peak=20.0)
        expected = timeline.expected_chats(timeline.epoch0, timeline.epoch_end, 0.3)
        counts = [sum(1 for _ in chat_arrivals(timeline, random.Random(seed), start=0.0, chat_share=0.3, share=0.5)) for seed in range(2)]
        assert abs(sum(counts) - expected) < 4 * expected**0.5, name  # two processes at half the rate make the whole


def test_the_may_chat_burst_is_in_the_arrivals() -> None:
    may = calendar("may")
    timeline = Timeline(may, epoch0=0.0, speed=speed_for(may, 360), peak=50.0)
    launch = timeline.epoch(MAY_CAMPAIGN_LAUNCH)
    times = list(chat_arrivals(timeline, random.Random(3), start=0.0, chat_share=0.3))
    before = sum(1 for t in times if launch - 10 <= t < launch)
    after = sum(1 for t in times if launch <= t < launch + 10)
    assert after > 6 * max(1, before)  # five times the calls, at three times their chat share: some sixteen times the chats


# --- the people on LINE --------------------------------------------------------------------------


def test_what_a_person_reads_is_told_apart() -> None:
    for english in (False, True):
        assert heard(wording.joined(english=english), ()) == "joined"
        assert heard(wording.goodbye(english=english), ()) == "goodbye"
        assert heard(wording.idle_check(english=english), ()) == "idle_check"
        assert heard(wording.idle_close(english=english), ()) == "idle_close"
        assert heard(wording.waiting(3, 12, [("総合窓口", "+81312345678")], english=english), ()) == "waiting"
        assert heard(wording.transferred("東京都 窓口", english=english), ()) == "transferred"
        assert heard(wording.own_sns("窓口", "https://sns.example.jp/q", [], english=english), ()) == "no_window"
        assert heard(wording.closed([], [], english=english), ()) == "no_window"
        assert heard(wording.crisis_ack(english=english), ()) == "info"
    assert heard("なんでも", ("topic:life", "topic:mind")) == "topic"
    assert heard("なんでも", ("postal:unknown", "crisis")) == "postal"
    assert heard("なんでも", ("pref:13", "pref:11", "pref:unknown", "crisis")) == "prefecture"
    assert heard("なんでも", ("age:18-29", "crisis")) == "age"
    assert heard("そうだったんですね。", ()) == "staff"


def test_postal_codes_are_typed_the_ways_people_type_them() -> None:
    written = {written_postal_code("1000001", style) for style in range(4)}
    assert written == {"1000001", "100-0001", "１００－０００１", "〒100-0001"}
    assert {unicodedata.normalize("NFKC", w).removeprefix("〒").replace("-", "") for w in written} == {"1000001"}


def test_nothing_a_person_writes_by_the_way_raises_their_band() -> None:
    from loadtests.surge.chat_world import COUNSELLOR_LINES, FIRST_WORDS, TALKING_WORDS, WAITING_WORDS

    words = CrisisWords()
    assert all(words.band_of(text) is None for text in (*FIRST_WORDS, *WAITING_WORDS, *TALKING_WORDS, *FAREWELLS, STILL_HERE))
    assert all(words.band_of(text) is None for text in COUNSELLOR_LINES)


def said_of(action: tuple[str, str]) -> Said:
    kind, value = action
    return {"tap": Said(choice=value, kind="postback"), "say": Said(text=value), "sticker": Said(kind="sticker")}[kind]


def shown(asks: list[Ask]) -> list[tuple[str, list[str]]]:
    return [(a.text, [data for _, data in a.quick]) for a in asks]


def test_a_person_answers_the_real_intake_waits_talks_and_waits_for_the_goodbye(regions: Regions) -> None:
    params = ChatParams(plans={"goodbye": 1.0}, crisis_words=0.0, sticker=1.0, follow_first=1.0)
    person = ChatPerson(params, random.Random(7), ["1000001"], talk_seconds=20.0)
    assert person.start(0.0) == [("follow", "")]
    intake, asks = begin("line")
    now = 0.0
    for _ in range(12):  # the questions, with a sticker the intake cannot read among them
        actions = person.hear(shown(asks), now)
        assert len(actions) == 1, actions
        intake, asks = advance(intake, said_of(actions[0]), regions=regions, words=CrisisWords())
        now += 0.5
        if intake.step == "done":
            break
    assert intake.step == "done" and intake.topic == person.topic and person.stickers_sent == 1
    assert person.hear([(wording.waiting(2, 5, []), [])], now) == [] and person.state == "waiting"
    assert person.next_deadline() <= now + params.seconds(0.6 * params.idle_minutes)  # they write while they wait
    assert person.hear([(wording.joined(), [])], now + 1) == [] and person.reached_human
    talk_over = now + 1 + 20.0
    written = [a for t in range(int(now) + 2, int(talk_over)) for a in person.tick(float(t))]
    assert all(kind == "say" for kind, _ in written)  # now and then, never too long silent
    farewell = person.tick(talk_over)
    assert farewell and farewell[0][1] in FAREWELLS and person.state == "leaving"
    assert person.hear([(wording.goodbye(), [])], talk_over + 1) == []
    assert person.outcome == "goodbye" and not person.left_open


def test_crisis_words_in_the_first_message_end_the_questions_asked_with_their_answer(regions: Regions) -> None:
    params = ChatParams(crisis_words=1.0, sticker=0.0)
    person = next(p for seed in range(40) if (p := ChatPerson(params, random.Random(seed), [], 5.0)).start(0.0)[0][0] == "say")
    assert person.crisis_sent
    intake, asks = begin("line")
    intake, more = advance(intake, Said(text="もう死にたい"), regions=regions, words=CrisisWords())
    assert intake.band == "crisis" and intake.step == "done"
    actions = person.hear(shown([*asks, *more]) + [(wording.waiting(1, 1, []), [])], 0.1)
    assert actions == [] and person.state == "waiting"  # the topic question came before the crisis words' answer: left unanswered


def test_people_who_block_or_go_quiet_do_so_mid_wait() -> None:
    for plan, outcome, actions in (("unfollow", "unfollowed", [("unfollow", "")]), ("quiet", "quiet", [])):
        person = ChatPerson(ChatParams(plans={plan: 1.0}, patience_minutes=1e6), random.Random(1), [], talk_seconds=5.0)
        person.start(0.0)
        person.hear([(wording.waiting(4, 10, []), [])], 1.0)
        leave = person.deadlines["leave"]
        done = [a for t in range(2, int(leave) + 2) for a in person.tick(float(t)) if a[0] != "say"]
        assert done == actions and person.outcome == outcome
        assert person.left_open == (plan == "quiet")


def test_someone_still_there_answers_the_idle_check() -> None:
    person = ChatPerson(ChatParams(plans={"goodbye": 1.0}), random.Random(1), [], talk_seconds=60.0)
    person.start(0.0)
    person.hear([(wording.joined(), [])], 1.0)
    assert person.hear([(wording.idle_check(), [])], 2.0) == [("say", STILL_HERE)]


def test_the_services_chat_timers_are_given_on_the_drills_scale() -> None:
    env = ChatParams(minute=0.25).service_env(speed=1200.0)
    # 20 chat minutes are 5 real s, which the service's clock (×1200) counts as 100 minutes; an hour of chat minutes, 300.
    assert env == {
        "TSUNAGU_CHAT_IDLE_MINUTES": "100",
        "TSUNAGU_CHAT_CLOSE_MINUTES": "50",
        "TSUNAGU_CHAT_ROLLOVER_SECONDS": "900",
        "TSUNAGU_CHAT_INTAKE_MINUTES": "300",
    }


def test_console_windows_get_counsellors_to_fill_their_lines_and_one_more() -> None:
    from referral_directory.snapshot import ServiceEntry

    def entry(org: str, channels: tuple[str, ...], sns: int, sns_url: str = "") -> ServiceEntry:
        return ServiceEntry(
            id=f"s-{org}-{sns}",
            name="窓口",
            organization="団体",
            tier="national",
            topics=frozenset({"general"}),
            channels=frozenset(channels),
            capacity={"voice": 3, "sns": sns},
            hours=None,  # type: ignore[arg-type]  # not read
            phones=(),
            sns_url=sns_url,
            areas=(),
            organization_id=org,
        )

    services = [
        entry("a", ("voice", "sns"), 20),
        entry("a", ("voice", "sns"), 3),
        entry("b", ("voice", "sns"), 4, sns_url="https://sns.example.jp/b"),  # its own SNS: no console
        entry("c", ("voice",), 0),
        entry("d", ("voice", "sns"), 1),
    ]
    assert chat_counsellors(services, cap=2) == {"a": 13, "d": 2}


# --- the message count and the SNS gates ---------------------------------------------------------


def test_messages_match_when_every_one_stored_as_sent_arrived_once() -> None:
    stored = {"U1": [("こんにちは", "sent"), ("ボタン", "sent"), ("ボタン", "sent")], "U2": [("さようなら", "sent")]}
    inboxes = {"U1": ["こんにちは", "ボタン", "ボタン"], "U2": ["さようなら"]}
    check = count_messages(stored, inboxes, [], held_back_by_line=0, duplicates=0)
    assert (check.people, check.stored_sent, check.delivered, check.lost, check.extra, dict(check.unsent)) == (2, 4, 4, 0, 0, {})


def test_a_message_lost_or_delivered_twice_is_counted() -> None:
    stored = {"U1": [("こんにちは", "sent"), ("ボタン", "sent")]}
    assert count_messages(stored, {"U1": ["こんにちは"]}, [], held_back_by_line=0, duplicates=0).lost == 1
    assert count_messages(stored, {"U1": ["こんにちは", "ボタン", "ボタン"]}, [], held_back_by_line=0, duplicates=0).extra == 1
    failed = count_messages({"U1": [("こんにちは", "failed")]}, {"U1": []}, [], held_back_by_line=0, duplicates=0)
    assert dict(failed.unsent) == {"failed": 1} and failed.lost == 0


def test_what_line_held_back_from_someone_who_blocked_is_not_lost_but_no_more() -> None:
    stored = {"U1": [("こんにちは", "sent"), ("相談員です", "sent"), ("終わります", "sent"), ("まだ", "blocked")], "U2": [("x", "sent")]}
    inboxes = {"U1": ["こんにちは"], "U2": ["x"]}
    explained = count_messages(stored, inboxes, ["U1"], held_back_by_line=2, duplicates=0)
    assert (explained.lost, explained.held_back, dict(explained.unsent)) == (0, 2, {})
    assert count_messages(stored, inboxes, ["U1"], held_back_by_line=1, duplicates=0).lost == 1


def clean_chats(**changes) -> ChatFacts:
    facts = ChatFacts(
        webhook_requests=400,
        webhook_failures={},
        webhook_p99_ms=40.0,
        first_replies=[0.05, 0.2, 0.4],
        messages=MessageCheck(people=3, stored_sent=30, delivered=30, lost=0, held_back=0, extra=0, duplicates=0, unsent={}),
        sampled_held={"svc-general": 20, "svc-crisis": 3},
        capacities={"svc-general": 20, "svc-crisis": 10},
        held_after_drain={},
        inboxes_after_drain=0,
        open_after_drain={},
        left_open=2,
    )
    return replace(facts, **changes)


def failing_chat_gates(**changes) -> list[str]:
    return [g.name for g in chat_gates(clean_chats(**changes)) if not g.passed]


def test_a_clean_chat_run_passes_the_sns_gates_after_the_voice_gates() -> None:
    gates = evaluate(replace(clean_facts(), chats=clean_chats()))
    assert [g.verdict for g in gates] == ["PASS"] * 12
    assert [g.name for g in gates[6:]] == [
        "no failed LINE webhook",
        "LINE webhook p99",
        "first automated reply p99",
        "no message lost or sent twice",
        "no chat window over capacity_sns",
        "no chat held after drain",
    ]


def test_each_sns_gate_fails_for_what_it_guards() -> None:
    assert failing_chat_gates(webhook_failures={"/line/webhook: answered HTTP 500": 1}) == ["no failed LINE webhook"]
    assert failing_chat_gates(webhook_p99_ms=140.0) == ["LINE webhook p99"]
    assert failing_chat_gates(first_replies=[0.05] * 98 + [1.2] * 2) == ["first automated reply p99"]
    assert failing_chat_gates(first_replies=[0.05] * 50 + [None]) == ["first automated reply p99"]  # one never answered
    lost = MessageCheck(people=3, stored_sent=30, delivered=29, lost=1, held_back=0, extra=0, duplicates=0, unsent={})
    assert failing_chat_gates(messages=lost) == ["no message lost or sent twice"]
    twice = replace(lost, lost=0, delivered=30, duplicates=1)
    assert failing_chat_gates(messages=twice) == ["no message lost or sent twice"]
    assert failing_chat_gates(sampled_held={"svc-crisis": 11}) == ["no chat window over capacity_sns"]
    assert failing_chat_gates(held_after_drain={"tsunagu:slots:svc-crisis:sns": 1}) == ["no chat held after drain"]
    assert failing_chat_gates(open_after_drain={"waiting": 1}) == ["no chat held after drain"]
    assert failing_chat_gates(inboxes_after_drain=1) == ["no chat held after drain"]
    assert failing_chat_gates(webhook_requests=0, first_replies=[]) == ["no failed LINE webhook", "first automated reply p99"]
