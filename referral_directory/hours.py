"""Opening hours in JST: is a service open at an instant, until when, and when does it next open.

Pure: the instant and the holiday calendar are arguments; nothing here reads a clock or does
I/O. Times of day are whole minutes after midnight JST; instants may be in any timezone
(they are converted to JST) but must be timezone-aware.

Semantics:

1. A window belongs to the day D it opens on. An instant t is in a window of day D when
   D+opens <= t < D+closes; when closes <= opens the window runs past midnight and closes
   on D+1.
2. Weekly windows of day D apply unless D is a national holiday and `closed_on_holidays`;
   then all of that day's windows are closed, including their after-midnight part. A window
   opening the evening before a holiday and running into it is open (it belongs to the day
   before).
3. Dated extra windows apply on days D with start <= D <= end, whatever the holiday rule:
   explicit extended hours win over the general holiday behaviour.
4. Closures win over everything: no instant on a closed day is open (a window from the day
   before is cut at midnight), and windows opening on a closed day do not open at all, not
   even their after-midnight part.
5. Overlapping windows simply union.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TypeVar

JST = timezone(timedelta(hours=9), "JST")
# The days anything is asked about: the service's own era, far from datetime's limits (years 1 and 9999) where a
# day's arithmetic in JST overflows. The APIs refuse instants and dates outside it (422) before using them.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_When = TypeVar("_When", bound=date)

_DAY_MINUTES = 1440
_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAYS = frozenset(range(7))
_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
# open_until gives up following back-to-back windows after this long: it is a 24-hour line.
_STAYS_OPEN = timedelta(days=8)
_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})([+-][0-9]{2}:?[0-9]{2}|Z)?")

_Interval = tuple[int, int]
# Indexed by weekday: the merged same-day intervals of the windows opening that day.
_DayTable = tuple[tuple[_Interval, ...], ...]
# Indexed by weekday: how many minutes past the next midnight that day's windows run.
_Spill = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window. It belongs to the day it opens on."""

    days: frozenset[int]  # 0=Monday .. 6=Sunday
    opens: int  # minutes after midnight, 0..1439
    closes: int  # 1..1440; closes <= opens runs past midnight; opens=0, closes=1440 is all day

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days or not self.days <= _WEEKDAYS:
            raise ValueError(f"window days must be a non-empty subset of 0..6 (Monday..Sunday), got {sorted(self.days)}")
        if not 0 <= self.opens < _DAY_MINUTES:
            raise ValueError(f"window opens at minute {self.opens}; it must be 0..1439 (00:00..23:59)")
        if not 0 < self.closes <= _DAY_MINUTES:
            raise ValueError(f"window closes at minute {self.closes}; it must be 1..1440 (00:01..24:00)")


@dataclass(frozen=True, slots=True)
class DatedHours:
    """Extra opening hours that apply only between two dates (inclusive, JST), e.g. extended 年末年始 surge hours."""

    start: date
    end: date
    windows: tuple[Window, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        if self.end < self.start:
            raise ValueError(f"dated hours end {self.end} before they start {self.start}")


@dataclass(frozen=True, slots=True)
class Hours:
    """A service's opening hours: weekly windows, dated extras, closures and the holiday rule."""

    weekly: tuple[Window, ...]
    extra: tuple[DatedHours, ...] = ()  # dated openings, in addition to weekly
    closures: tuple[tuple[date, date], ...] = ()  # whole days closed, inclusive ranges
    closed_on_holidays: bool = True  # closed on Japanese national holidays
    # Compiled once so that is_open_at is a few lookups; not part of equality or hashing.
    _same: _DayTable = field(init=False, repr=False, compare=False)
    _spill: _Spill = field(init=False, repr=False, compare=False)
    _dated: tuple[tuple[date, date, _DayTable, _Spill], ...] = field(init=False, repr=False, compare=False)
    _closed: frozenset[date] = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)  # open around the clock, every day
    _hash: int = field(init=False, repr=False, compare=False)  # of the four fields above, once: Hours are dictionary keys

    def __hash__(self) -> int:
        return self._hash

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # the dataclass is frozen; this is its one-time compilation
        set_(self, "weekly", tuple(self.weekly))
        set_(self, "extra", tuple(self.extra))
        set_(self, "closures", tuple((start, end) for start, end in self.closures))
        for start, end in self.closures:
            if end < start:
                raise ValueError(f"closure ends {end} before it starts {start}")
        set_(self, "_closed", frozenset(_days_between(self.closures)))
        same, spill = _compile(self.weekly)
        set_(self, "_same", same)
        set_(self, "_spill", spill)
        set_(self, "_dated", tuple((dated.start, dated.end, *_compile(dated.windows)) for dated in self.extra))
        set_(self, "_always", not self.closures and not self.closed_on_holidays and all(d == ((0, _DAY_MINUTES),) for d in same))
        set_(self, "_hash", hash((self.weekly, self.extra, self.closures, self.closed_on_holidays)))


