"""Small-cell suppression for published statistics (docs/design.md, "Statistics"): pure functions of plain counts.

A table of counts (say days × outcomes) is published with its row totals, column totals
and grand total. Every published number is 0 or outside `threshold_low..threshold_high`
(1–9 by default); the others are suppressed and shown as "x" (秘匿, as in Japanese
government tables), and enough further numbers are suppressed that none of the hidden
ones can be worked out exactly from what is published.

What a reader knows
-------------------
The table bordered by its totals obeys one equation per row and per column. Zeros are
always published: a true zero says nothing about a person, and a zero is never needed
as a complement (see below: a protecting cycle through non-zero numbers always exists).
So a reader also knows that every hidden number is at least 1, and the check below
assumes exactly that, not merely "at least 0". It matters: two hidden 1s whose row adds
up to 2 are both 1, though a change along a cycle of four hidden cells would be allowed
if they could fall to 0.

The check
---------
Give each number of the bordered table an arc: a cell, and the grand total, from its
row to its column; a row or column total back, from its column (or the totals column)
to its row (or the totals row). The bordered table is then a circulation, every row and
column balancing what comes in against what goes out, and another table that agrees
with every published number differs from it by a circulation on the hidden arcs. So a
hidden number can rise by 1 when a path leads from its arc's head back to its tail
through hidden numbers, each used either along its arc (it rises) or against it (it
falls, which a number of at least 2 can do and stay at least 1); it can fall by 1 when
it is at least 2 and a path leads the other way. A hidden number that can do neither is
derivable: every table consistent with the publication gives it the same value (any
difference between two such tables splits into simple cycles, each of which is itself
such a change, so checking cycles of unit changes is exact).

Choosing what else to hide
--------------------------
Primary suppressions are the numbers in the threshold range, totals included. Each of
them, smallest first, that is still derivable gets the cheapest path (Dijkstra; a hidden
number costs 0, a published one its value, zeros cannot be used) that closes such a
cycle through it, and the published numbers on that path are hidden too. Such a path
always exists: the bordered table is a circulation of positive numbers, so each non-zero
number lies on a cycle along which all can rise together (a cell with its row total,
column total and grand total, say). Hiding more never makes a protected number derivable
again, and every number on a closing cycle is protected by it, so one pass suffices. A
last pass tries to publish the complementary suppressions again, largest first, and
publishes each whose release leaves every hidden number underivable. Costing a number at
its value (one of τ-ARGUS's cost functions) hides small cells rather than large ones, and
totals only when nothing cheaper will do.

Limits
------
- Protection is against exact derivation only: a hidden 3 may be pinned to "3 or 4".
  There are no protection intervals (τ-ARGUS's protection levels).
- One table at a time: tables that share cells (day × topic and day × outcome, a region
  and its prefecture, this month and the months so far) can be differenced against each
  other and would need to be suppressed together. One case is handled: a table that breaks
  down the rows of a published table further (days × hours beside days × outcomes) is
  suppressed by `suppress_beside`, which takes its row totals as already known, never hides
  them, and leaves out a row whose cells it cannot protect without hiding its total.
- A reader who reruns this deterministic greedy algorithm may learn more than the
  equations say; the check assumes a reader who knows the equations and the floor of 1.
- The choice is greedy, not the least loss possible. The last pass checks every hidden
  number for every complement it tries, which is fine for tables of a few hundred cells
  (a month of days × 12 columns with 50 small cells takes about 0.15 s).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SUPPRESSED_MARK = "x"
FLOOR = 1  # zeros are always published, so a reader knows each hidden number is at least this

Entry = tuple[int, int]  # (row, column) in the table bordered by its totals, which come last
Steps = dict[int, list[tuple[int, Entry]]]  # node → (next node, entry moved) in the residual graph


@dataclass(frozen=True, slots=True)
class Table:
    """Counts in rows × columns with their labels; the totals are worked out, never given."""

    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_labels", tuple(self.row_labels))
        object.__setattr__(self, "column_labels", tuple(self.column_labels))
        object.__setattr__(self, "cells", tuple(tuple(row) for row in self.cells))
        if not self.row_labels or not self.column_labels:
            raise ValueError("a table needs at least one row and one column")
        if len(self.cells) != len(self.row_labels):
            raise ValueError(f"the table has {len(self.cells)} rows of counts for {len(self.row_labels)} row labels")
        for label, row in zip(self.row_labels, self.cells, strict=True):
            if len(row) != len(self.column_labels):
                raise ValueError(f"row {label!r} has {len(row)} counts; expected {len(self.column_labels)}, one per column")
            if any(type(count) is not int or count < 0 for count in row):
                raise ValueError(f"row {label!r} has a count that is not a whole number of at least 0: {row}")


@dataclass(frozen=True, slots=True)
class SuppressedTable:
    """A table ready to publish: each number is its true value, or None where suppressed."""

    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    grand_total: int | None


@dataclass(frozen=True, slots=True)
class SuppressedCounts:
    """A one-way breakdown ready to publish: each count and the total, or None where suppressed."""

    labels: tuple[str, ...]
    counts: tuple[int | None, ...]
    total: int | None


def suppress(table: Table, *, threshold_low: int = 1, threshold_high: int = 9) -> SuppressedTable:
    """Return the table with its totals, suppressed so that no number in the range is published or derivable."""
    if threshold_low < FLOOR or threshold_high < threshold_low:
        raise ValueError(f"the suppressed range {threshold_low}..{threshold_high} must start at 1 or above (zeros are always published)")
    values = _bordered(table.cells)
    primary = {e for e in _entries(values) if threshold_low <= _value(values, e) <= threshold_high}
    hidden = _protect(values, primary)
    shown = [[None if (i, j) in hidden else v for j, v in enumerate(row)] for i, row in enumerate(values)]
    return SuppressedTable(
        row_labels=table.row_labels,
        column_labels=table.column_labels,
        cells=tuple(tuple(row[:-1]) for row in shown[:-1]),
        row_totals=tuple(row[-1] for row in shown[:-1]),
        column_totals=tuple(shown[-1][:-1]),
        grand_total=shown[-1][-1],
    )


def suppress_counts(labels: Sequence[str], counts: Sequence[int], *, threshold_low: int = 1, threshold_high: int = 9) -> SuppressedCounts:
    """Return a one-way breakdown and its total, suppressed like a table of one column."""
    # As one column, each row total repeats its count and the column total repeats the grand
    # total; a row or the totals row holds no other non-zero number, so the check can only be
    # met by hiding a count with its row total, and the column total with the grand total.
    column = suppress(
        Table(tuple(labels), ("count",), tuple((count,) for count in counts)), threshold_low=threshold_low, threshold_high=threshold_high
    )
    return SuppressedCounts(column.row_labels, tuple(row[0] for row in column.cells), column.grand_total)


def suppress_beside(table: Table, *, threshold_low: int = 1, threshold_high: int = 9) -> tuple[SuppressedTable, tuple[str, ...]]:
    """Return a table whose row totals another table publishes, suppressed without hiding any of them or their sum,
    and the labels of the rows left out (their cells could not be protected otherwise).

    The caller gives only rows whose totals are published (a hidden total's row is left out by the
    caller: nothing of it may be shown). The column totals are those of the rows kept, so nothing
    about a row left out can be worked out from them.
    """
    if threshold_low < FLOOR or threshold_high < threshold_low:
        raise ValueError(f"the suppressed range {threshold_low}..{threshold_high} must start at 1 or above (zeros are always published)")
    kept, left_out = list(range(len(table.row_labels))), []
    while kept:
        values = _bordered(tuple(table.cells[i] for i in kept))
        last = len(values[0]) - 1
        known = frozenset((i, last) for i in range(len(values)))
        if any(threshold_low <= _value(values, e) <= threshold_high for e in known):
            raise ValueError("a row total (or their sum) in the suppressed range cannot be published beside another table")
        primary = {e for e in _entries(values) if threshold_low <= _value(values, e) <= threshold_high}
        try:
            hidden = _protect(values, primary, known)
        except Unprotectable as problem:
            row = _row_to_leave_out(values, problem.entry)
            left_out.append(kept.pop(row))
            continue
        shown = [[None if (i, j) in hidden else v for j, v in enumerate(row)] for i, row in enumerate(values)]
        published = SuppressedTable(
            row_labels=tuple(table.row_labels[i] for i in kept),
            column_labels=table.column_labels,
            cells=tuple(tuple(row[:-1]) for row in shown[:-1]),
            row_totals=tuple(row[-1] for row in shown[:-1]),
            column_totals=tuple(shown[-1][:-1]),
            grand_total=shown[-1][-1],
        )
        return published, tuple(table.row_labels[i] for i in sorted(left_out))
    return empty_table(table.column_labels), tuple(table.row_labels)


def empty_table(columns: tuple[str, ...]) -> SuppressedTable:
    """Return a table with every row left out: nothing published, not even a total."""
    return SuppressedTable((), columns, (), (), tuple(None for _ in columns), None)


class Unprotectable(Exception):
    """No cycle through a number avoids the numbers that must stay published: it would be derivable."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(f"the number at {entry} cannot be protected without hiding a known total")
        self.entry = entry


