"""The routing engine: who can take this contact, here, now? A pure function of its inputs.

decide_route(snapshot, contact, now, load) → a Decision: the ordered candidates with the
reason for each, or, when there is none, why (all full, or all closed with the next
opening per tier). No I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from types import MappingProxyType
from typing import Literal

from referral_directory.hours import is_open_at, next_opening, open_until
from referral_directory.snapshot import MATCH_RANK, Reach, ServiceEntry, Snapshot

Policy = Literal["trial", "local-first"]
Outcome = Literal["route", "all_full", "all_closed", "no_service"]

TIER_ORDER: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "trial": ("national", "prefecture", "municipal"),
        "local-first": ("municipal", "prefecture", "national"),
    }
)


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


@dataclass(frozen=True, slots=True)
class Candidate:
    service_id: str
    name: str
    organization: str
    tier: str
    match: str  # how its area reached the caller: nation, prefecture, designated_city, municipality
    open_until: datetime | None  # None: open around the clock
    free_slots: int
    capacity: int
    phones: tuple[str, ...]
    sns_url: str


@dataclass(frozen=True, slots=True)
class NextOpening:
    tier: str
    at: datetime
    service_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    policy: Policy
    candidates: tuple[Candidate, ...] = ()
    full: tuple[str, ...] = ()  # open services with no free slot
    closed: tuple[str, ...] = ()  # services that would match but are closed now
    next_openings: tuple[NextOpening, ...] = ()  # per tier, in policy order; only when nothing is open


def decide_route(snapshot: Snapshot, contact: Contact, now: datetime, load: Load, policy: Policy = "trial") -> Decision:
    """Return the ordered candidates for a contact at an instant under live load, or why there are none."""
    reaches = matching_services(snapshot, contact)
    if not reaches:
        return Decision(outcome="no_service", policy=policy)
    tier_rank = {tier: i for i, tier in enumerate(TIER_ORDER[policy])}
    open_now: list[tuple[Reach, int]] = []
    full: list[str] = []
    closed: list[Reach] = []
    for reach in reaches:
        entry = reach.entry
        if not is_open_at(entry.hours, now, snapshot.holidays):
            closed.append(reach)
            continue
        free = entry.capacity.get(contact.channel, 0) - load.in_use.get(entry.id, 0)
        if free > 0:
            open_now.append((reach, free))
        else:
            full.append(entry.id)
    closed_ids = tuple(r.entry.id for r in closed)
    if open_now:
        ordered = _order(open_now, tier_rank, load.rotation)
        candidates = tuple(_candidate(reach, free, contact.channel, now, snapshot) for reach, free in ordered)
        return Decision(outcome="route", policy=policy, candidates=candidates, full=tuple(full), closed=closed_ids)
    if full:
        return Decision(outcome="all_full", policy=policy, full=tuple(full), closed=closed_ids)
    return Decision(
        outcome="all_closed", policy=policy, closed=closed_ids, next_openings=_next_openings(closed, now, snapshot, tier_rank)
    )


def matching_services(snapshot: Snapshot, contact: Contact) -> tuple[Reach, ...]:
    """Return the services whose topic, channel and area reach the contact, each once, at its most specific match."""
    bucket = snapshot.bucket(contact.channel, contact.topic)
    found: dict[str, Reach] = {}
    groups = [bucket.nation]
    if contact.prefecture is not None:
        groups.append(bucket.prefecture.get(contact.prefecture, ()))
    if contact.municipality is not None:
        groups.append(bucket.municipality.get(contact.municipality, ()))
    for group in groups:
        for reach in group:
            seen = found.get(reach.entry.id)
            if seen is None or MATCH_RANK[reach.match] > MATCH_RANK[seen.match]:
                found[reach.entry.id] = reach
    return tuple(found.values())


def _order(open_now: list[tuple[Reach, int]], tier_rank: Mapping[str, int], rotation: int) -> list[tuple[Reach, int]]:
    """Tier by policy, then most free slots; equals rotate by the rotation counter."""
    ranked = sorted(open_now, key=lambda item: (tier_rank.get(item[0].entry.tier, 9), -item[1], item[0].entry.id))
    ordered: list[tuple[Reach, int]] = []
    for _, group in groupby(ranked, key=lambda item: (tier_rank.get(item[0].entry.tier, 9), item[1])):
        equals = list(group)
        shift = rotation % len(equals)
        ordered.extend(equals[shift:] + equals[:shift])
    return ordered


def _candidate(reach: Reach, free: int, channel: str, now: datetime, snapshot: Snapshot) -> Candidate:
    entry: ServiceEntry = reach.entry
    return Candidate(
        service_id=entry.id,
        name=entry.name,
        organization=entry.organization,
        tier=entry.tier,
        match=reach.match,
        open_until=open_until(entry.hours, now, snapshot.holidays),
        free_slots=free,
        capacity=entry.capacity.get(channel, 0),
        phones=entry.phones,
        sns_url=entry.sns_url,
    )


def _next_openings(closed: list[Reach], now: datetime, snapshot: Snapshot, tier_rank: Mapping[str, int]) -> tuple[NextOpening, ...]:
    soonest: dict[str, NextOpening] = {}
    for reach in closed:
        entry = reach.entry
        at = next_opening(entry.hours, now, snapshot.holidays)
        if at is None:
            continue
        best = soonest.get(entry.tier)
        if best is None or (at, entry.id) < (best.at, best.service_id):
            soonest[entry.tier] = NextOpening(tier=entry.tier, at=at, service_id=entry.id, name=entry.name)
    return tuple(sorted(soonest.values(), key=lambda n: tier_rank.get(n.tier, 9)))
