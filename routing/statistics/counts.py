"""Statistics of the anonymised referral log and call records: tables of counts, suppressed before anyone sees them.

Pure: rows in, suppressed tables out. The API (routing/statistics/api.py) selects the rows a staff
member may see and renders the result as JSON or CSV. Nothing here knows a person: a hop is a
date, two tiers, a prefecture, a topic, a status and how long it took to accept.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from referral_directory.records import TIERS, TOPICS
from routing.statistics.suppression import SuppressedTable, Table, suppress

STATUSES = ("proposed", "accepted", "contacted", "closed", "declined", "expired")
STATUS_NAMES = {
    "proposed": "回答待ち",
    "accepted": "受理",
    "contacted": "連絡済み",
    "closed": "終結",
    "declined": "辞退",
    "expired": "期限切れ",
}
CALL_OUTCOMES = ("connected", "callback_booked", "abandoned_in_queue", "abandoned", "no_service_open", "fallback")
CALL_OUTCOME_NAMES = {
    "connected": "つながった",
    "callback_booked": "折り返し予約",
    "abandoned_in_queue": "待機中に終了",
    "abandoned": "途中で終了",
    "no_service_open": "受付時間外",
    "fallback": "24時間窓口へ",
}
MIN_PUBLISHED = 10  # a rate or a time is published only when it rests on at least this many hops


@dataclass(frozen=True, slots=True)
class Hop:
    """One row of the anonymised referral log."""

    day: date  # JST
    from_tier: str
    to_tier: str
    prefecture: str | None
    topic: str | None
    status: str
    hours_to_accept: float | None


@dataclass(frozen=True, slots=True)
class CallRow:
    day: date  # JST
    topic: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class Summary:
    hops: int | None  # None when 1-9
    answer_rate: float | None  # accepted or declined before the deadline, among the hops that are due; None when too few
    median_hours_to_accept: float | None
    p90_hours_to_accept: float | None


def rows_for(hop: Hop, by: str) -> str:
    """Return the row label of a hop in a table broken down `by` day, topic, tier or prefecture."""
    if by == "day":
        return hop.day.isoformat()
    if by == "topic":
        return hop.topic or "unknown"
    if by == "tier":
        return f"{hop.from_tier}→{hop.to_tier}"
    if by == "prefecture":
        return hop.prefecture or "00"
    raise ValueError(f"cannot break hops down by {by!r}; choose day, topic, tier or prefecture")


def hop_table(hops: Iterable[Hop], by: str) -> SuppressedTable:
    """Return hops counted by `by` × status, suppressed."""
    counts = Counter((rows_for(hop, by), hop.status) for hop in hops)
    labels = _labels({label for label, _ in counts}, by)
    return suppress(Table(labels, STATUSES, tuple(tuple(counts[(label, s)] for s in STATUSES) for label in labels)))


def call_table(calls: Iterable[CallRow], by: str) -> SuppressedTable:
    """Return calls counted by day or topic × outcome, suppressed."""
    if by not in ("day", "topic"):
        raise ValueError(f"cannot break calls down by {by!r}; choose day or topic")
    counts = Counter((c.day.isoformat() if by == "day" else c.topic or "unknown", c.outcome) for c in calls)
    labels = _labels({label for label, _ in counts}, by)
    return suppress(Table(labels, CALL_OUTCOMES, tuple(tuple(counts[(label, o)] for o in CALL_OUTCOMES) for label in labels)))


def summarize(hops: Sequence[Hop]) -> Summary:
    """Return the answer rate and time to accept, each only when enough hops stand behind it to say nothing of one."""
    due = [h for h in hops if h.status != "proposed"]
    answered = [h for h in due if h.status != "expired"]
    times = sorted(h.hours_to_accept for h in hops if h.hours_to_accept is not None)
    # A rate times its base gives back both counts: publish it only when neither is a small cell.
    rate_safe = len(due) >= MIN_PUBLISHED and not _small(len(answered)) and not _small(len(due) - len(answered))
    enough = len(times) >= MIN_PUBLISHED
    return Summary(
        hops=None if _small(len(hops)) else len(hops),
        answer_rate=round(len(answered) / len(due), 2) if rate_safe else None,
        median_hours_to_accept=round(statistics.median(times), 1) if enough else None,
        p90_hours_to_accept=round(times[int(0.9 * (len(times) - 1))], 1) if enough else None,
    )


def _small(count: int) -> bool:
    return 1 <= count < MIN_PUBLISHED


def _labels(found: set[str], by: str) -> tuple[str, ...]:
    order = {"topic": [*TOPICS, "unknown"], "tier": [f"{a}→{b}" for a in TIERS for b in TIERS]}.get(by)
    if order is None:
        return tuple(sorted(found)) or ("-",)
    return tuple(label for label in order if label in found) or (order[0],)
