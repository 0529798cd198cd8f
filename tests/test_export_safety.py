"""Directory sheets a coordinator opens in Excel: no cell is a formula, and importing an export gives back every text."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from builders import make_organization, make_phone, make_records, make_service
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from referral_directory.interchange import read_directory_file, write_directory_file
from referral_directory.interchange.sheet import COLUMNS, load_csv, load_sheet, parse_csv, parse_xlsx, to_csv, to_xlsx
from referral_directory.interchange.sheet_cells import guard_formula, unguard_formula
from referral_directory.records import DirectoryRecords, derived_id

HYPERLINK = '=HYPERLINK("https://evil.example/x","窓口")'
DDE = '-2+3+cmd|" /C calc"!A0'
# What Excel (and LibreOffice) may take for the start of a formula.
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def dangerous_records() -> DirectoryRecords:
    """Return services and an organisation whose texts begin like formulas, or with the quote that guards them."""
    organization = make_organization(name=HYPERLINK)
    return make_records(
        make_service(name=HYPERLINK, description=DDE),
        make_service(name="@SUM(1+1)*cmd|' /C calc'!A0", description="\t=1+2\r\nつぎの行"),
        make_service(name="'s cafe", description="'=1+2", phones=(make_phone(number="+81312345678"), make_phone(number="+81645550707"))),
        make_service(name="＝全角の式", description="+81 へ電話"),
        organizations=(organization,),
    )


def texts(records: DirectoryRecords) -> list[tuple[str, ...]]:
    """Return every free text of the records, and the phone numbers, service by service."""
    organizations = {o.id: o.name for o in records.organizations}
    return [
        (organizations[s.organization_id], s.name, s.description, *(p.number for p in s.phones))
        for s in sorted(records.services, key=lambda s: s.id)
    ]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


# --- the export ------------------------------------------------------------------------------------


def test_csv_cells_that_begin_like_a_formula_are_written_after_a_quote():
    rows = {row["service_name"]: row for row in csv_rows(to_csv(dangerous_records()))}

    for row in rows.values():
        assert not any(cell.startswith(FORMULA) for cell in row.values()), row
    hyperlink = rows["'" + HYPERLINK]
    assert (hyperlink["organization_name"], hyperlink["description"]) == ("'" + HYPERLINK, "'" + DDE)
    assert rows["'@SUM(1+1)*cmd|' /C calc'!A0"]["description"] == "'\t=1+2\r\nつぎの行"
    quoted = rows["''s cafe"]
    assert (quoted["description"], quoted["phones"]) == ("''=1+2", "'+81312345678; +81645550707")
    assert rows["'＝全角の式"]["description"] == "'+81 へ電話"
    assert hyperlink["tier"] == "national" and hyperlink["capacity_voice"] == "3"  # other cells as they were


def test_every_csv_cell_is_quoted_so_no_separator_in_a_text_starts_a_cell():
    text = to_csv(make_records(make_service(description="受付;=1+2")))
    header, first = text.removeprefix("\ufeff").splitlines()[:2]

    assert header == ",".join(f'"{name}"' for name in COLUMNS)
    assert first == ",".join('"' + cell.replace('"', '""') + '"' for cell in next(csv.reader([first])))
    assert first.endswith(',"受付;=1+2"')


def test_no_xlsx_cell_is_a_formula():
    data = to_xlsx(dangerous_records())

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/")]
    assert sheets and not any(re.search(rb"<f[ >]", xml) for xml in sheets)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert {cell.data_type for cell in cells} == {"s"}
    values = {cell.value for cell in cells}
    assert {"'" + HYPERLINK, "'" + DDE, "''s cafe", "'+81312345678; +81645550707"} <= values
    assert not any(value.startswith(FORMULA) for value in values)


def test_a_text_keeps_its_carriage_returns_in_an_xlsx():
    # XML readers take a bare carriage return for a line feed: the export writes it as a reference.
    records = make_records(make_service(description="一行目\r\n二行目\rおわり"))

    (service,) = parse_xlsx(to_xlsx(records)).records.services

    assert service.description == "一行目\r\n二行目\rおわり"


# --- the round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_importing_an_export_gives_back_every_text(regions, tmp_path, format):
    records = dangerous_records()
    path = tmp_path / f"directory.{format}"
    path.write_bytes(write_directory_file(records, format, regions))

    result = read_directory_file(path, regions)

    assert result.problems == ()
    assert texts(result.records) == texts(records)
    assert read_directory_file(path, regions) == result
    again = load_sheet(write_directory_file(result.records, format, regions), regions)
    assert again.records == result.records


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_the_guard_is_undone_exactly_and_leaves_no_formula(text):
    guarded = guard_formula(text)

    assert unguard_formula(guarded) == text
    assert not guarded.startswith(FORMULA)
    assert guarded == text or guarded == "'" + text


# Texts a sheet can hold as they are: no control character but tab and line breaks and no
# noncharacter (XML has no place for them), no U+FFFD (the mark of a file decoded wrongly), and
# no spaces around them (a sheet's cells are read trimmed).
SHEET_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\ufffd") | st.sampled_from("\t\r\n'=+-@＝"), min_size=1
).filter(lambda text: text.strip() == text)


@settings(max_examples=40, deadline=None)
@given(SHEET_TEXT, SHEET_TEXT, SHEET_TEXT)
def test_any_names_and_description_come_back_from_csv_and_xlsx(organization_name, service_name, description):
    service = make_service(id=derived_id("drawn"), name=service_name, description=description)
    records = make_records(service, organizations=(make_organization(name=organization_name),))

    for result in (parse_csv(to_csv(records)), parse_xlsx(to_xlsx(records))):
        assert result.problems == ()
        assert texts(result.records) == texts(records)


# --- sheets filled in by hand ----------------------------------------------------------------------


def test_a_hand_filled_sheet_may_write_phones_with_or_without_the_quote_and_keeps_other_quotes(regions):
    text = to_csv(make_records(make_service(name="窓口", description="説明")))
    rows = csv_rows(text)
    rows[0] |= {"phones": "+81312345678", "service_name": "'06 窓口", "description": "''=1+2"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)

    result = load_csv(out.getvalue(), regions)

    assert result.problems == ()
    (service,) = result.records.services
    assert (service.name, service.description, service.phones[0].number) == ("'06 窓口", "'=1+2", "+81312345678")


def test_a_text_no_export_could_write_is_refused_on_its_row_so_every_export_keeps_working(regions):
    rows = csv_rows(to_csv(make_records(make_service(name="窓口"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows([rows[0] | {"description": "ベル\x07"}])

    found = [(p.where, p.field, p.message) for p in load_csv(out.getvalue(), regions).problems]

    assert found == [
        ("row 2", "description", "description holds a character no directory file can carry (U+0007, unseen on screen); remove it")
    ]
