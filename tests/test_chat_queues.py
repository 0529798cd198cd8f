"""Chats waiting and taken: the priority rule with ageing (pure), where a chat waits (pure), and the queues in real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from builders import make_records, make_service
from redis.asyncio import Redis

from referral_directory.hours import JST
from referral_directory.records import derived_id
from referral_directory.snapshot import Snapshot, build_snapshot
from routing.chats.placement import place_chat
from routing.contacts.rules import BAND_HEAD_START_MS, chat_priority
from routing.engine import Contact, Load, decide_route
from routing.live.chat_queues import ChatQueues, Window
from routing.live.state import LiveState

NOW = datetime(2026, 6, 3, 10, 0, tzinfo=JST)  # a Wednesday, inside office hours
MINUTE = 60_000
CHAT = Contact(topic="general", channel="sns")


# --- the priority rule, pure ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "goes_first"),
    [
        (("normal", 0), ("crisis", 1 * MINUTE), "crisis"),  # crisis goes before a normal chat that came a minute earlier
        (("normal", 0), ("elevated", 5 * MINUTE), "elevated"),
        (("elevated", 0), ("crisis", 10 * MINUTE), "crisis"),
        (("normal", 0), ("normal", 1), "first"),  # equals: first come, first served
        (("normal", 0), ("crisis", 31 * MINUTE), "first"),  # ageing: half an hour of waiting outranks a later crisis
        (("normal", 0), ("elevated", 11 * MINUTE), "first"),
    ],
)
def test_chats_go_by_band_then_arrival_and_a_long_wait_outranks_any_band(
    first: tuple[str, int], second: tuple[str, int], goes_first: str
) -> None:
    a, b = chat_priority(*first), chat_priority(*second)
    assert (a < b) == (goes_first == "first")
    assert (b < a) == (goes_first != "first")


def test_no_band_waits_for_ever() -> None:
    """Against a stream of crisis chats arriving every minute, a normal chat is taken within its band's head start."""
    normal = chat_priority("normal", 0)
    later_crises = [chat_priority("crisis", minute * MINUTE) for minute in range(1, 120)]
    overtaking = [p for p in later_crises if p < normal]
    assert len(overtaking) <= BAND_HEAD_START_MS["crisis"] // MINUTE


# --- where a chat waits, pure ----------------------------------------------------------------------------


def window(name: str, *, tier: str = "national", sns: int = 2, own_sns: bool = False):
    """A national general service open on weekdays 9-17, taking calls and `sns` chats (linked to when it has its own SNS)."""
    sid = derived_id("test_chat_queues", name)
    fields = {
        "id": sid,
        "name": name,
        "tier": tier,
        "channels": ("voice", "sns"),
        "capacity": (("voice", 2), ("sns", sns)),
        "sns_url": f"https://sns.example.jp/{sid}" if own_sns else "",
    }
    return make_service(**fields)


def snapshot_of(regions, *services) -> Snapshot:
    return build_snapshot(make_records(*services), regions, version=1, holidays=frozenset(), built_at=NOW)


def decision(snapshot: Snapshot, held: dict[str, int] | None = None):
    return decide_route(snapshot, CHAT, NOW, Load(in_use=held or {}))


def test_a_chat_waits_at_the_first_console_window_in_policy_order(regions) -> None:
    a, b = window("A 窓口"), window("B 窓口")
    snap = snapshot_of(regions, a, b)
    placed = place_chat(decision(snap), snap, waiting={})
    assert placed.kind == "queue" and placed.window is not None and placed.window.id in {a.id, b.id}


def test_a_window_whose_lines_and_queue_are_full_gives_way_to_one_that_could_take_the_chat_sooner(regions) -> None:
    a, b = window("A 窓口", sns=2), window("B 窓口", sns=2)
    snap = snapshot_of(regions, a, b)
    held = {a.id: 2, b.id: 1}  # A is full; B has a line free
    placed = place_chat(decision(snap, held), snap, waiting={a.id: 3})
    assert placed.window is not None and placed.window.id == b.id
    # both full: the shorter wait per line
    placed = place_chat(decision(snap, {a.id: 2, b.id: 2}), snap, waiting={a.id: 5, b.id: 1})
    assert placed.window is not None and placed.window.id == b.id


def test_a_window_with_its_own_sns_is_offered_as_a_link_and_never_queued(regions) -> None:
    own = window("自前SNSの窓口", own_sns=True)
    snap = snapshot_of(regions, own)
    placed = place_chat(decision(snap), snap, waiting={})
    assert placed.kind == "link" and [e.id for e in placed.links] == [own.id]


