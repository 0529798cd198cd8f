"""Small-cell suppression: tables worked by hand, and properties checked by an independent witness search.

The witness search does not trust the module's own check: for a suppressed number it walks
the cycles of suppressed numbers through it, changes the cells along one by ±1, recomputes
every total from the cells, and accepts the result only if it agrees with every published
number and keeps every suppressed number at least 1 (a reader knows that much, since zeros
are always published). A table it returns proves the number cannot be derived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from routing.statistics.suppression import SuppressedCounts, SuppressedTable, Table, counts_csv_rows, csv_rows, suppress, suppress_counts

X = None  # a suppressed number, to make the expected tables read like the published ones
Entry = tuple[int, int]
Grid = list[list[int]]


def make_table(rows: dict[str, list[int]], columns: list[str]) -> Table:
    return Table(tuple(rows), tuple(columns), tuple(tuple(counts) for counts in rows.values()))


def bordered(cells: Grid) -> Grid:
    """Return the cells with each row's total appended and the totals row last."""
    rows = [[*row, sum(row)] for row in cells]
    return [*rows, [sum(row[j] for row in rows) for j in range(len(rows[0]))]]


def published(table: SuppressedTable) -> list[list[int | None]]:
    """Return what a reader sees, bordered like `bordered`."""
    rows = [[*cells, total] for cells, total in zip(table.cells, table.row_totals, strict=True)]
    return [*rows, [*table.column_totals, table.grand_total]]


def cycles_through(hidden: set[Entry], target: Entry) -> Iterator[list[Entry]]:
    """Yield the simple cycles of hidden entries through target, alternating columns and rows, target first."""
    first_row, first_column = target

    def from_column(column: int, path: list[Entry], rows: frozenset[int], columns: frozenset[int]) -> Iterator[list[Entry]]:
        for row in sorted(r for r, c in hidden if c == column and (r, c) != target):
            if row == first_row:
                yield [target, *path, (row, column)]
            elif row not in rows:
                yield from from_row(row, [*path, (row, column)], rows | {row}, columns)

    def from_row(row: int, path: list[Entry], rows: frozenset[int], columns: frozenset[int]) -> Iterator[list[Entry]]:
        for column in sorted(c for r, c in hidden if r == row and c not in columns):
            yield from from_column(column, [*path, (row, column)], rows, columns | {column})

    yield from from_column(first_column, [], frozenset(), frozenset({first_column}))


def another_table(cells: Grid, shown: list[list[int | None]], target: Entry) -> Grid | None:
    """Return other cells that agree with every published number and change the number at target, or None."""
    hidden = {(i, j) for i, row in enumerate(shown) for j, value in enumerate(row) if value is None}
    truth = bordered(cells)
    for cycle in cycles_through(hidden, target):
        for sign in (1, -1):
            changed = [list(row) for row in cells]
            for position, (i, j) in enumerate(cycle):
                if i < len(cells) and j < len(cells[0]):  # totals follow from the cells
                    changed[i][j] += sign * (-1) ** position
            candidate = bordered(changed)
            agrees = all(
                (value is None and number >= 1) or value == number
                for shown_row, row in zip(shown, candidate, strict=True)
                for value, number in zip(shown_row, row, strict=True)
            )
            if agrees and candidate[target[0]][target[1]] != truth[target[0]][target[1]]:
                return changed
    return None


# Hand-worked tables ---------------------------------------------------------------------


def test_a_small_cell_is_hidden_with_the_cheapest_cycle_of_cells() -> None:
    """The 3 needs a partner in its row and its column; 11, 15 and 12 close the cheapest cycle (38)."""
    table = make_table(
        {"2026-04-06": [42, 12, 3], "2026-04-07": [38, 15, 11], "2026-04-08": [51, 0, 14]}, ["referred", "callback", "abandoned"]
    )
    assert suppress(table) == SuppressedTable(
        row_labels=("2026-04-06", "2026-04-07", "2026-04-08"),
        column_labels=("referred", "callback", "abandoned"),
        cells=((42, X, X), (38, X, X), (51, 0, 14)),
        row_totals=(57, 64, 65),
        column_totals=(131, 27, 28),
        grand_total=186,
    )