def supported(when: _When) -> _When:
    """Return a date, or an instant (its date as written), when it lies from FIRST_DAY to LAST_DAY; else ValueError."""
    day = when.date() if isinstance(when, datetime) else when
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{when.isoformat()} is out of range: give a date from {FIRST_DAY} to {LAST_DAY}")
    return when


def parse_hhmm(text: str) -> int:
    """Minutes after midnight JST for "HH:MM" (optionally suffixed "+09:00"); "24:00" is 1440."""
    match = _HHMM.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'time "{text}" is not HH:MM (e.g. "09:00", "17:30", "24:00")')
    hour, minute, offset = int(match[1]), int(match[2]), match[3]
    if offset is not None and offset != "+09:00":
        raise ValueError(f'time "{text}" has offset "{offset}"; opening hours are in JST, so only "+09:00" is accepted')
    if minute > 59:
        raise ValueError(f'time "{text}": minute {minute:02d} is out of range (00..59)')
    if hour > 24 or (hour == 24 and minute):
        raise ValueError(f'time "{text}" is out of range (00:00..24:00)')
    return hour * 60 + minute


def parse_byday(text: str) -> frozenset[int]:
    """Weekday numbers (0=Monday) for an iCalendar BYDAY list such as "MO,TU,WE,TH,FR"."""
    if not text.strip():
        raise ValueError('byday is empty; list days such as "MO,TU,WE,TH,FR"')
    days: set[int] = set()
    for token in text.split(","):
        code = token.strip().upper()
        if code not in _DAY_CODES:
            raise ValueError(f'byday "{text}": unknown day "{token.strip()}"; use MO, TU, WE, TH, FR, SA, SU')
        days.add(_DAY_CODES.index(code))
    return frozenset(days)


def window(byday: str, opens_at: str, closes_at: str) -> Window:
    """A Window from HSDS-style strings, e.g. window("MO,TU,WE,TH,FR", "09:00", "17:00")."""
    opens, closes = parse_hhmm(opens_at), parse_hhmm(closes_at)
    if opens == _DAY_MINUTES:
        raise ValueError(f'a window cannot open at "{opens_at}"; use "00:00"')
    # Closing at 00:00 means closing at midnight, which Window spells 1440.
    return Window(parse_byday(byday), opens, closes or _DAY_MINUTES)


def japanese_holidays(first_year: int, last_year: int) -> frozenset[date]:
    """Japan's national holidays (substitute and citizens' holidays included) for the years given."""
    # Imported here: loading the package costs ~0.1 s, paid only by the start-up that builds the set.
    import holidays as holiday_calendars

    if last_year < first_year:
        raise ValueError(f"last_year {last_year} is before first_year {first_year}")
    return frozenset(holiday_calendars.country_holidays("JP", years=range(first_year, last_year + 1)))


def is_open_at(hours: Hours, at: datetime, holidays: Container[date]) -> bool:
    """Whether the service is open at the instant `at`."""
    if hours._always:
        _to_jst(at)  # still refuses a naive instant
        return True
    t = _to_jst(at)
    day = t.date()
    closed = hours._closed
    if day in closed:
        return False
    minute = t.hour * 60 + t.minute
    weekday = day.weekday()
    if not (hours.closed_on_holidays and day in holidays):
        for opens, closes in hours._same[weekday]:
            if opens <= minute < closes:
                return True
    prev = day - _ONE_DAY
    # weekday - 1 is -1 on Monday, which indexes Sunday.
    if minute < hours._spill[weekday - 1] and prev not in closed:
        if not (hours.closed_on_holidays and prev in holidays):
            return True
    for start, end, same, spill in hours._dated:
        if start <= day <= end:
            for opens, closes in same[weekday]:
                if opens <= minute < closes:
                    return True
        if minute < spill[weekday - 1] and start <= prev <= end and prev not in closed:
            return True
    return False


def open_until(hours: Hours, at: datetime, holidays: Container[date]) -> datetime | None:
    """When a service open at `at` next closes (JST, tz-aware), following back-to-back windows across midnight.

    None when it stays open for at least 8 days (a 24-hour line). Precondition: is_open_at(...) is True.
    """
    if hours._always:
        _to_jst(at)
        return None
    t = _to_jst(at)
    day = t.date()
    minute = t.hour * 60 + t.minute
    closes = next((hi for lo, hi in _open_intervals(hours, day, holidays) if lo <= minute < hi), None)
    if closes is None:
        raise ValueError(f"the service is closed at {t.isoformat()}; ask next_opening instead")
    midnight, limit = datetime.combine(day, _MIDNIGHT, JST), t + _STAYS_OPEN
    while closes == _DAY_MINUTES and midnight + _ONE_DAY < limit:
        day, midnight = day + _ONE_DAY, midnight + _ONE_DAY
        intervals = _open_intervals(hours, day, holidays)
        closes = intervals[0][1] if intervals and intervals[0][0] == 0 else 0
    end = midnight + timedelta(minutes=closes)
    return None if end >= limit else end


