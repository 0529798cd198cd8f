"""When calls and chats come, and how long they wait for a person: tables that break down the day table further.

Pure. A day's calls by hour add up to that day's total, which the day × outcome table publishes
(or hides); the connected calls by wait add up to its connected total. Each of these tables is
therefore suppressed beside the day table (suppression.suppress_beside): a total the day table
publishes is never hidden here, a total it hides leaves its whole row out here, so reading both
tables together tells no more than each alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from routing.statistics.counts import ContactRow, outcome_table
from routing.statistics.suppression import SuppressedTable, Table, empty_table, suppress_beside

BAND_WIDTHS = (1, 3, 6)  # hours per column of the day × hour table
CONNECTED = "connected"
WAITS = ("under_1m", "1_3m", "3_10m", "10_30m", "over_30m")
WAIT_NAMES = {"under_1m": "1分未満", "1_3m": "1〜3分", "3_10m": "3〜10分", "10_30m": "10〜30分", "over_30m": "30分以上"}
WAIT_LIMITS = ((60, "under_1m"), (180, "1_3m"), (600, "3_10m"), (1800, "10_30m"))  # seconds: below each, that band
BREAKDOWNS = ("day", "topic", "hour", "wait")


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A suppressed table, and the labels of the rows it leaves out (shown nowhere, not even as zeros)."""

    table: SuppressedTable
    left_out: tuple[str, ...] = ()


def band_names(width: int) -> dict[str, str]:
    """Return the columns of a day × hour table: key (the first hour, two digits) → Japanese name."""
    if width not in BAND_WIDTHS:
        raise ValueError(f"a time band is {' or '.join(map(str, BAND_WIDTHS))} hours wide, not {width}")
    if width == 1:
        return {f"{h:02d}": f"{h}時台" for h in range(24)}
    return {f"{h:02d}": f"{h}〜{h + width}時" for h in range(0, 24, width)}


def breakdown(contacts: Sequence[ContactRow], by: str, outcomes: Sequence[str], *, width: int = 1) -> Breakdown:
    """Return calls or chats broken down by day or topic × outcome, by day × time band, or (those answered) by wait."""
    if by in ("day", "topic"):
        return Breakdown(outcome_table(contacts, by, outcomes))
    by_day = outcome_table(contacts, "day", outcomes)
    if by == "hour":
        return hour_table(contacts, by_day, width)
    if by == "wait":
        return wait_table(contacts, by_day)
    raise ValueError(f"cannot break contacts down by {by!r}; choose one of {', '.join(BREAKDOWNS)}")


def hour_table(contacts: Iterable[ContactRow], by_day: SuppressedTable, width: int) -> Breakdown:
    """Return contacts by day × time band, beside the day table: a day whose total it hides is left out."""
    bands = tuple(band_names(width))
    counts = Counter((c.day.isoformat(), f"{c.hour - c.hour % width:02d}") for c in contacts)
    shown = tuple(day for day, total in zip(by_day.row_labels, by_day.row_totals, strict=True) if total is not None)
    if not shown:
        return Breakdown(empty_table(bands), by_day.row_labels)
    table, _ = suppress_beside(Table(shown, bands, tuple(tuple(counts[(day, b)] for b in bands) for day in shown)))
    return Breakdown(table, tuple(day for day in by_day.row_labels if day not in table.row_labels))


def wait_table(contacts: Iterable[ContactRow], by_day: SuppressedTable) -> Breakdown:
    """Return the contacts a person answered by how long they waited, beside the day table's connected total."""
    column = by_day.column_labels.index(CONNECTED)
    waits = Counter(wait_band(c.wait_seconds or 0.0) for c in contacts if c.outcome == CONNECTED)
    if by_day.column_totals[column] is None:
        return Breakdown(empty_table(WAITS), (CONNECTED,))
    table, left_out = suppress_beside(Table((CONNECTED,), WAITS, (tuple(waits[w] for w in WAITS),)))
    return Breakdown(table, left_out)


def wait_band(seconds: float) -> str:
    """Return the band of a wait, a key of WAIT_NAMES."""
    return next((band for limit, band in WAIT_LIMITS if seconds < limit), WAITS[-1])