def test_hidden_ones_whose_lines_add_up_to_two_are_protected_further() -> None:
    """Four hidden 1s alone would be pinned (each row of them adds up to 2, and none can be 0)."""
    table = make_table({"loneliness": [25, 1, 1], "debt": [30, 1, 1], "housing": [18, 12, 20]}, ["national", "prefecture", "municipal"])
    assert suppress(table) == SuppressedTable(
        row_labels=("loneliness", "debt", "housing"),
        column_labels=("national", "prefecture", "municipal"),
        cells=((X, X, X), (X, X, X), (X, X, X)),
        row_totals=(27, 32, 50),
        column_totals=(73, 14, 22),
        grand_total=109,
    )


def test_a_small_row_total_is_hidden_with_another_total() -> None:
    """Debt's total of 7 is small; it needs housing's cells for its cells and housing's total for itself."""
    table = make_table({"loneliness": [40, 25], "debt": [4, 3], "housing": [22, 31]}, ["national", "prefecture"])
    assert suppress(table) == SuppressedTable(
        row_labels=("loneliness", "debt", "housing"),
        column_labels=("national", "prefecture"),
        cells=((40, 25), (X, X), (X, X)),
        row_totals=(65, X, X),
        column_totals=(66, 59),
        grand_total=125,
    )


def test_a_table_without_small_numbers_is_published_whole() -> None:
    table = make_table({"loneliness": [40, 0], "debt": [10, 12]}, ["national", "prefecture"])
    result = suppress(table)
    assert result.cells == ((40, 0), (10, 12))
    assert (result.row_totals, result.column_totals, result.grand_total) == ((40, 22), (50, 12), 62)


def test_a_table_of_small_numbers_shows_only_its_zeros() -> None:
    result = suppress(make_table({"loneliness": [3, 0], "debt": [0, 2]}, ["national", "prefecture"]))
    assert result.cells == ((X, 0), (0, X))
    assert (result.row_totals, result.column_totals, result.grand_total) == ((X, X), (X, X), X)


def test_a_breakdown_hides_a_second_count_with_a_small_one() -> None:
    result = suppress_counts(["referred", "callback", "abandoned", "transferred"], [120, 4, 35, 0])
    assert result == SuppressedCounts(("referred", "callback", "abandoned", "transferred"), (120, X, X, 0), 159)


def test_a_breakdown_of_two_ones_hides_a_third_count() -> None:
    """1 + 1 = 2 would pin both ones, so the 50 is hidden too (cheaper than the total of 52)."""
    assert suppress_counts(["a", "b", "c"], [1, 1, 50]) == SuppressedCounts(("a", "b", "c"), (X, X, X), 52)


def test_a_breakdown_with_a_small_total_hides_it() -> None:
    assert suppress_counts(["a", "b"], [5, 0]) == SuppressedCounts(("a", "b"), (X, 0), X)


def test_csv_rows_mark_suppressed_numbers_with_x() -> None:
    table = make_table({"loneliness": [40, 25], "debt": [4, 3], "housing": [22, 31]}, ["national", "prefecture"])
    assert csv_rows(suppress(table), total_label="計", corner="topic") == [
        ["topic", "national", "prefecture", "計"],
        ["loneliness", "40", "25", "65"],
        ["debt", "x", "x", "x"],
        ["housing", "x", "x", "x"],
        ["計", "66", "59", "125"],
    ]
    assert counts_csv_rows(suppress_counts(["referred", "callback", "abandoned"], [120, 4, 35])) == [
        ["referred", "120"],
        ["callback", "x"],
        ["abandoned", "x"],
        ["Total", "159"],
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Table(("a",), ("b", "c"), ((1,),)), "row 'a' has 1 counts; expected 2"),
        (lambda: Table(("a",), ("b",), ((-1,),)), "row 'a' has a count that is not a whole number"),
        (lambda: Table(("a", "b"), ("c",), ((1,),)), "1 rows of counts for 2 row labels"),
        (lambda: Table((), ("c",), ()), "at least one row and one column"),
        (lambda: suppress(Table(("a",), ("b",), ((1,),)), threshold_low=0), "must start at 1 or above"),
    ],
)
def test_bad_input_is_refused_with_a_message(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_the_witness_search_finds_none_where_a_number_is_pinned() -> None:
    """The oracle is not vacuous: four hidden 1s in two rows that add up to 2 each are all pinned."""
    cells = [[25, 1, 1], [30, 1, 1], [18, 12, 20]]
    shown: list[list[int | None]] = [[25, X, X, 27], [30, X, X, 32], [18, 12, 20, 50], [73, 14, 22, 109]]
    assert all(another_table(cells, shown, entry) is None for entry in [(0, 1), (0, 2), (1, 1), (1, 2)])
    shown[0][0] = shown[1][0] = X  # the columns of ones still add up to 2
    assert another_table(cells, shown, (0, 1)) is None
    shown[2][:3] = [X, X, X]  # with every cell hidden (as suppress does), they can move
    assert another_table(cells, shown, (0, 1)) is not None


# Properties -----------------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn, counts: st.SearchStrategy[int]) -> Table:
    """Return a table of one to five rows and columns drawn from counts."""
    rows, columns = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    cells = draw(st.lists(st.lists(counts, min_size=columns, max_size=columns), min_size=rows, max_size=rows))
    return Table(tuple(f"row {i}" for i in range(rows)), tuple(f"column {j}" for j in range(columns)), cells)


MIXED = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 40))
TABLES = st.one_of(
    tables(MIXED),
    tables(st.integers(0, 3)),  # ones and twos that pin each other
    tables(st.integers(0, 9)),  # everything small
    tables(st.sampled_from([0, 1, 2, 10, 11, 12])),  # complements barely above the threshold
    tables(st.integers(10, 30) | st.just(0)),  # nothing to hide
)


