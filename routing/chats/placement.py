"""Where a chat waits, pure: which window's queue, or a link to a window with its own SNS, or nothing open.

A window answered in tsunagu's console is an open service on the SNS channel without an
`sns_url`; one with an `sns_url` runs its own SNS and is offered as a link. Among console windows
the policy's order holds (the engine's), except that a window whose lines and queue are already
full gives way to the next one that could take the chat sooner.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from referral_directory.snapshot import ServiceEntry, Snapshot
from routing.engine import TIER_ORDER, Contact, Decision, Load, Policy, decide_route

SNS = "sns"
PlacementKind = Literal["queue", "link", "stay", "closed", "none"]
AVERAGE_CHAT_MINUTES = 30  # an SNS consultation's usual length, for the likely wait a person is told
PHONES_SHOWN = 3  # phone lines listed to a waiting person: enough to choose, few enough to read


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a chat goes: `queue` at `window`; `link` to `links` (windows with their own SNS); `stay` where it is
    (every other window was tried); `closed` (nothing open now: see the decision's next openings); `none` (no
    window serves it at all)."""

    kind: PlacementKind
    window: ServiceEntry | None = None
    links: tuple[ServiceEntry, ...] = ()


def open_windows(decision: Decision, snapshot: Snapshot) -> list[tuple[ServiceEntry, int]]:
    """Return every open SNS service of a decision with the chats it holds now, in the policy's order."""
    held = [(c.entry, c.capacity - c.free_slots) for c in decision.candidates]
    rank = {tier: i for i, tier in enumerate(TIER_ORDER[decision.policy])}
    full = sorted((snapshot.services[i] for i in decision.full), key=lambda e: (rank.get(e.tier, 9), e.id))
    return held + [(entry, entry.capacity.get(SNS, 0)) for entry in full]


def place_chat(
    decision: Decision, snapshot: Snapshot, *, waiting: Mapping[str, int], tried: Collection[str] = (), current: str | None = None
) -> Placement:
    """Return where a chat should wait now.

    `waiting`: chats waiting at each window (its queue's length, this chat not counted). `tried`:
    windows it rolled over from. `current`: the window it waits at now, if any (it stays there
    unless another could take it sooner).
    """
    windows = open_windows(decision, snapshot)
    console = [(e, held) for e, held in windows if not e.sns_url and e.id not in tried and e.capacity.get(SNS, 0) > 0]
    links = tuple(e for e, _ in windows if e.sns_url)
    if console:
        return Placement("queue", _soonest(console, waiting, current), links)
    if links:
        return Placement("link", None, links)
    if current is not None or any(not e.sns_url for e, _ in windows):
        return Placement("stay")
    if decision.outcome == "no_service":
        return Placement("none")
    return Placement("closed")


def _soonest(console: Sequence[tuple[ServiceEntry, int]], waiting: Mapping[str, int], current: str | None) -> ServiceEntry:
    """The first window (in policy order) that could take the chat at once; else the one with the shortest wait per line."""
    for entry, held in console:
        if held + waiting.get(entry.id, 0) < entry.capacity[SNS]:
            return entry
    by_wait = {e.id: (held + waiting.get(e.id, 0) + 1) / e.capacity[SNS] for e, held in console}
    best = min(console, key=lambda item: by_wait[item[0].id])[0]
    if current is not None and current in by_wait and by_wait[current] <= by_wait[best.id]:
        return next(e for e, _ in console if e.id == current)
    return best


def phones_open_now(snapshot: Snapshot, contact: Contact, now: datetime, policy: Policy) -> list[tuple[str, str]]:
    """Return the phone lines open now for a chat's topic and place, as (name, number), in the policy's order."""
    voice = Contact(topic=contact.topic, channel="voice", municipality=contact.municipality, prefecture=contact.prefecture)
    decision = decide_route(snapshot, voice, now, Load(), policy)
    return [(c.name, c.phones[0]) for c in decision.candidates if c.phones][:PHONES_SHOWN]
