"""The coordinator's sheet (CSV and XLSX): cell grammar, problems by row and column, round trips."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from builders import make_records, make_varied_records
from hypothesis import given, settings
from openpyxl import Workbook, load_workbook
from strategies import valid_services

from referral_directory.interchange import read_directory_bytes, sheet
from referral_directory.interchange.hsds import load_hsds
from referral_directory.interchange.sheet import (
    COLUMNS,
    decode_sheet_bytes,
    load_csv,
    load_sheet,
    load_xlsx,
    parse_csv,
    parse_xlsx,
    to_csv,
    to_xlsx,
)
from referral_directory.interchange.sheet_cells import read_date_range, read_dated_window, read_window, write_window
from referral_directory.records import NATION, WEEKDAYS, ParseResult, derived_id

SAMPLES = Path(__file__).resolve().parents[1] / "referral_directory" / "interchange" / "samples"
ROW = {
    "organization_name": "テスト団体",
    "service_name": "テスト窓口",
    "tier": "national",
    "topics": "general",
    "channels": "voice",
    "capacity_voice": "3",
    "areas": "000000",
    "phones": "+81312345678",
    "hours": "MO-FR 09:00-17:00",
}


def sheet_text(*rows: dict[str, str], columns: tuple[str, ...] = COLUMNS) -> str:
    """Return CSV text with a header of the columns and one line per row (cells default to empty)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([row.get(column, "") for column in columns] for row in rows)
    return out.getvalue()


def row(**overrides: str) -> dict[str, str]:
    return ROW | overrides


# --- the sample ------------------------------------------------------------------------------------


def test_the_sample_loads_with_no_problems(regions):
    result = load_sheet((SAMPLES / "directory-sample.csv").read_bytes(), regions)
    assert result.problems == ()
    services = {s.name: s for s in result.records.services}
    assert len(services) == 6 and len(result.records.organizations) == 6
    crisis = services["24時間 いのちの危機相談ダイヤル"]
    assert (crisis.areas, crisis.channels, crisis.holidays) == ((NATION,), ("voice", "sns"), "open")
    assert [(s.byday, s.opens_at, s.closes_at) for s in crisis.schedules] == [(WEEKDAYS, "00:00", "24:00")]
    shinjuku = services["新宿区 くらしとこころの相談窓口"]
    assert [(s.kind, s.valid_from, s.valid_to) for s in shinjuku.schedules[1:]] == [
        ("closed", date(2026, 12, 29), date(2027, 1, 3)),
        ("closed", date(2027, 3, 19), date(2027, 3, 19)),
    ]
    osaka = services["大阪府 こころの相談ライン"]
    assert [(s.kind, s.byday, s.opens_at, s.closes_at) for s in osaka.schedules] == [
        ("weekly", WEEKDAYS[:5], "10:00", "19:00"),
        ("open", WEEKDAYS, "10:00", "22:00"),
    ]
    assert services["大阪市 くらしの相談窓口"].areas == ("271004",)


def test_the_csv_and_hsds_samples_describe_the_same_records(regions):
    from_csv = load_sheet((SAMPLES / "directory-sample.csv").read_bytes(), regions)
    from_hsds = load_hsds(json.loads((SAMPLES / "directory-sample.hsds.json").read_text()), regions)
    assert from_csv == from_hsds


def test_every_column_is_documented():
    assert all(f"| `{column}` |" in sheet.__doc__ for column in COLUMNS)


# --- ids -------------------------------------------------------------------------------------------


def test_ids_are_derived_so_reimporting_changes_nothing():
    first = parse_csv(sheet_text(row())).records
    assert first == parse_csv(sheet_text(row())).records
    (service,) = first.services
    assert service.id == derived_id("テスト団体", "テスト窓口")
    assert service.organization_id == first.organizations[0].id == derived_id("テスト団体")


def test_given_ids_are_kept_and_rows_share_an_organization():
    service_id, organization_id = derived_id("s"), derived_id("o")
    text = sheet_text(
        row(service_id=service_id, organization_id=organization_id), row(service_name="二つ目", organization_id=organization_id)
    )
    records = parse_csv(text).records
    assert [s.id for s in records.services] == [service_id, derived_id("テスト団体", "二つ目")]
    assert [o.id for o in records.organizations] == [organization_id]


