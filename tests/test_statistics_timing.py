"""Tables beside the day table (routing/statistics/timing.py, suppression.suppress_beside): calls by day × hour and by
wait never hide a total the day table publishes, never show a day it hides, and leave nothing small derivable."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, example, given, settings
from test_suppression import TABLES, X, another_table, make_table, published

from routing.statistics.counts import CALL_OUTCOMES, ContactRow, call_table, chat_outcome
from routing.statistics.suppression import SuppressedTable, Table, suppress_beside
from routing.statistics.timing import band_names, breakdown, hour_table, wait_band, wait_table

DAY1, DAY2, DAY3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)


def kept_rows(table: Table) -> Table:
    """The rows a caller may give: those whose total is published beside (0, or 10 and more)."""
    rows = [(label, row) for label, row in zip(table.row_labels, table.cells, strict=True) if not 1 <= sum(row) <= 9]
    assume(rows)
    return Table(tuple(label for label, _ in rows), table.column_labels, tuple(row for _, row in rows))


def test_a_row_of_ones_adding_up_to_a_known_total_is_left_out() -> None:
    """Ten 1s in a row whose total of 10 is known elsewhere are each exactly 1, however many are hidden."""
    table = make_table({"12-01": [1] * 10, "12-02": [12, 3, 0, 20, 11, 0, 0, 14, 0, 15]}, [f"{h}時" for h in range(10)])
    result, left_out = suppress_beside(table)
    assert left_out == ("12-01",) and result.row_labels == ("12-02",)
    assert result.row_totals == (75,) and result.grand_total == 75
    assert result.cells == ((12, X, 0, 20, X, 0, 0, 14, 0, 15),)  # the 3 hides with the 11, the cheapest partner


@given(TABLES)
@example(Table(("a", "b"), ("c", "d"), ((5, 5), (1, 9))))
@example(Table(("ones", "threes"), tuple("cdefghijkl"), ((1,) * 10, (3,) * 10)))  # the ones are left out
@settings(max_examples=300, deadline=None)
def test_beside_a_published_table_no_total_is_hidden_and_nothing_small_can_be_derived(table: Table) -> None:
    table = kept_rows(table)
    result, left_out = suppress_beside(table)
    kept = [table.row_labels.index(label) for label in result.row_labels]
    assert sorted([*result.row_labels, *left_out], key=table.row_labels.index) == list(table.row_labels)
    cells = [list(table.cells[i]) for i in kept]
    if not cells:
        assert result.grand_total is None
        return
    assert result.row_totals == tuple(sum(row) for row in cells) and result.grand_total == sum(map(sum, cells))
    shown = published(result)
    for i, row in enumerate(shown):
        for j, value in enumerate(row):
            assert value is None or value == 0 or value >= 10
            if value is None:
                assert another_table(cells, shown, (i, j)) is not None, f"the number at {(i, j)} can be derived"


def calls(*specs: tuple[date, int, str, int, float]) -> list[ContactRow]:
    """(day, hour, outcome, how many, wait) → that many calls."""
    return [ContactRow(day, "general", outcome, hour, wait) for day, hour, outcome, n, wait in specs for _ in range(n)]


def test_by_hour_leaves_out_a_day_the_day_table_hides_and_keeps_the_totals_it_shows() -> None:
    rows = calls((DAY1, 21, "connected", 30, 0), (DAY1, 9, "abandoned", 12, 0), (DAY2, 22, "connected", 4, 0), (DAY3, 2, "fallback", 15, 0))
    by_day = call_table(rows, "day")
    assert by_day.row_totals == (X, X, 15)  # Dec 2's 4 is small; Dec 1's 42 hides with it
    found = hour_table(rows, by_day, 3)
    assert found.left_out == ("2026-12-01", "2026-12-02") and found.table.row_labels == ("2026-12-03",)
    assert found.table.row_totals == (15,) and found.table.cells == ((15, 0, 0, 0, 0, 0, 0, 0),)
    assert breakdown(rows, "hour", CALL_OUTCOMES, width=3) == found


def test_by_wait_counts_only_connected_calls_beside_their_total() -> None:
    rows = calls((DAY1, 21, "connected", 25, 0.0), (DAY1, 21, "connected", 12, 200.0), (DAY1, 22, "abandoned", 14, 0.0))
    found = wait_table(rows, call_table(rows, "day"))
    assert found.table.cells == ((25, 0, 12, 0, 0),) and found.table.row_totals == (37,) and not found.left_out
    few = calls((DAY1, 21, "connected", 5, 0.0), (DAY1, 21, "abandoned", 30, 0.0))
    assert wait_table(few, call_table(few, "day")).left_out == ("connected",)  # the day table hides the 5 connected


@pytest.mark.parametrize(("seconds", "band"), [(0, "under_1m"), (59.9, "under_1m"), (60, "1_3m"), (600, "10_30m"), (1800, "over_30m")])
def test_waits_fall_in_bands(seconds: float, band: str) -> None:
    assert wait_band(seconds) == band


def test_time_bands_are_named_in_japanese() -> None:
    assert list(band_names(3).items())[-1] == ("21", "21〜24時") and band_names(1)["07"] == "7時台" and len(band_names(6)) == 4
    with pytest.raises(ValueError, match="1 or 3 or 6 hours"):
        band_names(2)


@pytest.mark.parametrize(
    ("status", "reason", "queued", "answered", "outcome"),
    [
        ("closed", "counsellor", True, True, "connected"),
        ("talking", None, True, True, "connected"),
        ("waiting", None, True, False, "open"),
        ("closed", "person_left", True, False, "abandoned_in_queue"),
        ("closed", "left_in_intake", False, False, "abandoned"),
        ("closed", "nothing_open", False, False, "no_service_open"),
        ("closed", "own_sns", False, False, "own_sns"),
    ],
)
def test_how_a_chat_ended(status: str, reason: str | None, queued: bool, answered: bool, outcome: str) -> None:
    assert chat_outcome(status=status, close_reason=reason, queued=queued, answered=answered) == outcome


def test_a_table_with_every_row_left_out_publishes_nothing() -> None:
    rows = calls((DAY1, 21, "connected", 3, 0))
    found = hour_table(rows, call_table(rows, "day"), 3)
    assert found.left_out == ("2026-12-01",)
    assert found.table == SuppressedTable((), tuple(band_names(3)), (), (), (X,) * 8, X)
