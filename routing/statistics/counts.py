"""Statistics of the anonymised referral log, call records and chats: tables of counts, suppressed before anyone sees them.

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
CHAT_OUTCOMES = ("connected", "abandoned_in_queue", "abandoned", "no_service_open", "own_sns", "open")
CHAT_OUTCOME_NAMES = {
    "connected": "つながった",
    "abandoned_in_queue": "待機中に終了",
    "abandoned": "途中で終了",
    "no_service_open": "受付時間外",
    "own_sns": "窓口のSNSをご案内",
    "open": "まだ終わっていない",
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
class ContactRow:
    """One call or chat of the anonymised records: when it began (JST), its topic, how it ended, how long it waited."""

    day: date  # JST
    topic: str | None
    outcome: str
    hour: int = 0  # JST, 0-23
    wait_seconds: float | None = None  # until a person answered; None when nobody did


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


def call_table(calls: Iterable[ContactRow], by: str) -> SuppressedTable:
    """Return calls counted by day or topic × outcome, suppressed."""
    return outcome_table(calls, by, CALL_OUTCOMES)


def chat_table(chats: Iterable[ContactRow], by: str) -> SuppressedTable:
    """Return chats counted by day or topic × outcome, suppressed."""
    return outcome_table(chats, by, CHAT_OUTCOMES)


def outcome_table(contacts: Iterable[ContactRow], by: str, outcomes: Sequence[str]) -> SuppressedTable:
    """Return calls or chats counted by day or topic × outcome, suppressed."""
    if by not in ("day", "topic"):
        raise ValueError(f"cannot break contacts down by {by!r} and outcome; choose day or topic")
    counts = Counter((c.day.isoformat() if by == "day" else c.topic or "unknown", c.outcome) for c in contacts)
    labels = _labels({label for label, _ in counts}, by)
    return suppress(Table(labels, tuple(outcomes), tuple(tuple(counts[(label, o)] for o in outcomes) for label in labels)))


def chat_outcome(*, status: str, close_reason: str | None, queued: bool, answered: bool) -> str:
    """Return how a chat ended, a key of CHAT_OUTCOME_NAMES: a person answered it, or why not."""
    if answered:
        return "connected"
    if status != "closed":
        return "open"
    if close_reason in ("nothing_open", "own_sns"):
        return "no_service_open" if close_reason == "nothing_open" else "own_sns"
    return "abandoned_in_queue" if queued else "abandoned"


def published_median(values: Iterable[float]) -> float | None:
    """Return the median of values, only when at least MIN_PUBLISHED stand behind it (None otherwise)."""
    ordered = sorted(values)
    return statistics.median(ordered) if len(ordered) >= MIN_PUBLISHED else None


def summarize(hops: Sequence[Hop]) -> Summary:
    """Return the answer rate and time to accept, each only when enough hops stand behind it to say nothing of one."""
    due = [h for h in hops if h.status != "proposed"]
    answered = [h for h in due if h.status != "expired"]
    times = sorted(h.hours_to_accept for h in hops if h.hours_to_accept is not None)
    # A rate times its base gives back both counts: publish it only when neither is a small cell.
    rate_safe = len(due) >= MIN_PUBLISHED and not _small(len(answered)) and not _small(len(due) - len(answered))
    median = published_median(times)
    return Summary(
        hops=None if _small(len(hops)) else len(hops),
        answer_rate=round(len(answered) / len(due), 2) if rate_safe else None,
        median_hours_to_accept=None if median is None else round(median, 1),
        p90_hours_to_accept=None if median is None else round(times[int(0.9 * (len(times) - 1))], 1),
    )


def _small(count: int) -> bool:
    return 1 <= count < MIN_PUBLISHED


def _labels(found: set[str], by: str) -> tuple[str, ...]:
    order = {"topic": [*TOPICS, "unknown"], "tier": [f"{a}→{b}" for a in TIERS for b in TIERS]}.get(by)
    if order is None:
        return tuple(sorted(found)) or ("-",)
    return tuple(label for label in order if label in found) or (order[0],)