def test_a_chat_that_tried_every_window_stays_and_nothing_open_says_closed(regions) -> None:
    a = window("A 窓口")
    snap = snapshot_of(regions, a)
    assert place_chat(decision(snap), snap, waiting={}, tried=[a.id]).kind == "stay"
    night = datetime(2026, 6, 3, 22, 0, tzinfo=JST)
    closed = decide_route(snap, CHAT, night, Load())
    assert place_chat(closed, snap, waiting={}).kind == "closed"
    nothing = decide_route(snap, Contact(topic="violence", channel="sns"), NOW, Load())
    assert place_chat(nothing, snap, waiting={}).kind == "none"


# --- the queues in Redis -----------------------------------------------------------------------------------


@pytest.fixture
async def queues(redis_url: str) -> AsyncIterator[ChatQueues]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield ChatQueues(LiveState(redis), lease_ms=60_000)
    await redis.aclose()


async def test_the_next_chat_is_the_best_placed_of_all_the_counsellors_windows(queues: ChatQueues) -> None:
    await queues.enqueue("w1", "normal-early", chat_priority("normal", 0))
    await queues.enqueue("w2", "crisis-late", chat_priority("crisis", 5 * MINUTE))
    await queues.enqueue("w1", "normal-late", chat_priority("normal", MINUTE))
    windows = [Window("w1", 5), Window("w2", 5)]
    taken = [(await queues.take("staff-a", windows, cap=5)).chat_id for _ in range(3)]
    assert taken == ["crisis-late", "normal-early", "normal-late"]
    assert (await queues.take("staff-a", windows, cap=5)).outcome == "none_waiting"


async def test_a_counsellor_never_holds_more_than_their_cap(queues: ChatQueues) -> None:
    for i in range(3):
        await queues.enqueue("w1", f"chat-{i}", chat_priority("normal", i))
    windows = [Window("w1", 10)]
    assert [(await queues.take("staff-a", windows, cap=2)).outcome for _ in range(3)] == ["taken", "taken", "at_cap"]
    assert await queues.waiting("w1") == ["chat-2"], "refused at the cap, the chat keeps its place"
    await queues.let_go("staff-a", "chat-0", "w1")
    assert (await queues.take("staff-a", windows, cap=2)).chat_id == "chat-2"


async def test_a_window_never_carries_more_chats_than_its_capacity_across_concurrent_takers(queues: ChatQueues) -> None:
    for i in range(20):
        await queues.enqueue("w1", f"chat-{i}", chat_priority("normal", i))
    windows = [Window("w1", 3)]
    results = await asyncio.gather(*(queues.take(f"staff-{i}", windows, cap=2) for i in range(10)))
    assert sorted(r.outcome for r in results).count("taken") == 3
    assert {r.outcome for r in results} == {"taken", "windows_full"}
    assert len(await queues.waiting("w1")) == 17


async def test_a_taken_chat_holds_its_line_until_it_is_let_go_and_renewal_keeps_it(queues: ChatQueues) -> None:
    await queues.enqueue("w1", "chat-1", 0)
    taken = await queues.take("staff-a", [Window("w1", 1)], cap=2)
    assert (taken.chat_id, taken.service_id) == ("chat-1", "w1")
    assert await queues.held_by("staff-a") == ["chat-1"]
    assert await queues.renew("staff-a", "chat-1", "w1")
    await queues.enqueue("w1", "chat-2", 1)
    assert (await queues.take("staff-b", [Window("w1", 1)], cap=2)).outcome == "windows_full"
    await queues.let_go("staff-a", "chat-1", "w1")
    assert await queues.held_by("staff-a") == []
    assert not await queues.renew("staff-a", "chat-1", "w1"), "a chat let go is not renewed back to life"
    assert (await queues.take("staff-b", [Window("w1", 1)], cap=2)).chat_id == "chat-2"


async def test_a_rising_band_moves_a_waiting_chat_up_and_the_count_ahead_is_told(queues: ChatQueues) -> None:
    for i in range(3):
        await queues.enqueue("w1", f"chat-{i}", chat_priority("normal", i * MINUTE))
    assert (await queues.place("w1", "chat-2")) == (2, 3)
    await queues.reprioritise("w1", "chat-2", chat_priority("crisis", 2 * MINUTE))
    assert (await queues.place("w1", "chat-2")) == (0, 3)
    assert await queues.ahead("w1", chat_priority("normal", 3 * MINUTE)) == 3
    await queues.reprioritise("w1", "gone", 0)
    assert (await queues.place("w1", "gone")) == (None, 3), "a chat that no longer waits is not put back"
    assert await queues.lengths(["w1", "w2"]) == {"w1": 3, "w2": 0}