def _row_to_leave_out(values: list[list[int]], entry: Entry) -> int:
    """The row to leave out when `entry` cannot be protected: its own, or (a column total) the row of its column's smallest count."""
    i, j = entry
    if i < len(values) - 1:
        return i
    counts = [(values[r][j], r) for r in range(len(values) - 1) if values[r][j] > 0]
    return min(counts)[1]


def csv_rows(table: SuppressedTable, *, total_label: str = "Total", corner: str = "") -> list[list[str]]:
    """Return the table as CSV rows: a header, one row per label and the totals row, "x" where suppressed."""
    header = [corner, *table.column_labels, total_label]
    body = [
        [label, *map(_shown, cells), _shown(total)]
        for label, cells, total in zip(table.row_labels, table.cells, table.row_totals, strict=True)
    ]
    return [header, *body, [total_label, *map(_shown, table.column_totals), _shown(table.grand_total)]]


def counts_csv_rows(counts: SuppressedCounts, *, total_label: str = "Total") -> list[list[str]]:
    """Return a breakdown as CSV rows of label and count, the total last, "x" where suppressed."""
    rows = [[label, _shown(count)] for label, count in zip(counts.labels, counts.counts, strict=True)]
    return [*rows, [total_label, _shown(counts.total)]]


def _shown(value: int | None) -> str:
    return SUPPRESSED_MARK if value is None else str(value)