# --- cell grammar ----------------------------------------------------------------------------------

WINDOWS = {
    "MO-FR 09:00-17:00": (WEEKDAYS[:5], "09:00", "17:00"),
    "MO,TU,WE,TH,FR 09:00-17:00": (WEEKDAYS[:5], "09:00", "17:00"),
    "SA 10:00-15:00": (("SA",), "10:00", "15:00"),
    "MO-SU 22:00-06:00": (WEEKDAYS, "22:00", "06:00"),
    "FR-MO 22:00-06:00": (("MO", "FR", "SA", "SU"), "22:00", "06:00"),
    "su, mo 9:00 - 12:00": (("MO", "SU"), "09:00", "12:00"),
    "ＭＯ－ＦＲ　０９：００～１７：００": (WEEKDAYS[:5], "09:00", "17:00"),
    "24h": (WEEKDAYS, "00:00", "24:00"),
    "SA,SU 24h": (("SA", "SU"), "00:00", "24:00"),
    "MO-TH,SU 18:00-23:00": (("MO", "TU", "WE", "TH", "SU"), "18:00", "23:00"),
}


@pytest.mark.parametrize("text, window", WINDOWS.items(), ids=WINDOWS.keys())
def test_hours_are_read_and_written_back(text, window):
    assert read_window(text) == window
    assert read_window(write_window(window)) == window


@pytest.mark.parametrize(
    "text, message",
    [
        ("XX 09:00-17:00", 'unknown day "XX" in "XX"; use MO, TU, WE, TH, FR, SA, SU or ranges like MO-FR'),
        ("09:00-17:00", '"09:00-17:00" does not say which days; write it like "MO-FR 09:00-17:00"'),
        ("MO 25:00-26:00", 'time "25:00" is out of range (00:00..24:00)'),
        ("weekdays", '"weekdays" is not opening hours like "MO-FR 09:00-17:00; SA 10:00-15:00" or "24h"'),
    ],
)
def test_bad_hours_are_explained(text, message):
    with pytest.raises(ValueError) as error:
        read_window(text)
    assert str(error.value) == message


def test_dates_and_dated_hours_are_read():
    assert read_date_range("2026-12-29/2027-01-03") == (date(2026, 12, 29), date(2027, 1, 3))
    assert read_date_range("2027-05-03") == (date(2027, 5, 3), date(2027, 5, 3))
    assert read_dated_window("2026-12-29/2027-01-03 MO-SU 18:00-24:00") == (
        (date(2026, 12, 29), date(2027, 1, 3)),
        (WEEKDAYS, "18:00", "24:00"),
    )
    with pytest.raises(ValueError, match="not a real date"):
        read_date_range("2027-02-30")


# --- problems by row and column --------------------------------------------------------------------