def next_opening(hours: Hours, at: datetime, holidays: Container[date], horizon_days: int = 400) -> datetime | None:
    """The earliest instant >= at when the service is open (at itself, in JST, if open); None when it never opens within the horizon."""
    t = _to_jst(at)
    if not any(hours._same) and not hours._dated:
        return None
    day = t.date()
    minute = t.hour * 60 + t.minute
    for opens, closes in _open_intervals(hours, day, holidays):
        if opens <= minute < closes:
            return t
        if opens > minute:
            return _at_minute(day, opens)
    for _ in range(horizon_days):
        day += _ONE_DAY
        if day not in hours._closed:  # skipped here because long closures are the slow case
            for opens, _closes in _open_intervals(hours, day, holidays):
                return _at_minute(day, opens)
    return None


def open_spans(hours: Hours, start: datetime, end: datetime, holidays: Container[date]) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) during which the service is open, in order (JST, tz-aware), each cut to [start, end)."""
    t, stop = _to_jst(start), _to_jst(end)
    spans: list[tuple[datetime, datetime]] = []
    while t < stop:
        if is_open_at(hours, t, holidays):
            # None is "open for at least 8 more days": follow it in steps, so that a long range still ends where it closes.
            until = open_until(hours, t, holidays) or t + _STAYS_OPEN
            closes = min(until, stop)
            if spans and spans[-1][1] == t:
                spans[-1] = (spans[-1][0], closes)
            else:
                spans.append((t, closes))
            t = closes
        else:
            opens = next_opening(hours, t, holidays, horizon_days=(stop - t).days + 2)
            if opens is None or opens >= stop or opens <= t:  # opens <= t never happens; it would loop for ever
                break
            t = opens
    return spans


def _open_intervals(hours: Hours, day: date, holidays: Container[date]) -> Sequence[_Interval]:
    """The sorted, merged minute intervals of calendar day `day` during which the service is open."""
    closed = hours._closed
    if day in closed:
        return ()
    weekday, prev = day.weekday(), day - _ONE_DAY
    same = () if hours.closed_on_holidays and day in holidays else hours._same[weekday]
    reach = hours._spill[weekday - 1]  # how far windows from the day before run into this day
    if reach and (prev in closed or (hours.closed_on_holidays and prev in holidays)):
        reach = 0
    if not reach and not hours._dated:
        return same  # merged when Hours was compiled
    parts = list(same)
    for start, end, dated_same, dated_spill in hours._dated:
        if start <= day <= end:
            parts.extend(dated_same[weekday])
        if start <= prev <= end and prev not in closed:
            reach = max(reach, dated_spill[weekday - 1])
    if reach:
        parts.append((0, reach))
    return _merge(parts)


def _compile(windows: Iterable[Window]) -> tuple[_DayTable, _Spill]:
    """Per weekday: the merged same-day intervals of windows opening that day, and their reach past midnight."""
    same: list[list[_Interval]] = [[] for _ in range(7)]
    spill = [0] * 7
    for w in windows:
        overnight = w.closes <= w.opens
        for weekday in w.days:
            same[weekday].append((w.opens, _DAY_MINUTES if overnight else w.closes))
            if overnight:
                spill[weekday] = max(spill[weekday], w.closes)
    return tuple(tuple(_merge(parts)) for parts in same), tuple(spill)


def _merge(parts: list[_Interval]) -> list[_Interval]:
    """Union of half-open intervals, sorted; touching intervals join."""
    merged: list[_Interval] = []
    for lo, hi in sorted(parts):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _days_between(ranges: Iterable[tuple[date, date]]) -> Iterable[date]:
    """Every date in the inclusive ranges."""
    for start, end in ranges:
        for offset in range((end - start).days + 1):
            yield start + timedelta(days=offset)


def _at_minute(day: date, minute: int) -> datetime:
    """The JST instant `minute` minutes after midnight starting `day` (1440 is the next midnight)."""
    return datetime.combine(day, _MIDNIGHT, JST) + timedelta(minutes=minute)


def _to_jst(at: datetime) -> datetime:
    """`at` in JST; naive datetimes are refused because their timezone is a guess."""
    if at.tzinfo is JST:
        return at
    if at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass a timezone-aware instant, e.g. datetime.now(JST)")
    return at.astimezone(JST)