def _bordered(cells: tuple[tuple[int, ...], ...]) -> list[list[int]]:
    rows = [[*row, sum(row)] for row in cells]
    return [*rows, [sum(column) for column in zip(*rows, strict=True)]]


def _entries(values: list[list[int]]) -> list[Entry]:
    return [(i, j) for i in range(len(values)) for j in range(len(values[0]))]


def _value(values: list[list[int]], entry: Entry) -> int:
    return values[entry[0]][entry[1]]


def _protect(values: list[list[int]], primary: set[Entry], known: frozenset[Entry] = frozenset()) -> frozenset[Entry]:
    hidden = set(primary)
    steps = _steps(values, hidden)  # rebuilt only when a cover hides more
    for entry in sorted(primary, key=lambda e: (_value(values, e), e)):
        if _derivable(values, hidden, entry, steps):
            hidden |= _cheapest_cover(values, hidden, entry, known)
            steps = _steps(values, hidden)
    for entry in sorted(hidden - primary, key=lambda e: (-_value(values, e), e)):
        trial = hidden - {entry}
        steps = _steps(values, trial)  # one graph for every check of this trial: each check leaves out its own number
        if not any(_derivable(values, trial, e, steps) for e in sorted(trial)):
            hidden = trial
    return frozenset(hidden)