@given(TABLES)
@settings(max_examples=400, deadline=None)
def test_no_published_number_is_small_and_zeros_are_always_shown(table: Table) -> None:
    truth = bordered([list(row) for row in table.cells])
    for shown_row, row in zip(published(suppress(table)), truth, strict=True):
        for value, number in zip(shown_row, row, strict=True):
            assert value is None or value == 0 or value >= 10
            assert number != 0 or value == 0
            assert not 1 <= number <= 9 or value is None


@given(TABLES)
@settings(max_examples=400, deadline=None)
def test_published_numbers_are_the_true_ones(table: Table) -> None:
    truth = bordered([list(row) for row in table.cells])
    for shown_row, row in zip(published(suppress(table)), truth, strict=True):
        assert all(value is None or value == number for value, number in zip(shown_row, row, strict=True))


@given(TABLES)
@example(Table(("one row",), ("a", "b", "c"), ((1, 2, 30),)))
@example(Table(("a", "b", "c"), ("one column",), ((4,), (0,), (25,))))
@example(Table(("a", "b"), ("c", "d"), ((1, 1), (1, 1))))  # everything suppressed
@settings(max_examples=400, deadline=None)
def test_no_suppressed_number_can_be_derived(table: Table) -> None:
    cells = [list(row) for row in table.cells]
    shown = published(suppress(table))
    for i, row in enumerate(shown):
        for j, value in enumerate(row):
            if value is None:
                assert another_table(cells, shown, (i, j)) is not None, f"the number at {(i, j)} can be derived"


@given(TABLES)
@settings(deadline=None)
def test_suppression_is_deterministic(table: Table) -> None:
    copy = Table(table.row_labels, table.column_labels, [list(row) for row in table.cells])
    assert suppress(table) == suppress(copy)


@given(st.lists(st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 40)), min_size=1, max_size=8))
@settings(max_examples=400, deadline=None)
def test_a_breakdown_publishes_nothing_small_and_nothing_derivable(counts: list[int]) -> None:
    result = suppress_counts([f"label {i}" for i in range(len(counts))], counts)
    numbers = [*zip(result.counts, counts, strict=True), (result.total, sum(counts))]
    assert all(value is None or value == number for value, number in numbers)
    assert all(value is None or value == 0 or value >= 10 for value, _ in numbers)
    hidden = [number for value, number in zip(result.counts, counts, strict=True) if value is None]
    # With the total shown, k hidden counts (each at least 1) add up to a known sum, so each lies in
    # 1..sum - (k - 1): more than one value exactly when the sum exceeds k. A hidden total can rise
    # with a hidden count, and would equal the shown counts' sum without one.
    if result.total is None:
        assert hidden
    else:
        assert not hidden or sum(hidden) > len(hidden)


@given(TABLES)
@settings(max_examples=200, deadline=None)
def test_every_complementary_suppression_is_needed(table: Table) -> None:
    cells = [list(row) for row in table.cells]
    truth = bordered(cells)
    shown = published(suppress(table))
    hidden = [(i, j) for i, row in enumerate(shown) for j, value in enumerate(row) if value is None]
    for i, j in [(i, j) for i, j in hidden if truth[i][j] >= 10]:
        shown[i][j] = truth[i][j]
        assert any(another_table(cells, shown, entry) is None for entry in hidden if entry != (i, j))
        shown[i][j] = X
