"""Opening hours: table-driven cases for the semantics, and properties against a literal reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from referral_directory.hours import (
    JST,
    DatedHours,
    Hours,
    Window,
    is_open_at,
    japanese_holidays,
    next_opening,
    open_spans,
    open_until,
    parse_byday,
    parse_hhmm,
    window,
)

UTC = UTC
HOLIDAYS = japanese_holidays(2025, 2029)
EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
NEW_YEAR = (date(2026, 12, 29), date(2027, 1, 3))


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


def make_hours(*windows: Window, extra=(), closures=(), closed_on_holidays: bool = True) -> Hours:
    return Hours(tuple(windows), extra=tuple(extra), closures=tuple(closures), closed_on_holidays=closed_on_holidays)


OFFICE = make_hours(window("MO,TU,WE,TH,FR", "09:00", "17:00"))
OFFICE_ALL_HOLIDAYS = make_hours(window("MO,TU,WE,TH,FR", "09:00", "17:00"), closed_on_holidays=False)
OFFICE_NEW_YEAR = make_hours(window("MO,TU,WE,TH,FR", "09:00", "17:00"), closures=[NEW_YEAR])
NIGHTLY = make_hours(window(EVERY_DAY, "22:00", "06:00"))
MONDAY_NIGHT = make_hours(window("MO", "22:00", "06:00"))
SUNDAY_NIGHT = make_hours(window("SU", "22:00", "06:00"))
ALWAYS = make_hours(window(EVERY_DAY, "00:00", "24:00"))
ALWAYS_EVEN_HOLIDAYS = make_hours(window(EVERY_DAY, "00:00", "24:00"), closed_on_holidays=False)
# Obon surge: evenings every day 2026-08-10..16, on top of office hours; 08-11 is 山の日.
OBON_SURGE = make_hours(
    window("MO,TU,WE,TH,FR", "09:00", "17:00"),
    extra=[DatedHours(date(2026, 8, 10), date(2026, 8, 16), (window(EVERY_DAY, "17:00", "22:00"),))],
)
# Surge hours that overlap the 年末年始 closure: the closure wins.
NEW_YEAR_SURGE = make_hours(
    window("MO,TU,WE,TH,FR", "09:00", "17:00"),
    extra=[DatedHours(date(2026, 12, 26), date(2027, 1, 5), (window(EVERY_DAY, "20:00", "02:00"),))],
    closures=[NEW_YEAR],
)

OPEN_CASES = [
    pytest.param(OFFICE, jst(2026, 1, 5, 9, 0), True, id="office-opens-0900"),
    pytest.param(OFFICE, jst(2026, 1, 5, 16, 59, 59), True, id="office-open-165959"),
    pytest.param(OFFICE, jst(2026, 1, 5, 17, 0), False, id="office-closed-at-1700-exactly"),
    pytest.param(OFFICE, jst(2026, 1, 5, 8, 59), False, id="office-closed-0859"),
    pytest.param(OFFICE, jst(2026, 1, 10, 12, 0), False, id="office-closed-saturday"),
    pytest.param(OFFICE, jst(2026, 1, 11, 12, 0), False, id="office-closed-sunday"),
    pytest.param(NIGHTLY, jst(2026, 1, 5, 23, 59), True, id="overnight-open-2359"),
    pytest.param(NIGHTLY, jst(2026, 1, 6, 0, 1), True, id="overnight-open-0001"),
    pytest.param(NIGHTLY, jst(2026, 1, 6, 6, 0), False, id="overnight-closed-0600"),
    pytest.param(NIGHTLY, jst(2026, 1, 6, 21, 59), False, id="overnight-closed-2159"),
    pytest.param(MONDAY_NIGHT, jst(2026, 1, 6, 1, 0), True, id="monday-night-open-tuesday-0100"),
    pytest.param(MONDAY_NIGHT, jst(2026, 1, 5, 1, 0), False, id="monday-night-closed-monday-0100"),
    pytest.param(ALWAYS, jst(2026, 1, 5, 0, 0), True, id="all-day-midnight"),
    pytest.param(ALWAYS, jst(2026, 1, 10, 23, 59, 59), True, id="all-day-saturday-end"),
    pytest.param(OFFICE, jst(2027, 1, 11, 10, 0), False, id="holiday-seijin-no-hi-2027-01-11"),
    pytest.param(OFFICE, jst(2026, 11, 23, 10, 0), False, id="holiday-kinro-kansha-2026-11-23"),
    pytest.param(OFFICE, jst(2026, 5, 6, 10, 0), False, id="substitute-holiday-2026-05-06"),
    pytest.param(OFFICE, jst(2026, 9, 22, 10, 0), False, id="citizens-holiday-2026-09-22"),
    pytest.param(OFFICE, jst(2026, 5, 7, 10, 0), True, id="day-after-golden-week-open"),
    pytest.param(ALWAYS, jst(2027, 1, 11, 0, 0), False, id="all-day-closed-on-holiday"),
    pytest.param(OFFICE_ALL_HOLIDAYS, jst(2027, 1, 11, 10, 0), True, id="open-on-holidays-2027-01-11"),
    pytest.param(ALWAYS_EVEN_HOLIDAYS, jst(2026, 5, 6, 3, 0), True, id="all-day-open-on-holidays"),
    pytest.param(SUNDAY_NIGHT, jst(2027, 1, 11, 1, 0), True, id="evening-before-holiday-runs-into-it"),
    pytest.param(MONDAY_NIGHT, jst(2027, 1, 11, 23, 0), False, id="holiday-window-closed-evening"),
    pytest.param(MONDAY_NIGHT, jst(2027, 1, 12, 1, 0), False, id="holiday-window-closed-after-midnight"),
    pytest.param(OFFICE_NEW_YEAR, jst(2026, 12, 28, 16, 59), True, id="new-year-open-before-closure"),
    pytest.param(OFFICE_NEW_YEAR, jst(2026, 12, 29, 10, 0), False, id="new-year-closed-12-29"),
    pytest.param(OFFICE_NEW_YEAR, jst(2026, 12, 30, 12, 0), False, id="new-year-closed-12-30"),
    pytest.param(OFFICE_NEW_YEAR, jst(2026, 12, 31, 12, 0), False, id="new-year-closed-12-31"),
    pytest.param(OFFICE_NEW_YEAR, jst(2027, 1, 1, 12, 0), False, id="new-year-closed-01-01"),
    pytest.param(OFFICE_NEW_YEAR, jst(2027, 1, 2, 12, 0), False, id="new-year-closed-01-02"),
    pytest.param(OFFICE_NEW_YEAR, jst(2027, 1, 3, 12, 0), False, id="new-year-closed-01-03"),
    pytest.param(OFFICE_NEW_YEAR, jst(2027, 1, 4, 9, 0), True, id="new-year-open-01-04-0900"),
    pytest.param(OBON_SURGE, jst(2026, 8, 15, 20, 0), True, id="surge-saturday-evening"),
    pytest.param(OBON_SURGE, jst(2026, 8, 11, 20, 0), True, id="surge-wins-over-holiday-rule"),
    pytest.param(OBON_SURGE, jst(2026, 8, 11, 10, 0), False, id="surge-holiday-weekly-still-closed"),
    pytest.param(OBON_SURGE, jst(2026, 8, 17, 20, 0), False, id="surge-over-day-after-end"),
    pytest.param(OBON_SURGE, jst(2026, 8, 9, 20, 0), False, id="surge-not-yet-day-before-start"),
    pytest.param(NEW_YEAR_SURGE, jst(2026, 12, 28, 23, 0), True, id="surge-before-closure-open"),
    pytest.param(NEW_YEAR_SURGE, jst(2026, 12, 29, 1, 0), False, id="closure-cuts-surge-at-midnight"),
    pytest.param(NEW_YEAR_SURGE, jst(2026, 12, 31, 21, 0), False, id="closure-beats-surge"),
    pytest.param(NEW_YEAR_SURGE, jst(2027, 1, 4, 1, 0), False, id="surge-from-closed-day-never-opens"),
    pytest.param(NEW_YEAR_SURGE, jst(2027, 1, 4, 21, 0), True, id="surge-after-closure-open"),
    pytest.param(OFFICE, datetime(2026, 1, 5, 0, 0, tzinfo=UTC), True, id="utc-0000-is-jst-0900"),
    pytest.param(OFFICE, datetime(2026, 1, 5, 8, 0, tzinfo=UTC), False, id="utc-0800-is-jst-1700"),
    pytest.param(OFFICE, datetime(2026, 1, 4, 23, 59, tzinfo=UTC), False, id="utc-sunday-is-jst-monday-0859"),
    pytest.param(NIGHTLY, datetime(2026, 1, 5, 16, 0, tzinfo=UTC), True, id="utc-1600-is-jst-0100"),
]


@pytest.mark.parametrize(("hours", "at", "expected"), OPEN_CASES)
def test_is_open_at(hours: Hours, at: datetime, expected: bool) -> None:
    assert is_open_at(hours, at, HOLIDAYS) is expected


BACK_TO_BACK = make_hours(window("MO,TU,WE,TH,FR", "18:00", "24:00"), window("TU,WE,TH,FR,SA", "00:00", "08:00"))
WEEKEND_LINE = make_hours(window("FR", "18:00", "00:00"), window("SA,SU", "00:00", "24:00"), closed_on_holidays=False)

UNTIL_CASES = [
    pytest.param(OFFICE, jst(2026, 1, 5, 9, 0), jst(2026, 1, 5, 17, 0), id="office-until-1700"),
    pytest.param(OFFICE, datetime(2026, 1, 5, 3, 0, tzinfo=UTC), jst(2026, 1, 5, 17, 0), id="office-utc-input"),
    pytest.param(NIGHTLY, jst(2026, 1, 5, 23, 0), jst(2026, 1, 6, 6, 0), id="overnight-until-next-0600"),
    pytest.param(NIGHTLY, jst(2026, 1, 6, 2, 0), jst(2026, 1, 6, 6, 0), id="overnight-after-midnight"),
    pytest.param(BACK_TO_BACK, jst(2026, 1, 5, 20, 0), jst(2026, 1, 6, 8, 0), id="chained-across-midnight"),
    pytest.param(WEEKEND_LINE, jst(2026, 1, 9, 19, 0), jst(2026, 1, 12, 0, 0), id="chained-friday-to-monday"),
    pytest.param(ALWAYS_EVEN_HOLIDAYS, jst(2026, 1, 5, 12, 0), None, id="all-day-every-day-none"),
    pytest.param(ALWAYS, jst(2027, 1, 8, 12, 0), jst(2027, 1, 11, 0, 0), id="all-day-until-holiday"),
    pytest.param(SUNDAY_NIGHT, jst(2027, 1, 10, 23, 0), jst(2027, 1, 11, 6, 0), id="into-holiday-until-0600"),
    pytest.param(NEW_YEAR_SURGE, jst(2026, 12, 28, 21, 0), jst(2026, 12, 29, 0, 0), id="cut-by-closure"),
]


@pytest.mark.parametrize(("hours", "at", "expected"), UNTIL_CASES)
def test_open_until(hours: Hours, at: datetime, expected: datetime | None) -> None:
    until = open_until(hours, at, HOLIDAYS)
    assert until == expected
    if until is not None:
        assert until.utcoffset() == timedelta(hours=9)


def test_open_until_refuses_a_closed_instant() -> None:
    with pytest.raises(ValueError, match="closed at 2026-01-05T08:00:00"):
        open_until(OFFICE, jst(2026, 1, 5, 8, 0), HOLIDAYS)


NEVER = make_hours()
CLOSED_FOR_GOOD = make_hours(window(EVERY_DAY, "09:00", "17:00"), closures=[(date(2026, 1, 1), date(2028, 12, 31))])

NEXT_CASES = [
    pytest.param(OFFICE, jst(2026, 1, 5, 10, 0), jst(2026, 1, 5, 10, 0), id="open-returns-at"),
    pytest.param(OFFICE, jst(2026, 1, 5, 8, 0), jst(2026, 1, 5, 9, 0), id="before-opening-same-day"),
    pytest.param(OFFICE, jst(2026, 1, 5, 17, 0), jst(2026, 1, 6, 9, 0), id="after-closing-next-day"),
    pytest.param(OFFICE, jst(2026, 1, 16, 18, 0), jst(2026, 1, 19, 9, 0), id="friday-evening-to-monday"),
    pytest.param(OFFICE, jst(2027, 1, 8, 18, 0), jst(2027, 1, 12, 9, 0), id="skips-holiday-monday"),
    pytest.param(OFFICE_NEW_YEAR, jst(2026, 12, 30, 12, 0), jst(2027, 1, 4, 9, 0), id="new-year-to-01-04"),
    pytest.param(OFFICE_NEW_YEAR, datetime(2026, 12, 30, 3, 0, tzinfo=UTC), jst(2027, 1, 4, 9, 0), id="new-year-utc-input"),
    pytest.param(NEW_YEAR_SURGE, jst(2026, 12, 29, 0, 0), jst(2027, 1, 4, 9, 0), id="surge-waits-for-closure"),
    pytest.param(NIGHTLY, jst(2026, 1, 5, 12, 0), jst(2026, 1, 5, 22, 0), id="overnight-opens-2200"),
    pytest.param(MONDAY_NIGHT, jst(2027, 1, 11, 12, 0), jst(2027, 1, 18, 22, 0), id="holiday-night-skipped"),
    pytest.param(NEVER, jst(2026, 1, 5, 12, 0), None, id="no-windows-never"),
    pytest.param(CLOSED_FOR_GOOD, jst(2026, 6, 1, 12, 0), None, id="closed-beyond-horizon"),
]


@pytest.mark.parametrize(("hours", "at", "expected"), NEXT_CASES)
def test_next_opening(hours: Hours, at: datetime, expected: datetime | None) -> None:
    assert next_opening(hours, at, HOLIDAYS) == expected


def test_next_opening_is_in_jst() -> None:
    opening = next_opening(OFFICE, datetime(2026, 1, 5, 1, 0, tzinfo=UTC), HOLIDAYS)
    assert opening is not None and opening.utcoffset() == timedelta(hours=9) and opening.hour == 10


@pytest.mark.parametrize("call", [is_open_at, open_until, next_opening], ids=lambda f: f.__name__)
def test_naive_datetime_is_refused(call) -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-01-05T10:00:00"):
        call(OFFICE, datetime(2026, 1, 5, 10, 0), HOLIDAYS)


def spans_as_text(spans) -> list[str]:
    return [f"{lo:%m-%d %H:%M}-{hi:%m-%d %H:%M}" for lo, hi in spans]


@pytest.mark.parametrize(
    ("hours", "start", "end", "expected"),
    [
        (OFFICE, jst(2026, 12, 1), jst(2026, 12, 3), ["12-01 09:00-12-01 17:00", "12-02 09:00-12-02 17:00"]),
        (OFFICE, jst(2026, 12, 1, 12), jst(2026, 12, 1, 13), ["12-01 12:00-12-01 13:00"]),
        (OFFICE_NEW_YEAR, jst(2026, 12, 28), jst(2027, 1, 5), ["12-28 09:00-12-28 17:00", "01-04 09:00-01-04 17:00"]),
        (
            make_hours(window(EVERY_DAY, "20:00", "02:00")),
            jst(2026, 12, 1),
            jst(2026, 12, 2, 12),
            ["12-01 00:00-12-01 02:00", "12-01 20:00-12-02 02:00"],
        ),
        (
            make_hours(window(EVERY_DAY, "00:00", "24:00"), closed_on_holidays=False),
            jst(2026, 12, 1),
            jst(2026, 12, 31),
            ["12-01 00:00-12-31 00:00"],
        ),
        (
            make_hours(window(EVERY_DAY, "00:00", "24:00"), closures=[NEW_YEAR]),
            jst(2026, 12, 27),
            jst(2027, 1, 6),
            ["12-27 00:00-12-29 00:00", "01-04 00:00-01-06 00:00"],
        ),
        (make_hours(), jst(2026, 12, 1), jst(2026, 12, 8), []),
    ],
    ids=["office-two-days", "cut-to-the-range", "nenmatsu-closure", "overnight", "24h-beyond-8-days", "24h-closed-for-nenmatsu", "never"],
)
def test_open_spans(hours: Hours, start: datetime, end: datetime, expected: list[str]) -> None:
    assert spans_as_text(open_spans(hours, start, end, HOLIDAYS)) == expected


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("00:00", 0), ("09:00", 540), ("17:30", 1050), ("23:59", 1439), ("24:00", 1440), ("18:30+09:00", 1110)],
    ids=lambda value: str(value),
)
def test_parse_hhmm(text: str, minutes: int) -> None:
    assert parse_hhmm(text) == minutes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25:00", r'time "25:00" is out of range \(00:00..24:00\)'),
        ("24:01", r'time "24:01" is out of range'),
        ("12:60", r'time "12:60": minute 60 is out of range \(00..59\)'),
        ("9am", r'time "9am" is not HH:MM'),
        ("9:00", r'time "9:00" is not HH:MM'),
        ("", r'time "" is not HH:MM'),
        ("18:30+00:00", r'has offset "\+00:00"; .* only "\+09:00" is accepted'),
        ("18:30Z", r'has offset "Z"'),
        ("18:30-05:00", r'has offset "-05:00"'),
    ],
    ids=lambda value: str(value)[:12],
)
def test_parse_hhmm_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hhmm(text)


@pytest.mark.parametrize(
    ("text", "days"),
    [("MO,TU,WE,TH,FR", {0, 1, 2, 3, 4}), ("SA,SU", {5, 6}), ("SU", {6}), ("mo, we", {0, 2})],
    ids=["weekdays", "weekend", "sunday", "lowercase-spaces"],
)
def test_parse_byday(text: str, days: set[int]) -> None:
    assert parse_byday(text) == frozenset(days)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("MO,XX,FR", r'byday "MO,XX,FR": unknown day "XX"; use MO, TU'),
        ("MON", r'unknown day "MON"'),
        ("MO,,TU", r'unknown day ""'),
        ("1MO", r'unknown day "1MO"'),
        ("", r"byday is empty"),
    ],
    ids=["bad-token", "three-letters", "empty-token", "ordinal", "empty"],
)
def test_parse_byday_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_byday(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("MO", "09:00", "17:00"), Window(frozenset({0}), 540, 1020)),
        (("MO", "22:00", "06:00"), Window(frozenset({0}), 1320, 360)),
        (("MO", "22:00", "00:00"), Window(frozenset({0}), 1320, 1440)),
        (("MO", "00:00", "24:00"), Window(frozenset({0}), 0, 1440)),
    ],
    ids=["office", "overnight", "until-midnight", "all-day"],
)
def test_window_builder(args: tuple[str, str, str], expected: Window) -> None:
    assert window(*args) == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: window("MO", "24:00", "06:00"), r'cannot open at "24:00"'),
        (lambda: Window(frozenset({7}), 0, 60), r"subset of 0..6"),
        (lambda: Window(frozenset(), 0, 60), r"non-empty"),
        (lambda: Window(frozenset({0}), 1440, 60), r"opens at minute 1440"),
        (lambda: Window(frozenset({0}), 0, 0), r"closes at minute 0"),
        (lambda: make_hours(closures=[(date(2026, 1, 3), date(2026, 1, 1))]), r"closure ends 2026-01-01 before"),
        (lambda: DatedHours(date(2026, 1, 3), date(2026, 1, 1), ()), r"end 2026-01-01 before they start"),
    ],
    ids=["open-2400", "day-7", "no-days", "opens-1440", "closes-0", "closure-reversed", "dated-reversed"],
)
def test_invalid_hours_are_refused(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_hours_compare_and_hash_by_public_fields() -> None:
    again = make_hours(window("MO,TU,WE,TH,FR", "09:00", "17:00"), closures=[NEW_YEAR])
    assert again == OFFICE_NEW_YEAR and hash(again) == hash(OFFICE_NEW_YEAR)
    assert again != OFFICE


@pytest.mark.parametrize(
    "holiday", [date(2026, 1, 1), date(2026, 5, 6), date(2026, 9, 22), date(2026, 11, 23), date(2027, 1, 11), date(2027, 3, 22)], ids=str
)
def test_japanese_holidays(holiday: date) -> None:
    assert holiday in japanese_holidays(2026, 2027)


def test_japanese_holidays_excludes_ordinary_days() -> None:
    assert date(2026, 5, 7) not in japanese_holidays(2026, 2027)
    assert date(2026, 12, 29) not in japanese_holidays(2026, 2027)  # 年末年始 is a custom, not a national holiday


# Properties: random hours checked against a literal reading of the module docstring's rules.

FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2027, 12, 31)
round_minutes = st.sampled_from([0, 360, 540, 720, 1020, 1080, 1320])
opens_minutes = st.one_of(st.integers(0, 1439), round_minutes)
closes_minutes = st.one_of(st.integers(1, 1440), round_minutes.map(lambda m: m or 1440))
days_in_range = st.dates(FIRST_DAY, LAST_DAY)


@st.composite
def windows(draw) -> Window:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    if draw(st.integers(0, 5)) == 0:
        return Window(days, 0, 1440)
    return Window(days, draw(opens_minutes), draw(closes_minutes))


@st.composite
def date_ranges(draw, longest: int) -> tuple[date, date]:
    start = draw(days_in_range)
    return start, start + timedelta(days=draw(st.integers(0, longest)))


@st.composite
def random_hours(draw) -> Hours:
    extra = [
        DatedHours(*draw(date_ranges(30)), tuple(draw(st.lists(windows(), min_size=1, max_size=2)))) for _ in range(draw(st.integers(0, 2)))
    ]
    return Hours(
        weekly=tuple(draw(st.lists(windows(), max_size=4))),
        extra=tuple(extra),
        closures=tuple(draw(st.lists(date_ranges(10), max_size=2))),
        closed_on_holidays=draw(st.booleans()),
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31, 23, 59, 59), timezones=st.sampled_from([JST, UTC]))


def reference_is_open(hours: Hours, at: datetime) -> bool:
    """The semantics read literally, one window at a time."""
    t = at.astimezone(JST)

    def closed(day: date) -> bool:
        return any(start <= day <= end for start, end in hours.closures)

    def windows_of(day: date) -> list[Window]:
        regular = [] if hours.closed_on_holidays and day in HOLIDAYS else list(hours.weekly)
        dated = [w for extra in hours.extra if extra.start <= day <= extra.end for w in extra.windows]
        return [w for w in regular + dated if day.weekday() in w.days]

    if closed(t.date()):
        return False
    for day in (t.date() - timedelta(days=1), t.date()):
        if closed(day):
            continue
        midnight = datetime(day.year, day.month, day.day, tzinfo=JST)
        for w in windows_of(day):
            closes = w.closes if w.closes > w.opens else w.closes + 1440
            if midnight + timedelta(minutes=w.opens) <= t < midnight + timedelta(minutes=closes):
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(random_hours(), instants)
def test_is_open_at_matches_the_literal_rules(hours: Hours, at: datetime) -> None:
    assert is_open_at(hours, at, HOLIDAYS) is reference_is_open(hours, at)


@settings(max_examples=300, deadline=None)
@given(random_hours(), instants, st.randoms(use_true_random=False))
def test_next_opening_is_the_earliest_open_instant(hours: Hours, at: datetime, rnd) -> None:
    opening = next_opening(hours, at, HOLIDAYS)
    if opening is None:
        assert not is_open_at(hours, at, HOLIDAYS)
        return
    assert opening >= at and is_open_at(hours, opening, HOLIDAYS)
    assert (opening == at) is is_open_at(hours, at, HOLIDAYS)
    if opening == at:
        return
    first_boundary = at.astimezone(JST).replace(second=0, microsecond=0) + timedelta(minutes=1)
    gap_minutes = int((opening - first_boundary) / timedelta(minutes=1))
    if gap_minutes < 2 * 1440:
        offsets = range(gap_minutes)
    else:
        offsets = sorted(rnd.sample(range(gap_minutes), 40)) + [0, gap_minutes - 1]
    for offset in offsets:
        assert not is_open_at(hours, first_boundary + timedelta(minutes=offset), HOLIDAYS)
    assert not is_open_at(hours, opening - timedelta(seconds=1), HOLIDAYS)


@settings(max_examples=300, deadline=None)
@given(random_hours(), date_ranges(10), st.integers(0, 10), st.integers(0, 1439))
def test_nothing_is_open_on_a_closure_day(hours: Hours, closure, day_offset: int, minute: int) -> None:
    hours = Hours(hours.weekly, hours.extra, hours.closures + (closure,), hours.closed_on_holidays)
    day = min(closure[0] + timedelta(days=day_offset), closure[1])
    at = datetime(day.year, day.month, day.day, tzinfo=JST) + timedelta(minutes=minute)
    assert not is_open_at(hours, at, HOLIDAYS)
    opening = next_opening(hours, at, HOLIDAYS)
    assert opening is None or opening.date() > closure[1]


@settings(max_examples=300, deadline=None)
@given(random_hours(), days_in_range, st.integers(2, 1439), st.data())
def test_overnight_window_is_open_either_side_of_midnight(hours: Hours, day: date, opens: int, data) -> None:
    closes = data.draw(st.integers(2, opens), label="closes")
    overnight = Window(frozenset({day.weekday()}), opens, closes)
    hours = Hours(hours.weekly + (overnight,), hours.extra, hours.closures, hours.closed_on_holidays)
    next_day = day + timedelta(days=1)
    assume(not any(start <= d <= end for start, end in hours.closures for d in (day, next_day)))
    assume(not (hours.closed_on_holidays and day in HOLIDAYS))
    assert is_open_at(hours, jst(day.year, day.month, day.day, 23, 59), HOLIDAYS)
    assert is_open_at(hours, jst(next_day.year, next_day.month, next_day.day, 0, 1), HOLIDAYS)


@settings(max_examples=300, deadline=None)
@given(random_hours(), instants)
def test_open_until_is_when_it_closes(hours: Hours, at: datetime) -> None:
    start = next_opening(hours, at, HOLIDAYS, horizon_days=30)
    assume(start is not None)
    until = open_until(hours, start, HOLIDAYS)
    if until is None:
        assert all(is_open_at(hours, start + timedelta(hours=h), HOLIDAYS) for h in range(0, 8 * 24, 7))
        return
    assert until > start
    assert is_open_at(hours, until - timedelta(seconds=1), HOLIDAYS)
    assert not is_open_at(hours, until, HOLIDAYS)
    assert until - start < timedelta(days=8)


@settings(max_examples=100, deadline=None)
@given(random_hours(), days_in_range)
def test_open_spans_are_exactly_the_open_minutes(hours: Hours, day: date) -> None:
    start = jst(day.year, day.month, day.day)
    spans = open_spans(hours, start, start + timedelta(days=2), HOLIDAYS)
    assert all(lo < hi for lo, hi in spans) and all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    for minute in range(0, 2 * 1440):
        t = start + timedelta(minutes=minute)
        assert any(lo <= t < hi for lo, hi in spans) is is_open_at(hours, t, HOLIDAYS)
