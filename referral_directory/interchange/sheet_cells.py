"""The little languages of the directory sheet's cells: code lists, weekly hours, date ranges, dated hours.

Each `read_*` returns canonical values or raises ValueError with a message for the coordinator;
each `write_*` gives back the text a `read_*` turns into the same values.

Every cell also passes through one guard against spreadsheet formulas (OWASP's CSV-injection
rule): `guard_formula` on the way out puts a single quote `'` before a text that begins with
`=`, `+`, `-`, `@` (or their full-width forms, which Japanese Excel may read alike), a tab, a
carriage return, or a quote `'` itself; `unguard_formula` on the way in removes a leading quote
only when one of those same characters follows it. Every text comes back exactly as it went out,
a name that really begins with `'` included (it goes out as `''`), and a quote a coordinator
typed before other text (`'06`) stays.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from typing import Any

from referral_directory.hours import parse_hhmm
from referral_directory.records import WEEKDAYS

# (byday in week order, opens_at, closes_at): one weekly window.
Window = tuple[tuple[str, ...], str, str]
DateRange = tuple[date, date]

ALL_DAY = ("00:00", "24:00")
# What a spreadsheet may take for the start of a formula (OWASP), and the guard's own quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠", "'")
_DAY_INDEX = {day: index for index, day in enumerate(WEEKDAYS)}
_ENTRY_SEPARATOR = re.compile(r"[;\n]")
_CODE_SEPARATOR = re.compile(r"[\s,、;]+")
_WINDOW = re.compile(r"(?:(?P<days>[A-Z][A-Z,\s-]*?)\s+)?(?:(?P<all>24H)|(?P<opens>\d{1,2}:\d{2})\s*[-~〜–]\s*(?P<closes>\d{1,2}:\d{2}))")
_DATE_RANGE = re.compile(r"(?P<start>\d{4}-\d{2}-\d{2})(?:\s*/\s*(?P<end>\d{4}-\d{2}-\d{2}))?")
HOURS_EXAMPLE = '"MO-FR 09:00-17:00; SA 10:00-15:00" or "24h"'
DATES_EXAMPLE = '"2026-12-29/2027-01-03; 2027-05-03"'
EXTRA_EXAMPLE = '"2026-12-29/2027-01-03 MO-SU 18:00-24:00"'


def guard_formula(text: str) -> str:
    """Return a cell's text as a spreadsheet reads it as text, never as a formula: quoted when it begins like one."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unguard_formula(text: str) -> str:
    """Return the text `guard_formula` was given: a leading quote goes only when it guards a formula start (or a quote)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def cell_text(value: Any) -> str:
    """Return an XLSX cell as the text a coordinator sees in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value)


def normalize(text: str) -> str:
    """Return the cell with full-width letters, digits and punctuation made ASCII, and spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def entries(text: str) -> list[str]:
    """Return the non-empty entries of a cell that lists them separated by ";" or line breaks."""
    return [entry.strip() for entry in _ENTRY_SEPARATOR.split(normalize(text)) if entry.strip()]


def read_codes(text: str) -> list[str]:
    """Return the lower-case codes of a cell listing them separated by spaces, commas or ";"."""
    return [code.lower() for code in _CODE_SEPARATOR.split(normalize(text)) if code]


def read_window(entry: str) -> Window:
    """Return the weekly window an entry like "MO-FR 09:00-17:00", "SA,SU 24h" or "24h" (every day) means."""
    match = _WINDOW.fullmatch(normalize(entry).upper())
    if match is None:
        raise ValueError(f'"{entry}" is not opening hours like {HOURS_EXAMPLE}')
    if match["days"] is None and match["all"] is None:
        raise ValueError(f'"{entry}" does not say which days; write it like "MO-FR {entry}"')
    days = _read_days(match["days"]) if match["days"] else WEEKDAYS
    if match["all"]:
        return days, *ALL_DAY
    return days, _read_time(match["opens"]), _read_time(match["closes"])


def read_date_range(entry: str) -> DateRange:
    """Return the inclusive dates of "2026-12-29/2027-01-03" or of a single day "2027-05-03"."""
    match = _DATE_RANGE.fullmatch(normalize(entry))
    if match is None:
        raise ValueError(f'"{entry}" is not a date or date range like {DATES_EXAMPLE}')
    start = _read_date(match["start"])
    return start, _read_date(match["end"]) if match["end"] else start


def read_dated_window(entry: str) -> tuple[DateRange, Window]:
    """Return the dates and window of dated hours like "2026-12-29/2027-01-03 MO-SU 18:00-24:00"."""
    dates, _, hours = normalize(entry).partition(" ")
    if not hours.strip():
        raise ValueError(f'"{entry}" is not dated hours like {EXTRA_EXAMPLE}')
    return read_date_range(dates), read_window(hours.strip())


def write_window(window: Window) -> str:
    """Return the sheet text of a weekly window: "MO-FR 09:00-17:00", "SA 24h", or "24h" for every day."""
    byday, opens_at, closes_at = window
    if (opens_at, closes_at) == ALL_DAY:
        return "24h" if byday == WEEKDAYS else f"{_write_days(byday)} 24h"
    return f"{_write_days(byday)} {opens_at}-{closes_at}"


def write_date_range(start: date, end: date) -> str:
    """Return "2026-12-29/2027-01-03", or a single date for a one-day range."""
    return start.isoformat() if start == end else f"{start.isoformat()}/{end.isoformat()}"


def _read_days(text: str) -> tuple[str, ...]:
    chosen: set[str] = set()
    for item in text.replace(" ", "").split(","):
        first, _, last = item.partition("-")
        for day in (first, last) if last else (first,):
            if day not in WEEKDAYS:
                raise ValueError(f'unknown day "{day}" in "{text.strip()}"; use {", ".join(WEEKDAYS)} or ranges like MO-FR')
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        # A range may wrap around the week's end: FR-MO is Friday to Monday.
        chosen.update(WEEKDAYS[(start + step) % 7] for step in range((end - start) % 7 + 1))
    return tuple(day for day in WEEKDAYS if day in chosen)


def _write_days(byday: tuple[str, ...]) -> str:
    """Return days in week order, runs of three or more written as ranges: "MO-TH,SU"."""
    runs: list[list[str]] = []
    for day in byday:
        if runs and _DAY_INDEX.get(day, -9) == _DAY_INDEX.get(runs[-1][-1], -9) + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(run) for run in runs)


def _read_time(text: str) -> str:
    minutes = parse_hhmm(text.zfill(5))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _read_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a real date (YYYY-MM-DD)') from None
