"""The contact core: its pure rules, table-driven, and the switchboard on a real Redis (both backends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from builders import make_records, make_schedule, make_service
from redis.asyncio import Redis

from referral_directory.hours import JST
from referral_directory.records import derived_id
from referral_directory.snapshot import Snapshot, build_snapshot
from routing.contacts.rules import fitting, likely_wait_minutes, may_take_a_line, queue_name, waiting_ahead, wider_topic
from routing.contacts.switchboard import Switchboard
from routing.engine import Contact, Load, decide_route
from routing.live.state import LiveState, QueueView
from routing.settings import Settings

NOW = datetime(2026, 6, 3, 10, 0, tzinfo=JST)  # a Wednesday, inside office hours
MIND = Contact(topic="general", channel="voice")


def service(name: str, *, capacity: int = 2, phones: bool = True, channels: tuple[str, ...] = ("voice",), sns: int = 0):
    """A national general service open on weekdays 9-17 with `capacity` voice lines (and `sns` chats)."""
    service_id = derived_id("test_contacts", name)
    fields = {"id": service_id, "name": name, "channels": channels, "capacity": (("voice", capacity), ("sns", sns))[: len(channels)]}
    if not phones:
        fields["phones"] = ()
    return make_service(**fields)


def snapshot_of(regions, *services) -> Snapshot:
    return build_snapshot(make_records(*services), regions, version=1, holidays=frozenset(), built_at=NOW)


@pytest.fixture
async def board(redis_url: str) -> AsyncIterator[Switchboard]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield Switchboard(LiveState(redis), Settings(slot_lease_seconds=60))
    await redis.aclose()


# --- the rules, pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "prefecture", "queue"), [("mind", "13", "mind:13"), ("crisis", None, "crisis:00"), ("general", "01", "general:01")]
)
def test_a_contact_waits_in_one_queue_per_topic_and_prefecture(topic: str, prefecture: str | None, queue: str) -> None:
    assert queue_name(topic, prefecture) == queue


@pytest.mark.parametrize(
    ("place", "waiting", "yields", "free", "takes"),
    [
        (None, 0, False, 1, True),  # nobody waits: a new call takes the free line
        (None, 3, False, 1, True),  # a new call does not wait anywhere yet: it does not yield
        (None, 3, True, 1, False),  # a callback yields to the three callers on the line
        (None, 3, True, 4, True),  # ... unless there are lines for them all and for it
        (0, 2, False, 1, True),  # first in the queue takes the one free line
        (1, 2, False, 1, False),  # second waits for the first
        (1, 2, False, 2, True),  # two free lines: first and second both go
        (0, 1, False, 0, False),  # no free line at all
    ],
)
def test_first_come_first_served(place: int | None, waiting: int, yields: bool, free: int, takes: bool) -> None:
    assert may_take_a_line(ahead=waiting_ahead(place, waiting, yields=yields), free=free) is takes


@pytest.mark.parametrize(
    ("topic", "outcome", "via", "wider"),
    [
        ("mind", "all_closed", None, "general"),  # its windows are closed: the general lines, at once
        ("mind", "no_service", None, "general"),  # nobody takes it for this place: the general lines
        ("crisis", "all_closed", None, "general"),  # even the crisis lines' night off goes to a human
        ("violence", "all_full", None, None),  # open but busy: it waits for its own lines, which stay first for it
        ("crisis", "all_full", None, None),
        ("mind", "route", None, None),  # a window of its own is free
        ("general", "all_closed", None, None),  # the general lines are the widest: nothing is wider
        ("mind", "all_closed", "general", None),  # the general lines were tried already: only once
        ("foreign", "no_service", None, "general"),
    ],
)
def test_nobody_is_told_closed_while_the_general_lines_may_take_them(topic: str, outcome: str, via: str | None, wider: str | None) -> None:
    assert wider_topic(topic, outcome, via=via) == wider


@pytest.mark.parametrize(("position", "lines", "minutes"), [(1, 4, 3), (1, 0, 12), (8, 4, 24), (1, 100, 1), (3, 1, 36)])
def test_the_likely_wait_is_whole_minutes_and_never_zero(position: int, lines: int, minutes: int) -> None:
    assert likely_wait_minutes(position, lines, minutes_per_contact=12) == minutes


def test_a_call_is_offered_only_untried_services_that_have_a_phone_number_a_chat_needs_none(regions) -> None:
    with_phone, without, tried = service("電話あり"), service("電話なし", phones=False, channels=("voice", "sns"), sns=1), service("試した")
    snapshot = snapshot_of(regions, with_phone, without, tried)
    decision = decide_route(snapshot, MIND, NOW, Load())
    assert {c.service_id for c in decision.candidates} == {with_phone.id, without.id, tried.id}
    assert [c.service_id for c in fitting(decision.candidates, tried={tried.id}, channel="voice")] == [with_phone.id]
    chat = decide_route(snapshot, Contact(topic="general", channel="sns"), NOW, Load())
    assert [c.service_id for c in fitting(chat.candidates, tried=(), channel="sns")] == [without.id]


# --- the switchboard on live state -------------------------------------------------------------------


async def test_offers_fill_a_service_to_its_capacity_and_no_further(board: Switchboard, regions) -> None:
    only = service("ひとつ", capacity=2)
    snapshot = snapshot_of(regions, only)
    first = await board.offer(snapshot, MIND, NOW, holder="call-1", queue=None)
    second = await board.offer(snapshot, MIND, NOW, holder="call-2", queue=None)
    third = await board.offer(snapshot, MIND, NOW, holder="call-3", queue=None)
    assert first.line is not None and first.line.service_id == only.id and second.line is not None
    assert third.line is None and third.decision.outcome == "all_full"
    assert await board.live.slots_in_use([only.id]) == {only.id: 2}

    assert await board.release(only.id, holder="call-1")
    assert not await board.release(only.id, holder="call-1"), "released once"
    again = await board.offer(snapshot, MIND, NOW, holder="call-3", queue=None)
    assert again.line is not None


async def test_many_offers_at_once_never_exceed_capacity(board: Switchboard, regions) -> None:
    a, b = service("A", capacity=2), service("B", capacity=1)
    snapshot = snapshot_of(regions, a, b)
    offers = await asyncio.gather(*(board.offer(snapshot, MIND, NOW, holder=f"call-{n}", queue=None) for n in range(12)))
    held = [o.line.service_id for o in offers if o.line is not None]
    assert sorted(held) == sorted([a.id, a.id, b.id])
    assert await board.live.slots_in_use([a.id, b.id]) == {a.id: 2, b.id: 1}


async def test_a_waiting_contact_takes_a_line_only_when_those_ahead_of_it_cannot_use_them_all(board: Switchboard, regions) -> None:
    only = service("ひとつ", capacity=1)
    snapshot = snapshot_of(regions, only)
    queue = queue_name("general", None)
    assert await board.join_queue(queue, holder="early", since=1.0) == 1
    assert await board.join_queue(queue, holder="late", since=2.0) == 2
    assert await board.join_queue(queue, holder="early", since=3.0) == 1, "a place is kept"

    late = await board.offer(snapshot, MIND, NOW, holder="late", queue=queue)
    assert late.line is None and late.queue == QueueView(place=1, waiting=2)
    callback = await board.offer(snapshot, MIND, NOW, holder="callback:r1", queue=queue, yields=True)
    assert callback.line is None, "a callback lets the callers on the line go first"
    early = await board.offer(snapshot, MIND, NOW, holder="early", queue=queue)
    assert early.line is not None and early.queue.place == 0


async def test_services_tried_since_the_last_wait_are_left_out(board: Switchboard, regions) -> None:
    a, b = service("A"), service("B")
    snapshot = snapshot_of(regions, a, b)
    offer = await board.offer(snapshot, MIND, NOW, holder="call-1", queue=None, tried={a.id})
    assert offer.line is not None and offer.line.service_id == b.id
    none_left = await board.offer(snapshot, MIND, NOW, holder="call-2", queue=None, tried={a.id, b.id})
    assert none_left.line is None


async def test_a_transfer_claims_its_chosen_window_within_capacity_and_chats_have_their_own_slots(board: Switchboard, regions) -> None:
    both = service("両方", capacity=1, channels=("voice", "sns"), sns=1)
    entry = snapshot_of(regions, both).services[both.id]
    assert await board.claim(entry, holder="call-1", channel="voice")
    assert not await board.claim(entry, holder="call-2", channel="voice"), "its one line is taken"
    assert await board.claim(entry, holder="chat-1", channel="sns"), "a chat holds a chat slot, not a line"
    assert await board.live.slots_in_use([both.id], "sns") == {both.id: 1}


async def test_the_preview_look_does_not_advance_the_rotation_a_contact_does(board: Switchboard, regions) -> None:
    a, b = service("A"), service("B")
    snapshot = snapshot_of(regions, a, b)
    looks = [(await board.look(snapshot, MIND, NOW, rotate=False))[0].candidates[0].service_id for _ in range(3)]
    assert len(set(looks)) == 1
    firsts = [(await board.look(snapshot, MIND, NOW))[0].candidates[0].service_id for _ in range(2)]
    assert set(firsts) == {a.id, b.id}, "equals take turns"


async def test_a_contact_whose_topic_is_closed_is_offered_the_general_lines_and_told_when_its_own_open(board: Switchboard, regions) -> None:
    evening = make_service(
        id=derived_id("test_contacts", "evening"),
        name="夜のこころ窓口",
        topics=("mind",),
        schedules=(make_schedule(id=derived_id("test_contacts", "evening", "hours"), opens_at="18:00", closes_at="22:00"),),
    )
    general = service("総合")
    snapshot = snapshot_of(regions, evening, general)
    widened = await board.look_widened(snapshot, Contact(topic="mind", channel="voice"), NOW)
    assert (widened.via, widened.own.outcome, widened.decision.outcome) == ("general", "all_closed", "route")
    assert [c.service_id for c in widened.decision.candidates] == [general.id]
    assert [(o.service_id, o.at.hour) for o in widened.openings] == [(evening.id, 18)], "they are told when their own topic opens"

    night = datetime(2026, 6, 3, 23, 0, tzinfo=JST)  # both closed: nothing wider, and their own topic's opening is what they hear
    closed = await board.look_widened(snapshot, Contact(topic="mind", channel="voice"), night)
    assert (closed.via, closed.decision.outcome) == ("general", "all_closed")
    assert [(o.service_id, o.at.day, o.at.hour) for o in closed.openings] == [(evening.id, 4, 18)]

    own = await board.look_widened(snapshot, Contact(topic="general", channel="voice"), NOW)
    assert (own.via, own.decision) == (None, own.own)
