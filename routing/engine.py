"""The routing engine: who can take this contact, here, now? A pure function of its inputs.

decide_route(snapshot, contact, now, load) → a Decision: the ordered candidates with the
reason for each, or, when there is none, why (all full, or all closed with the next
opening per tier). No I/O, no clock reads.

The order is what a call needs at once; the explanations a person reads (a candidate's
`open_until`, the `next_openings` when everything is closed) are worked out on first use,
from the same inputs, so the webhook does not pay for them.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from itertools import groupby
from types import MappingProxyType
from typing import Final, Literal

from referral_directory.hours import is_open_at, next_opening, open_until
from referral_directory.records import TIERS
from referral_directory.snapshot import MATCH_RANK, Reach, ServiceEntry, Snapshot

Policy = Literal["trial", "local-first"]
Outcome = Literal["route", "all_full", "all_closed", "no_service"]

TIER_ORDER: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "trial": TIERS,  # the trial's chain: national, then prefecture, then municipal
        "local-first": TIERS[::-1],
    }
)
_TIER_RANK: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {policy: MappingProxyType({tier: i for i, tier in enumerate(tiers)}) for policy, tiers in TIER_ORDER.items()}
)


class _Unset(Enum):
    """A lazily worked-out answer not worked out yet (None is an answer)."""

    UNSET = 0


_UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class Contact:
    topic: str
    channel: str = "voice"
    municipality: str | None = None  # 5-digit code (a ward, a municipality, or a designated city)
    prefecture: str | None = None  # 2-digit code; known whenever the municipality is


@dataclass(frozen=True, slots=True)
class Load:
    in_use: Mapping[str, int] = field(default_factory=dict)  # service id → sessions held on this channel
    rotation: int = 0  # advances per decision; rotates services with equal free capacity


class Candidate:
    """One service to try, with why: tier, how its area matched, free slots, and (on first use) until when it is open."""

    # A plain slotted class, not a frozen dataclass: building one is 4x cheaper, and this is the hot path.
    __slots__ = ("entry", "match", "free_slots", "capacity", "_now", "_holidays", "_until")

    def __init__(self, entry: ServiceEntry, match: str, free_slots: int, capacity: int, now: datetime, holidays: Container[date]) -> None:
        self.entry, self.match, self.free_slots, self.capacity = entry, match, free_slots, capacity
        self._now, self._holidays = now, holidays
        self._until: datetime | None | Literal[_Unset.UNSET] = _UNSET

    service_id = property(lambda self: self.entry.id)
    name = property(lambda self: self.entry.name)
    organization = property(lambda self: self.entry.organization)
    tier = property(lambda self: self.entry.tier)
    phones = property(lambda self: self.entry.phones)
    sns_url = property(lambda self: self.entry.sns_url)

    @property
    def open_until(self) -> datetime | None:
        """When this service closes (JST); None when it is open around the clock."""
        if self._until is _UNSET:
            self._until = _open_until(self.entry, self._now, self._holidays)
        return self._until

    def _key(self) -> tuple[object, ...]:
        return (self.service_id, self.match, self.free_slots, self.capacity, self._now)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Candidate({self.name!r}, tier={self.tier}, match={self.match}, free={self.free_slots}/{self.capacity})"


@dataclass(frozen=True, slots=True)
class NextOpening:
    tier: str
    at: datetime
    service_id: str
    name: str


class Decision:
    """The outcome, the ordered candidates, and the services left out (full or closed)."""

    __slots__ = ("outcome", "policy", "candidates", "full", "_closed", "_now", "_holidays", "_next")

    def __init__(
        self,
        outcome: Outcome,
        policy: Policy,
        candidates: tuple[Candidate, ...] = (),
        full: tuple[str, ...] = (),
        closed: tuple[Reach, ...] = (),
        now: datetime | None = None,
        holidays: Container[date] = (),
    ) -> None:
        self.outcome, self.policy, self.candidates, self.full = outcome, policy, candidates, full
        self._closed, self._now, self._holidays = closed, now, holidays
        self._next: tuple[NextOpening, ...] | Literal[_Unset.UNSET] = _UNSET

    @property
    def closed(self) -> tuple[str, ...]:
        """The ids of matching services that are closed now."""
        return tuple(reach.entry.id for reach in self._closed)

    @property
    def next_openings(self) -> tuple[NextOpening, ...]:
        """The soonest opening per tier, in policy order; only when nothing is open."""
        if self._next is _UNSET:
            now = self._now  # given with every outcome but no_service
            self._next = (
                _next_openings(self._closed, now, self._holidays, self.policy) if self.outcome == "all_closed" and now is not None else ()
            )
        return self._next

    def _key(self) -> tuple[object, ...]:
        return (self.outcome, self.policy, self.candidates, self.full, self.closed, self._now)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Decision({self.outcome}, policy={self.policy}, candidates={list(self.candidates)}, "
            f"full={len(self.full)}, closed={len(self._closed)})"
        )


def decide_route(snapshot: Snapshot, contact: Contact, now: datetime, load: Load, policy: Policy = "trial") -> Decision:
    """Return the ordered candidates for a contact at an instant under live load, or why there are none."""
    reaches = snapshot.reaching(contact.channel, contact.topic, contact.prefecture, contact.municipality)
    if not reaches:
        return Decision("no_service", policy)
    holidays, channel, in_use = snapshot.holidays, contact.channel, load.in_use
    open_now: list[tuple[Reach, int]] = []
    full: list[str] = []
    closed: list[Reach] = []
    for reach in reaches:
        entry = reach.entry
        if not is_open_at(entry.hours, now, holidays):
            closed.append(reach)
            continue
        free = entry.capacity.get(channel, 0) - in_use.get(entry.id, 0)
        if free > 0:
            open_now.append((reach, free))
        else:
            full.append(entry.id)
    if open_now:
        candidates = tuple(
            Candidate(reach.entry, reach.match, free, reach.entry.capacity.get(channel, 0), now, holidays)
            for reach, free in _order(open_now, policy, load.rotation)
        )
        return Decision("route", policy, candidates, tuple(full), tuple(closed), now, holidays)
    return Decision("all_full" if full else "all_closed", policy, (), tuple(full), tuple(closed), now, holidays)


def matching_services(snapshot: Snapshot, contact: Contact) -> tuple[Reach, ...]:
    """Return the services whose topic, channel and area reach the contact, each once, at its most specific match."""
    return snapshot.reaching(contact.channel, contact.topic, contact.prefecture, contact.municipality)


def _order(open_now: list[tuple[Reach, int]], policy: Policy, rotation: int) -> list[tuple[Reach, int]]:
    """Tier by policy, then most free slots; equals rotate by the rotation counter.

    Under local-first, "local" also orders within a tier: the caller's own municipality
    before a designated city's service covering all its wards, whatever the free slots.
    """
    tier_rank = _TIER_RANK[policy]
    local = policy == "local-first"

    def rank(item: tuple[Reach, int]) -> tuple[int, int, int]:
        return tier_rank.get(item[0].entry.tier, 9), -MATCH_RANK[item[0].match] if local else 0, -item[1]

    if len(open_now) == 1:
        return open_now
    ranked = sorted(open_now, key=lambda item: (*rank(item), item[0].entry.id))
    ordered: list[tuple[Reach, int]] = []
    for _, group in groupby(ranked, key=rank):
        equals = list(group)
        shift = rotation % len(equals)
        ordered.extend(equals[shift:] + equals[:shift])
    return ordered


def _next_openings(closed: tuple[Reach, ...], now: datetime, holidays: Container[date], policy: Policy) -> tuple[NextOpening, ...]:
    tier_rank = _TIER_RANK[policy]
    soonest: dict[str, NextOpening] = {}
    for reach in closed:
        entry = reach.entry
        at = _next_opening(entry, now, holidays)
        if at is None:
            continue
        best = soonest.get(entry.tier)
        if best is None or (at, entry.id) < (best.at, best.service_id):
            soonest[entry.tier] = NextOpening(tier=entry.tier, at=at, service_id=entry.id, name=entry.name)
    return tuple(sorted(soonest.values(), key=lambda n: tier_rank.get(n.tier, 9)))


# open_until and next_opening are memoised per service with the span of instants they hold
# for, so that a busy evening asks the calendar once per service, not once per contact: a
# service open at t until u stays open until u for every instant of [t, u); a service closed
# at t that next opens at u next opens at u for every instant of [t, u). The memo never
# changes an answer, so decide_route stays a function of its inputs.


def _open_until(entry: ServiceEntry, now: datetime, holidays: Container[date]) -> datetime | None:
    span = entry.memo.get("open")
    if span is not None and span[0] <= now < span[1]:
        return span[1]
    until = open_until(entry.hours, now, holidays)
    if until is not None:
        entry.memo["open"] = (now, until)
    return until


def _next_opening(entry: ServiceEntry, now: datetime, holidays: Container[date]) -> datetime | None:
    span = entry.memo.get("closed")
    if span is not None and span[0] <= now < span[1]:
        return span[1]
    at = next_opening(entry.hours, now, holidays)
    if at is not None and at > now:
        entry.memo["closed"] = (now, at)
    return at