BROKEN_ROWS = {
    "bad check digit": ({"areas": "131017"}, [("areas", "lgcode 131017 has a wrong check digit; did you mean 131016?")]),
    "unknown topic": (
        {"topics": "general suicide"},
        [("topics", 'unknown topic "suicide"; use one of: life, mind, crisis, violence, family, youth, sogi, foreign, general')],
    ),
    "unknown tier": ({"tier": "city"}, [("tier", 'unknown tier "city"; use one of: national, prefecture, municipal')]),
    "non-E.164 number": (
        {"phones": "03-1234-5678"},
        [("phones", '"03-1234-5678" is not an E.164 number; write it in E.164 form, like "+81312345678"')],
    ),
    "number listed twice": ({"phones": "+81312345678; +81312345678"}, [("phones", "+81312345678 is listed twice")]),
    "impossible hours": (
        {"hours": "MO 09:00-09:00"},
        [("hours", "impossible hours: opens and closes at 09:00; for all day write 00:00-24:00")],
    ),
    "byday not a day list": (
        {"hours": "XX 09:00-17:00"},
        [("hours", 'unknown day "XX" in "XX"; use MO, TU, WE, TH, FR, SA, SU or ranges like MO-FR')],
    ),
    "hours listed twice": ({"hours": "MO 09:00-12:00; MO 09:00-12:00"}, [("hours", '"MO 09:00-12:00" is listed twice')]),
    "never open": ({"hours": ""}, [("hours", "the service is active but has no weekly hours or dated openings, so it is never open")]),
    "bad capacity": (
        {"capacity_voice": "five"},
        [("capacity_voice", 'capacity_voice must be a whole number of sessions, like 5; got "five"')],
    ),
    "missing capacity": (
        {"capacity_voice": ""},
        [("capacity_voice", "capacity for voice is missing: how many sessions can it hold at once?")],
    ),
    "capacity on a channel not taken": (
        {"capacity_sns": "2"},
        [("capacity_sns", "capacity 2 for sns, but the service does not take sns; add sns to its channels or leave the capacity empty")],
    ),
    "closure dates reversed": ({"closed": "2027-01-03/2026-12-29"}, [("closed", "valid_to 2026-12-29 is before valid_from 2027-01-03")]),
    "closure not a date": (
        {"closed": "12/29-1/3"},
        [("closed", '"12/29-1/3" is not a date or date range like "2026-12-29/2027-01-03; 2027-05-03"')],
    ),
    "dated hours without hours": (
        {"extra_hours": "2026-12-29/2027-01-03"},
        [("extra_hours", '"2026-12-29/2027-01-03" is not dated hours like "2026-12-29/2027-01-03 MO-SU 18:00-24:00"')],
    ),
    "impossible dated hours": (
        {"extra_hours": "2026-12-31 MO-SU 10:00-10:00"},
        [("extra_hours", "impossible hours: opens and closes at 10:00; for all day write 00:00-24:00")],
    ),
    "unknown holidays": ({"holidays": "sometimes"}, [("holidays", 'unknown holiday behaviour "sometimes"; use one of: closed, open')]),
    "service id not a UUID": (
        {"service_id": "svc-1"},
        [("service_id", 'service id "svc-1" is not a UUID (like "0b6c5e6e-8a1f-4f5e-9d43-2f6f8f1c2a77")')],
    ),
    "missing organization name": ({"organization_name": ""}, [("organization_name", "organization_name is missing")]),
}


@pytest.mark.parametrize("overrides, expected", BROKEN_ROWS.values(), ids=BROKEN_ROWS.keys())
def test_a_broken_row_yields_its_precise_problem(regions, overrides, expected):
    found = load_csv(sheet_text(row(), row(service_name="二つ目", **overrides)), regions).problems
    assert [(p.where, p.field, p.message) for p in found] == [("row 3", field, message) for field, message in expected]


def test_header_problems_are_on_row_1(regions):
    text = sheet_text(row(), columns=("organization_name", "phone", "tier"))
    assert [(p.where, p.field, p.message) for p in parse_csv(text).problems] == [
        ("row 1", "phone", f'unknown column "phone"; the columns are: {", ".join(COLUMNS)}'),
        ("row 1", "service_name", 'the column "service_name" is missing'),
    ]


def test_a_service_on_two_rows_is_refused(regions):
    found = load_csv(sheet_text(row(), row(hours="SA 10:00-12:00")), regions).problems
    assert [(p.where, p.field, p.message) for p in found] == [
        ("row 3", "service_name", "row 2 already has this service; one row per service")
    ]


def test_an_organization_id_with_two_names_is_refused():
    organization_id = derived_id("o")
    text = sheet_text(
        row(organization_id=organization_id), row(organization_id=organization_id, organization_name="別名", service_name="二")
    )
    assert [(p.where, p.field) for p in parse_csv(text).problems] == [("row 3", "organization_name")]


def test_a_sheet_with_several_problems_lists_all_of_them(regions):
    text = sheet_text(
        row(areas="131017", topics="suicide"),
        row(service_name="二", phones="0312345678", capacity_voice="x"),
        {},
        row(service_name="四", hours="MO 09:00-09:00; XX 10:00-11:00", closed="2027-01-03/2026-12-29"),
    )
    found = load_csv(text, regions).problems
    assert sorted((p.where, p.field) for p in found) == [
        ("row 2", "areas"),
        ("row 2", "topics"),
        ("row 3", "capacity_voice"),
        ("row 3", "phones"),
        ("row 5", "closed"),
        ("row 5", "hours"),
        ("row 5", "hours"),
    ]


# --- encodings and files ---------------------------------------------------------------------------


