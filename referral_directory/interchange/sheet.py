"""The directory as a sheet a coordinator fills in Excel: one row per service, CSV (UTF-8) or XLSX.

The first row names the columns, in any order; only organization_name and service_name must be
present. Cells are trimmed, and full-width letters and digits are read as ASCII.

| column | what to write | example |
| --- | --- | --- |
| `service_id` | optional UUID; left empty, it is derived from organization_name and service_name (re-importing changes nothing) | |
| `organization_id` | optional UUID; left empty, it is derived from organization_name | |
| `organization_name` | the organization running the service | 東京都社会福祉協議会 |
| `service_name` | the service (window) | 東京都 孤独・孤立総合相談窓口 |
| `tier` | `national`, `prefecture` or `municipal` | prefecture |
| `topics` | codes, by spaces or commas: `life` `mind` `crisis` `violence` `family` `youth` `sogi` `foreign` `general` | general life mind |
| `channels` | `voice` and/or `sns` | voice sns |
| `capacity_voice` | sessions it can hold at once by phone (needed when it takes voice) | 5 |
| `capacity_sns` | sessions it can hold at once by SNS (needed when it takes sns) | 3 |
| `holidays` | `closed` (closed on national holidays; the default) or `open` | closed |
| `status` | `active` (the default), `inactive`, `defunct` or `temporarily closed` | active |
| `areas` | lgcodes (6 digits with check digit) separated by spaces or `;`; `000000` is the whole country | 130001 |
| `phones` | E.164 numbers separated by `;` | +81312345678 |
| `hours` | weekly windows separated by `;`: days and `HH:MM-HH:MM` (see below) | MO-FR 09:00-17:00; SA 10:00-15:00; MO-SU 22:00-06:00 |
| `closed` | whole days closed, whatever the hours say: inclusive date ranges or dates, by `;` | 2026-12-29/2027-01-03; 2027-05-03 |
| `extra_hours` | dated openings: a date range and a window, separated by `;` | 2026-12-29/2027-01-03 MO-SU 18:00-24:00 |
| `sns_url` | the window's own SNS, given as a link; empty: chats are answered in tsunagu's console | https://sns.example.jp/tokyo |
| `description` | free text | |

In `hours`, days are listed (`MO,TU`) or ranged (`MO-FR`); a closing time earlier than the opening
runs past midnight; `24h` alone is every day all day. In `closed`, days and hours written after
the dates are ignored (a closure shuts whole days), with a warning.

Problems are reported by row (as Excel numbers it: the header is row 1) and column. Phone and
schedule ids are derived from the service id and their content. The sheet carries no
organization details beyond the name, nor descriptions of phones and schedules.

No cell of an export is a formula: every XLSX cell is a text, and a text that begins with `=`,
`+`, `-`, `@` (or their full-width forms), a tab, a carriage return or `'` is written with a `'`
before it, which a reader removes again (`sheet_cells.guard_formula`). So a phone cell reads
`'+81312345678`: Excel shows the number as text instead of turning it into 81312345678.
A sheet may have at most MAX_SHEET_ROWS rows and MAX_SHEET_COLUMNS columns; a bigger one is
refused with the reason, before anything is allocated for it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

from referral_directory.interchange.sheet_cells import (
    cell_text,
    entries,
    guard_formula,
    normalize,
    read_codes,
    read_date_range,
    read_dated_window,
    read_window,
    unguard_formula,
    write_date_range,
    write_window,
)
from referral_directory.records import (
    CHANNELS,
    NATION,
    TOPICS,
    DirectoryRecords,
    OrganizationRecord,
    ParseResult,
    PhoneRecord,
    Problem,
    ScheduleKind,
    ScheduleRecord,
    ServiceRecord,
    derived_id,
)
from referral_directory.validation import capacity_problem, cut, organization_where, read_capacity_digits, service_where, validate_records

if TYPE_CHECKING:
    from referral_directory.regions import Regions

COLUMNS: tuple[str, ...] = (
    "service_id",
    "organization_id",
    "organization_name",
    "service_name",
    "tier",
    "topics",
    "channels",
    "capacity_voice",
    "capacity_sns",
    "holidays",
    "status",
    "areas",
    "phones",
    "hours",
    "closed",
    "extra_hours",
    "sns_url",
    "description",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("organization_name", "service_name")
SCHEDULE_COLUMNS: dict[ScheduleKind, str] = {"weekly": "hours", "closed": "closed", "open": "extra_hours"}
_XLSX_MAGIC = b"PK\x03\x04"
# How big a sheet may be, the header row included: the national demo directory has some 1,800
# services (2.2 MB unpacked as XLSX), and a declared or padded size beyond these is refused,
# never allocated.
MAX_SHEET_ROWS = 20_000
MAX_SHEET_COLUMNS = 100
MAX_XLSX_BYTES = 128 * 2**20  # the unpacked size of a workbook's parts, as its zip declares them
_TOO_BIG = "Delete the rows and columns after the directory, or copy the directory into a new workbook, and save it again."
_DIGITS = re.compile(r"[0-9]+")
# Record fields whose column has another name.
_SERVICE_COLUMNS = {"id": "service_id", "name": "service_name", "schedules": "hours"}
_ORGANIZATION_COLUMNS = {"id": "organization_id", "name": "organization_name"}


def decode_sheet_bytes(data: bytes) -> str:
    """Return a CSV file's text, read as UTF-8 (with or without Excel's BOM), else as Shift_JIS (cp932)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise ValueError('the file is neither UTF-8 nor Shift_JIS text; in Excel, save it as "CSV UTF-8 (comma delimited)"') from None