def _derivable(values: list[list[int]], hidden: set[Entry], entry: Entry, steps: Steps | None = None) -> bool:
    """Return whether every table agreeing with the published numbers gives `entry` its true value.

    `steps`: the residual graph of `hidden` when it is built already (`entry` itself is never used).
    """
    steps = _steps(values, hidden) if steps is None else steps
    tail, head = _arc(values, entry)
    if _reaches(steps, head, tail, skip=entry):
        return False
    return _value(values, entry) <= FLOOR or not _reaches(steps, tail, head, skip=entry)


def _reaches(steps: Steps, start: int, goal: int, *, skip: Entry) -> bool:
    """Whether a path leads from start to goal without using the number `skip` (any path: hidden numbers cost nothing)."""
    seen, frontier = {start}, [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        for following, entry in steps.get(node, ()):
            if entry != skip and following not in seen:
                seen.add(following)
                frontier.append(following)
    return False


def _cheapest_cover(values: list[list[int]], hidden: set[Entry], entry: Entry, known: frozenset[Entry]) -> set[Entry]:
    """Return the published numbers whose suppression closes the cheapest cycle along which `entry` can move, avoiding
    the `known` ones; raise Unprotectable when there is none."""
    usable = {e for e in _entries(values) if _value(values, e) > 0} - known
    steps = _steps(values, usable, excluded=entry)

    def cost(e: Entry) -> int:
        return 0 if e in hidden else _value(values, e)

    tail, head = _arc(values, entry)
    rise = _cheapest_path(steps, cost, head, tail)
    fall = _cheapest_path(steps, cost, tail, head) if _value(values, entry) > FLOOR else None
    # Without known numbers a cycle always exists: each non-zero number lies on one of numbers that can rise together.
    if rise is None and fall is None:
        raise Unprotectable(entry)
    _, path = min((found for found in (rise, fall) if found is not None), key=lambda found: found[0])
    return {e for e in path if e not in hidden}


def _arc(values: list[list[int]], entry: Entry) -> tuple[int, int]:
    """Return the entry's (from, to) nodes: rows are nodes 0.., columns follow them."""
    i, j = entry
    row, column = i, len(values) + j
    is_total = (i == len(values) - 1) != (j == len(values[0]) - 1)
    return (column, row) if is_total else (row, column)


def _steps(values: list[list[int]], entries: set[Entry], *, excluded: Entry | None = None) -> Steps:
    steps: Steps = {}
    for entry in sorted(entries - {excluded}):
        tail, head = _arc(values, entry)
        steps.setdefault(tail, []).append((head, entry))  # the number rises
        if _value(values, entry) > FLOOR:
            steps.setdefault(head, []).append((tail, entry))  # the number falls and stays at least FLOOR
    return steps


def _cheapest_path(steps: Steps, cost: Callable[[Entry], int], start: int, goal: int) -> tuple[int, list[Entry]] | None:
    """Return (cost, entries) of the cheapest path from start to goal, or None when there is none."""
    best = {start: 0}
    came: dict[int, tuple[int, Entry]] = {}
    queue = [(0, start)]
    while queue:
        spent, node = heapq.heappop(queue)
        if node == goal:
            path = []
            while node != start:
                node, entry = came[node]
                path.append(entry)
            return spent, path[::-1]
        if spent > best[node]:
            continue
        for following, entry in steps.get(node, ()):
            total = spent + cost(entry)
            if total < best.get(following, total + 1):
                best[following] = total
                came[following] = (node, entry)
                heapq.heappush(queue, (total, following))
    return None