def test_utf8_with_or_without_bom_and_shift_jis_read_the_same(regions):
    text = sheet_text(row())
    expected = load_csv(text, regions)
    assert expected.ok
    assert load_sheet(text.encode("utf-8"), regions) == expected
    assert load_sheet(("\ufeff" + text).encode("utf-8"), regions) == expected
    assert load_sheet(text.encode("cp932"), regions) == expected
    assert decode_sheet_bytes(text.encode("cp932")) == text


def test_undecodable_files_get_a_helpful_problem(regions):
    with pytest.raises(ValueError, match="CSV UTF-8"):
        decode_sheet_bytes(b"\xff\xfe\x00\x81\xff")
    assert [p.where for p in load_sheet(b"\xff\xfe\x00\x81\xff", regions).problems] == ["file"]
    mangled = sheet_text(row()).encode("cp932").decode("utf-8", errors="replace")
    assert "Shift_JIS" in parse_csv(mangled).problems[0].message


def test_an_xlsx_sheet_reads_excel_typed_cells(regions):
    workbook = Workbook()
    workbook.active.append(list(ROW) + ["closed", "extra_hours"])
    values = dict(ROW, capacity_voice=3, areas=0, closed=datetime(2027, 5, 3), extra_hours="2026-12-31 24h")
    workbook.active.append(list(values.values()))
    workbook.create_sheet("ignored").append(["not", "read"])
    data = io.BytesIO()
    workbook.save(data)
    result = load_xlsx(data.getvalue(), regions)
    assert result.ok
    (service,) = result.records.services
    assert (service.capacity, service.areas) == ((("voice", 3),), (NATION,))
    assert [(s.kind, s.valid_from) for s in service.schedules] == [
        ("weekly", None),
        ("closed", date(2027, 5, 3)),
        ("open", date(2026, 12, 31)),
    ]


def test_a_file_that_is_not_a_workbook_is_one_problem():
    problems = parse_xlsx(b"PK\x03\x04 not really a zip").problems
    assert [(p.where, p.field) for p in problems] == [("file", "")]


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("records", ["sample", "varied"])
def test_sheet_to_records_to_sheet_to_records_is_stable(regions, records):
    if records == "sample":
        first = load_sheet((SAMPLES / "directory-sample.csv").read_bytes(), regions)
    else:
        first = load_csv(to_csv(make_varied_records()), regions)
    assert first.ok
    assert load_csv(to_csv(first.records), regions) == first
    assert load_xlsx(to_xlsx(first.records), regions) == first
    assert to_csv(load_csv(to_csv(first.records), regions).records) == to_csv(first.records)


def test_a_csv_export_starts_with_a_bom_for_excel():
    assert to_csv(make_records()).startswith('\ufeff"service_id","organization_id",')


@settings(max_examples=40, deadline=None)
@given(valid_services())
def test_any_valid_records_keep_their_content_through_a_sheet(regions, drawn):
    once = load_csv(to_csv(make_records(*drawn)), regions)
    assert once.ok
    assert load_csv(to_csv(once.records), regions) == once
    assert load_xlsx(to_xlsx(once.records), regions) == ParseResult(once.records)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_closure_written_with_days_and_hours_is_read_as_whole_days_with_a_warning(regions, kind):
    entry = "2026-12-29/2027-01-03 MO-SU 09:00-17:00"
    rows = (row(), row(service_name="二つ目", closed=f"2027-05-03; {entry}"))
    data = sheet_text(*rows).encode() if kind == "csv" else to_xlsx(load_csv(sheet_text(*rows), regions).records)
    if kind == "xlsx":  # the export writes the closure as dates: put the hours back in its cell, as a coordinator would
        data = _with_cell_replaced(data, "2026-12-29/2027-01-03", entry)
    result = read_directory_bytes(data, f"windows.{kind}", regions)
    plain = load_csv(sheet_text(row(), row(service_name="二つ目", closed="2027-05-03; 2026-12-29/2027-01-03")), regions)
    assert result.problems == ()
    assert [(w.where, w.field, w.message) for w in result.warnings] == [
        ("row 3", "closed", f'"{entry}": a closure shuts whole days, whatever its days and hours say: they are ignored')
    ]
    assert result.records == plain.records


def _with_cell_replaced(data: bytes, old: str, new: str) -> bytes:
    workbook = load_workbook(io.BytesIO(data))
    for cells in workbook.active.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str) and old in cell.value:
                cell.value = cell.value.replace(old, new)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
