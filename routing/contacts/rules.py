"""The contact core's decisions, pure: which queue a contact waits in, who may take a free line, which candidates fit.

Every channel (a call, a callback, a live transfer, a chat) follows these; routing/contacts/switchboard.py
applies them to live state.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from referral_directory.snapshot import Snapshot
from routing.engine import Candidate, Decision

UNKNOWN_PREFECTURE = "00"
GENERAL = "general"  # the general consultation lines: they take anyone, whatever the topic, and some answer around the clock
NOBODY_NOW = frozenset({"all_closed", "no_service"})  # the outcomes where no window of the topic can take the person now


def wider_topic(topic: str, outcome: str, *, via: str | None = None) -> str | None:
    """Return the topic whose windows to try when none of the person's own can take them now: the general lines, once.

    Nobody is told "closed" while a general line that takes them is open: when no window of their
    topic is open (or none serves their place), the general lines are tried at once. A topic whose
    windows are open but busy keeps the person in its own queue, so crisis and violence lines stay
    first for their topics. `via`: the wider topic tried already (None: their own topic's windows
    were tried); nothing is wider than the general lines.
    """
    if outcome in NOBODY_NOW and via is None and topic != GENERAL:
        return GENERAL
    return None


def queue_name(topic: str, prefecture: str | None) -> str:
    """Return the routing key of the queue a contact waits in: one per topic and prefecture ("00" when unknown)."""
    return f"{topic}:{prefecture or UNKNOWN_PREFECTURE}"


def waiting_ahead(place: int | None, waiting: int, *, yields: bool) -> int:
    """Return how many contacts wait ahead of this one.

    Its place when it is in the queue; else everyone waiting if it yields to them, else none.
    """
    if place is not None:
        return place
    return waiting if yields else 0


def may_take_a_line(*, ahead: int, free: int) -> bool:
    """First come, first served across every worker.

    A contact takes a line only when fewer contacts wait ahead of it than lines are free.
    """
    return ahead < free


def fitting(candidates: Sequence[Candidate], *, tried: Collection[str], channel: str) -> list[Candidate]:
    """Return the candidates a contact can be offered.

    Those not tried since it last waited, and reachable on its channel (a call needs a phone number).
    """
    return [c for c in candidates if c.service_id not in tried and (c.phones or channel != "voice")]


def lines_open(decision: Decision, snapshot: Snapshot, channel: str) -> int:
    """Return how many lines the matching services have open now on a channel, free or busy (for the wait estimate)."""
    busy = sum(snapshot.services[i].capacity.get(channel, 0) for i in decision.full)
    return sum(c.capacity for c in decision.candidates) + busy


def likely_wait_minutes(position: int, lines: int, *, minutes_per_contact: int) -> int:
    """Return the likely wait, in whole minutes (at least 1), of the contact at a 1-based position when `lines` lines serve its queue."""
    return max(1, math.ceil(position * minutes_per_contact / max(1, lines)))


# How far ahead of its arrival a chat is placed, by band: crisis before elevated before normal, with
# ageing — a chat that has waited longer than the gap goes before a later one of a higher band, so
# no band waits for ever.
BAND_HEAD_START_MS: dict[str, int] = {"crisis": 30 * 60_000, "elevated": 10 * 60_000, "normal": 0}


def chat_priority(band: str, arrived_ms: int) -> int:
    """Return a waiting chat's place in its window's queue (lower goes first): its arrival, moved ahead by its band's head start."""
    return arrived_ms - BAND_HEAD_START_MS.get(band, 0)