def parse_csv(text: str) -> ParseResult:
    """Return the records of a CSV sheet with the problems found reading it (see the module docstring)."""
    return _result(_read_csv(text))


def parse_xlsx(data: bytes) -> ParseResult:
    """Return the records of the first worksheet of an XLSX workbook, read like a CSV sheet."""
    return _result(_read_xlsx(data))


def load_csv(text: str, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Return the records of a CSV sheet with every problem, structural and semantic, by row and column."""
    return _checked(_read_csv(text), regions, known_organization_ids)


def load_xlsx(data: bytes, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Return the records of an XLSX sheet with every problem, structural and semantic, by row and column."""
    return _checked(_read_xlsx(data), regions, known_organization_ids)


def load_sheet(data: bytes, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Return the records of a sheet file's bytes, XLSX or CSV (UTF-8 or Shift_JIS), with every problem."""
    if data.startswith(_XLSX_MAGIC):
        return load_xlsx(data, regions, known_organization_ids=known_organization_ids)
    try:
        text = decode_sheet_bytes(data)
    except ValueError as error:
        return ParseResult(problems=(Problem("file", "", str(error)),))
    return load_csv(text, regions, known_organization_ids=known_organization_ids)


def to_csv(records: DirectoryRecords) -> str:
    """Return the records as CSV sheet text, starting with a BOM so that Excel reads it as UTF-8.

    Every cell is quoted, so that no separator in a text (a ";" where Excel splits on it) starts a new cell.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerows(_rows(records))
    return "\ufeff" + out.getvalue()


def to_xlsx(records: DirectoryRecords) -> bytes:
    """Return the records as an XLSX workbook of one sheet, every cell a text (never a formula) so Excel keeps 000000 and +81."""
    from openpyxl import Workbook  # imported here: only the sheet commands need it

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "directory"
    for row in _rows(records):
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.data_type = "s"  # openpyxl would write a text beginning with "=" as a formula
            if cell.row > 1:
                cell.number_format = "@"  # a cell edited in Excel stays text too
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return _with_carriage_returns_kept(out.getvalue())


def _with_carriage_returns_kept(data: bytes) -> bytes:
    """Return the workbook with each carriage return in its sheets written as the character reference `&#13;`.

    openpyxl writes a carriage return in a text as it is, and XML readers (Excel's, openpyxl's) read
    a bare one as a line feed; written as a reference it reads back as itself, so texts come back exactly.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = [(info, source.read(info)) for info in source.infolist()]
    if not any(b"\r" in content for _, content in parts):
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info, content in parts:
            # openpyxl escapes a carriage return in an attribute itself: a bare one is always in a text.
            target.writestr(info, content.replace(b"\r", b"&#13;") if info.filename.startswith("xl/worksheets/") else content)
    return out.getvalue()


@dataclass
class _Reading:
    organizations: dict[str, OrganizationRecord] = field(default_factory=dict)
    services: list[ServiceRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # service or organization `where` → its first row
    service_rows: dict[str, int] = field(default_factory=dict)  # service id → its row

    def problem(self, row: int, column: str, message: str) -> None:
        self.problems.append(Problem(f"row {row}", column, message))

    def warning(self, row: int, column: str, message: str) -> None:
        self.warnings.append(Problem(f"row {row}", column, message))


def _result(reading: _Reading) -> ParseResult:
    records = DirectoryRecords(tuple(reading.organizations.values()), tuple(reading.services))
    return ParseResult(records, tuple(reading.problems), tuple(reading.warnings), dict(reading.service_rows))


def _checked(reading: _Reading, regions: Regions, known_organization_ids: Container[str]) -> ParseResult:
    """Return the reading's result with the semantic problems added, located by row and column."""
    result = _result(reading)
    services = {service_where(s.id, s.name): s for s in reading.services}
    seen = {(p.where, p.field) for p in reading.problems}
    located = []
    for problem in validate_records(result.records, regions, known_organization_ids=known_organization_ids):
        row = reading.rows.get(problem.where)
        if row is None:
            located.append(problem)
            continue
        cell = (f"row {row}", _column(problem.field, services.get(problem.where)))
        # A cell that could not be read is not reported again as missing or empty.
        if cell not in seen or "[" in problem.field:
            located.append(Problem(*cell, problem.message))
    return replace(result, problems=result.problems + tuple(located))


def _column(path: str, service: ServiceRecord | None) -> str:
    """Return the sheet column a record field path of a service (or organization) comes from."""
    head = path.split(".")[0].split("[")[0]
    if service is None:
        return _ORGANIZATION_COLUMNS.get(head, head)
    if head == "capacity":
        return "capacity_" + path.split(".")[1] if "." in path else "capacity_voice"
    if head == "schedules" and "[" in path:
        index = int(path.split("[")[1].split("]")[0])
        return SCHEDULE_COLUMNS.get(service.schedules[index].kind, "hours")
    return _SERVICE_COLUMNS.get(head, head)


def _read_csv(text: str) -> _Reading:
    if "\ufffd" in text:
        reading = _Reading()
        message = (
            "the file holds undecodable characters: it looks like Shift_JIS read as UTF-8; "
            'in Excel, save it as "CSV UTF-8 (comma delimited)"'
        )
        reading.problem(1, "", message)
        return reading
    lines = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        return _read_rows(lines)
    except csv.Error as error:  # a cell longer than Python's CSV reader takes (128 KiB)
        return _refused(Problem("file", f"line {lines.line_num}", f"the CSV cannot be read: {error}"))


def _read_xlsx(data: bytes) -> _Reading:
    from openpyxl import load_workbook  # imported here: only the sheet commands need it

    unpacked = _unpacked_size(data)
    if unpacked > MAX_XLSX_BYTES:
        message = f"the workbook unpacks to {unpacked:,} bytes, more than the {MAX_XLSX_BYTES:,} a directory may take. {_TOO_BIG}"
        return _refused(Problem("file", "", message))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several kinds for a file that is not a workbook
        return _refused(Problem("file", "", f"this is not an XLSX workbook Excel can open ({error})"))
    try:
        if not workbook.worksheets:
            return _refused(Problem("file", "", "the workbook has no worksheet"))
        sheet = workbook.worksheets[0]
        # A read-only sheet pads every row to its declared size: a size beyond the limits is refused
        # first, and the reading is bounded as well, for a sheet that declares no size or too small
        # a one (values beyond the limits in such a sheet are never read).
        rows, columns = sheet.max_row or 0, sheet.max_column or 0
        if rows > MAX_SHEET_ROWS or columns > MAX_SHEET_COLUMNS:
            message = (
                f"the sheet declares {rows:,} rows and {columns:,} columns; a directory sheet may have at most "
                f"{MAX_SHEET_ROWS:,} rows (the header included) and {MAX_SHEET_COLUMNS} columns. {_TOO_BIG}"
            )
            return _refused(Problem("file", "", message))
        bounded = sheet.iter_rows(max_row=MAX_SHEET_ROWS + 1, max_col=MAX_SHEET_COLUMNS + 1, values_only=True)
        cells = [[cell_text(value) for value in row] for row in bounded]
    except Exception as error:  # a broken part of the workbook: openpyxl raises several kinds
        return _refused(Problem("file", "", f"the worksheet cannot be read ({error})"))
    finally:
        workbook.close()
    return _read_rows(cells)


def _unpacked_size(data: bytes) -> int:
    """Return the unpacked size of a workbook's parts as its zip declares them (0 when it is no zip: openpyxl says why).

    Python's zip reader never unpacks more than a part declares, so this bounds what reading costs.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        return 0


def _refused(problem: Problem) -> _Reading:
    reading = _Reading()
    reading.problems.append(problem)
    return reading


def _read_rows(rows: Iterable[list[str]]) -> _Reading:
    reading = _Reading()
    lines = iter(rows)
    header = [cell.strip() for cell in next(lines, [])]
    if _beyond_limits(reading, 1, header):
        return reading
    unknown = [name for name in header if name and name not in COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    for name in unknown:
        reading.problem(1, name, f'unknown column "{name}"; the columns are: {", ".join(COLUMNS)}')
    for name in missing:
        reading.problem(1, name, f'the column "{name}" is missing')
    if missing:
        return reading
    for number, cells in enumerate(lines, start=2):
        if _beyond_limits(reading, number, cells):
            break
        given = {name: unguard_formula(cells[i].strip()) for i, name in enumerate(header) if name in COLUMNS and i < len(cells)}
        row = dict.fromkeys(COLUMNS, "") | given
        if any(row.values()):
            _read_row(reading, number, row)
    return reading


def _beyond_limits(reading: _Reading, number: int, cells: list[str]) -> bool:
    """Return whether a row holds a value beyond the rows and columns a sheet may have, saying so."""
    if number > MAX_SHEET_ROWS and any(cell.strip() for cell in cells):
        message = f"the sheet goes on past row {MAX_SHEET_ROWS:,}, the most a directory sheet may have. {_TOO_BIG}"
    elif any(cell.strip() for cell in cells[MAX_SHEET_COLUMNS:]):
        message = f"the row has values past column {MAX_SHEET_COLUMNS}, the most a directory sheet may have. {_TOO_BIG}"
    else:
        return False
    reading.problem(number, "", message)
    return True


def _read_row(reading: _Reading, number: int, row: dict[str, str]) -> None:
    organization_name, service_name = row["organization_name"], row["service_name"]
    for name in REQUIRED_COLUMNS:
        if not row[name]:
            reading.problem(number, name, f"{name} is missing")
    organization_id = row["organization_id"] or derived_id(organization_name)
    service_id = row["service_id"] or derived_id(organization_name, service_name)
    organization = OrganizationRecord(id=organization_id, name=organization_name)
    earlier = reading.organizations.setdefault(organization_id, organization)
    if earlier.name != organization_name:
        reading.problem(number, "organization_name", f'organization {organization_id} is named "{earlier.name}" on an earlier row')
    where = organization_where(organization_id, earlier.name)
    reading.rows.setdefault(where, number)
    if service_id in reading.service_rows:
        column = "service_id" if row["service_id"] else "service_name"
        reading.problem(number, column, f"row {reading.service_rows[service_id]} already has this service; one row per service")
        return
    channels = read_codes(row["channels"])
    service = ServiceRecord(
        id=service_id,
        organization_id=organization_id,
        name=service_name,
        tier=normalize(row["tier"]).lower(),  # type: ignore[arg-type]  # validated later
        topics=_in_order(read_codes(row["topics"]), TOPICS),
        channels=_in_order(channels, CHANNELS),
        # Excel shows 000000 as 0 unless the cell is text.
        areas=tuple(sorted({NATION if code.strip("0") == "" else code for code in read_codes(row["areas"])})),
        capacity=tuple(_capacity(reading, number, row, channels)),
        holidays=normalize(row["holidays"]).lower() or "closed",  # type: ignore[arg-type]  # validated later
        status=normalize(row["status"]).lower() or "active",  # type: ignore[arg-type]  # validated later
        description=row["description"],
        sns_url=row["sns_url"],
        phones=tuple(_phones(reading, number, service_id, row["phones"])),
        schedules=tuple(_schedules(reading, number, service_id, row)),
    )
    reading.services.append(service)
    reading.service_rows[service_id] = number
    reading.rows[service_where(service.id, service.name)] = number


def _in_order(codes: list[str], order: tuple[str, ...]) -> tuple[str, ...]:
    """Return the codes deduplicated, known ones in canonical order, unknown ones after them as written."""
    unique = dict.fromkeys(codes)
    return tuple(c for c in order if c in unique) + tuple(c for c in unique if c not in order)


def _capacity(reading: _Reading, number: int, row: dict[str, str], channels: list[str]) -> Iterator[tuple[str, int]]:
    for channel in CHANNELS:
        column = f"capacity_{channel}"
        text = normalize(row[column])
        if not text:
            continue
        if not _DIGITS.fullmatch(text):
            reading.problem(number, column, f'{column} must be a whole number of sessions, like 5; got "{cut(text)}"')
            continue
        sessions = read_capacity_digits(text)
        if sessions is None:  # more digits than any capacity has: validation's bound, said here
            reading.problem(number, column, str(capacity_problem(channel, text)))
        elif sessions or channel in channels:
            # A zero capacity on a channel the service does not take says nothing; the database keeps none.
            yield channel, sessions


def _phones(reading: _Reading, number: int, service_id: str, text: str) -> Iterator[PhoneRecord]:
    seen: set[str] = set()
    for phone in entries(text):
        phone = phone.replace(" ", "")
        if phone in seen:
            reading.problem(number, "phones", f"{phone} is listed twice")
            continue
        seen.add(phone)
        yield PhoneRecord(id=derived_id(service_id, "phone", phone), number=phone)


def _schedules(reading: _Reading, number: int, service_id: str, row: dict[str, str]) -> Iterator[ScheduleRecord]:
    seen: set[str] = set()
    for kind, column in SCHEDULE_COLUMNS.items():
        for entry in entries(row[column]):
            try:
                schedule = _schedule(service_id, kind, entry)
            except ValueError as error:
                closure = _closure_with_hours(service_id, entry) if kind == "closed" else None
                if closure is None:
                    reading.problem(number, column, str(error))
                    continue
                reading.warning(number, column, f'"{entry}": a closure shuts whole days, whatever its days and hours say: they are ignored')
                schedule = closure
            if schedule.id in seen:
                reading.problem(number, column, f'"{entry}" is listed twice')
                continue
            seen.add(schedule.id)
            yield schedule


def _closure_with_hours(service_id: str, entry: str) -> ScheduleRecord | None:
    """Return the closure of a `closed` entry written with days and hours after its dates (as extra_hours are), or None."""
    try:
        dates, _ = read_dated_window(entry)
    except ValueError:
        return None
    return _schedule(service_id, "closed", write_date_range(*dates))


def _schedule(service_id: str, kind: ScheduleKind, entry: str) -> ScheduleRecord:
    """Return the schedule one entry of the hours, closed or extra_hours column means."""
    dates: tuple[date | None, date | None] = (None, None)
    window: tuple[tuple[str, ...], str | None, str | None] = ((), None, None)
    if kind == "weekly":
        window = read_window(entry)
    elif kind == "closed":
        dates = read_date_range(entry)
    else:
        dates, window = read_dated_window(entry)
    content = (kind, ",".join(window[0]), window[1] or "", window[2] or "", *(str(d or "") for d in dates))
    return ScheduleRecord(
        id=derived_id(service_id, "schedule", *content),
        kind=kind,
        byday=window[0],
        opens_at=window[1],
        closes_at=window[2],
        valid_from=dates[0],
        valid_to=dates[1],
    )


def _rows(records: DirectoryRecords) -> Iterator[list[str]]:
    names = {o.id: o.name for o in records.organizations}
    yield list(COLUMNS)
    for service in records.services:
        capacity = dict(service.capacity)
        by_kind = {kind: [s for s in service.schedules if s.kind == kind] for kind in SCHEDULE_COLUMNS}
        cells = {
            "service_id": service.id,
            "organization_id": service.organization_id,
            "organization_name": names.get(service.organization_id, ""),
            "service_name": service.name,
            "tier": service.tier,
            "topics": " ".join(service.topics),
            "channels": " ".join(service.channels),
            "capacity_voice": str(capacity["voice"]) if "voice" in capacity else "",
            "capacity_sns": str(capacity["sns"]) if "sns" in capacity else "",
            "holidays": service.holidays,
            "status": service.status,
            "areas": " ".join(service.areas),
            "phones": "; ".join(p.number for p in service.phones),
            "hours": "; ".join(write_window(_window(s)) for s in by_kind["weekly"]),
            "closed": "; ".join(_write_dates(s) for s in by_kind["closed"]),
            "extra_hours": "; ".join(f"{_write_dates(s)} {write_window(_window(s))}" for s in by_kind["open"]),
            "sns_url": service.sns_url,
            "description": service.description,
        }
        yield [guard_formula(cells[name]) for name in COLUMNS]


def _window(schedule: ScheduleRecord) -> tuple[tuple[str, ...], str, str]:
    return schedule.byday, schedule.opens_at or "", schedule.closes_at or ""


def _write_dates(schedule: ScheduleRecord) -> str:
    start, end = schedule.valid_from, schedule.valid_to
    if start is None or end is None:
        return str(start or end or "")
    return write_date_range(start, end)
