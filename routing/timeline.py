"""One day of routing for one place and topic: which tier and which service answers at which hour. Pure.

day_timeline(snapshot, contact, day, policy_for) steps through the day (JST) at the instants the
opening hours of the services reaching the contact change, and between two of them asks the
routing engine, with no line taken, who would answer: the topic's own windows, or the general
lines when none of those is open (routing/contacts/rules.py wider_topic, the rule calls follow).
It also keeps, per tier, when the topic's windows are open, and when the general lines are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from referral_directory.hours import JST, is_open_at, open_spans
from referral_directory.records import TIERS
from referral_directory.snapshot import Reach, Snapshot
from routing.contacts.rules import GENERAL, wider_topic
from routing.engine import Contact, Load, Policy, decide_route

NO_LOAD = Load()  # the timeline shows who is open, not who is busy: every line counts as free
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Stretch:
    """A stretch of the day during which the row's windows named here are open."""

    start: datetime
    end: datetime
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """When the windows of one tier of the topic (or the general lines: key GENERAL) are open during the day."""

    key: str
    stretches: tuple[Stretch, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """Who a contact reaches first from `start` to `end`: a service and its tier, or nobody (outcome says why)."""

    start: datetime
    end: datetime
    outcome: str  # the routing engine's: route, all_closed, no_service (never all_full: no line is taken)
    tier: str | None
    service_id: str | None
    name: str | None
    via: str | None  # GENERAL when the general lines take the person because their topic's windows are closed


@dataclass(frozen=True, slots=True)
class Timeline:
    day: date
    start: datetime  # the day's first instant, JST
    end: datetime  # the next day's first instant
    rows: tuple[Row, ...]  # one per tier in TIERS order, then the general lines' when the topic is another
    answers: tuple[Answer, ...]  # consecutive, covering the whole day


def day_timeline(snapshot: Snapshot, contact: Contact, day: date, policy_for: Callable[[str], Policy]) -> Timeline:
    """Return who answers a contact at each moment of a day (JST), and when each tier's windows are open."""
    start = datetime.combine(day, time(0), JST)
    end = start + ONE_DAY
    own = snapshot.reaching(contact.channel, contact.topic, contact.prefecture, contact.municipality)
    general = () if contact.topic == GENERAL else snapshot.reaching(contact.channel, GENERAL, contact.prefecture, contact.municipality)
    spans = {reach.entry.id: open_spans(reach.entry.hours, start, end, snapshot.holidays) for reach in (*own, *general)}
    changes = sorted({start, *(moment for found in spans.values() for span in found for moment in span)} - {end})
    bounds = list(zip(changes, [*changes[1:], end], strict=True))
    rows = [Row(tier, _stretches(bounds, [r for r in own if r.entry.tier == tier], snapshot)) for tier in TIERS]
    if general:
        rows.append(Row(GENERAL, _stretches(bounds, general, snapshot)))
    answers = [_answer(snapshot, contact, lo, hi, policy_for) for lo, hi in bounds]
    return Timeline(day, start, end, tuple(rows), tuple(_joined(answers)))


def _stretches(bounds: list[tuple[datetime, datetime]], reaches: Iterable[Reach], snapshot: Snapshot) -> tuple[Stretch, ...]:
    """The stretches between consecutive changes during which some of the reaches are open, joined when the names agree."""
    entries = [reach.entry for reach in reaches]
    found: list[Stretch] = []
    for lo, hi in bounds:
        names = tuple(e.name for e in entries if is_open_at(e.hours, lo, snapshot.holidays))
        if not names:
            continue
        if found and found[-1].end == lo and found[-1].names == names:
            found[-1] = replace(found[-1], end=hi)
        else:
            found.append(Stretch(lo, hi, names))
    return tuple(found)


def _answer(snapshot: Snapshot, contact: Contact, start: datetime, end: datetime, policy_for: Callable[[str], Policy]) -> Answer:
    own = decide_route(snapshot, contact, start, NO_LOAD, policy_for(contact.topic))
    via = wider_topic(contact.topic, own.outcome)
    decision = own if via is None else decide_route(snapshot, replace(contact, topic=via), start, NO_LOAD, policy_for(via))
    first = decision.candidates[0] if decision.candidates else None
    if first is None:
        return Answer(start, end, decision.outcome, None, None, None, via)
    return Answer(start, end, decision.outcome, first.tier, first.service_id, first.name, via)


def _joined(answers: list[Answer]) -> list[Answer]:
    """Consecutive answers with the same service (or the same nobody) as one."""
    joined: list[Answer] = []
    for answer in answers:
        last = joined[-1] if joined else None
        if last is not None and replace(last, start=answer.start, end=answer.end) == answer:
            joined[-1] = replace(last, end=answer.end)
        else:
            joined.append(answer)
    return joined
