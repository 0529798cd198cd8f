"""Pure parts of bulk changes and imports: what a file would change (added, changed field by field, removed only
when asked and only within scope), a sheet keeping the stored details, one change for many services, and the
problems of a file as the import page says them in Japanese."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from builders import make_organization, make_phone, make_records, make_schedule, make_service

from referral_directory.bulk import BulkChange, bulk_schedule, coming_year_end, has_change, overridden, with_bulk_change
from referral_directory.interchange.compare import FieldDifference, compare_directory, keep_stored_details
from referral_directory.records import NATION, Problem, derived_id
from routing.web.directory_file_wording import file_problem

TOKYO = make_service(name="千代田区 くらしの相談", tier="municipal", areas=("131016",))
SHINJUKU = make_service(name="新宿区 こころの相談", tier="municipal", areas=("131041",))
OSAKA = make_service(name="大阪市 こころの相談", tier="municipal", areas=("271004",))
STORED = make_records(TOKYO, SHINJUKU, OSAKA)
IN_TOKYO = {TOKYO.id, SHINJUKU.id}
YEAR_END = BulkChange("closed", date(2026, 12, 29), date(2027, 1, 3), description="年末年始")
EVENINGS = BulkChange("open", date(2026, 12, 29), date(2027, 1, 3), ("MO", "TU", "WE", "TH", "FR", "SA", "SU"), "18:00", "22:00")


def tokyo_scope(service) -> bool:
    return service.id in IN_TOKYO


# --- what a file would change ----------------------------------------------------------------------


def test_a_file_is_compared_service_by_service_and_field_by_field() -> None:
    renamed = replace(TOKYO, name="千代田区 くらしとこころの相談", capacity=(("voice", 5),))
    added = make_service(name="港区 よるの相談", tier="municipal", areas=("131032",))
    incoming = make_records(renamed, SHINJUKU, added, organizations=STORED.organizations)

    difference = compare_directory(STORED, incoming, in_scope=tokyo_scope)

    assert [(d.kind, d.record.name) for d in difference.services] == [
        ("changed", "千代田区 くらしとこころの相談"),
        ("unchanged", SHINJUKU.name),
        ("added", "港区 よるの相談"),
    ]
    assert difference.of("changed")[0].fields == (
        FieldDifference("name", TOKYO.name, "千代田区 くらしとこころの相談"),
        FieldDifference("capacity", (("voice", 3),), (("voice", 5),)),
    )
    assert difference.kept == () and difference.changes_anything


@pytest.mark.parametrize(("remove_absent", "removed", "kept"), [(False, [], [SHINJUKU.name]), (True, [SHINJUKU.name], [])])
def test_services_absent_from_the_file_are_removed_only_when_asked_and_only_within_scope(
    remove_absent: bool, removed: list[str], kept: list[str]
) -> None:
    incoming = make_records(TOKYO, organizations=STORED.organizations)  # Shinjuku (Tokyo) and Osaka are absent

    difference = compare_directory(STORED, incoming, in_scope=tokyo_scope, remove_absent=remove_absent)

    assert [d.record.name for d in difference.of("removed")] == removed  # Osaka is never another region's to remove
    assert [s.name for s in difference.kept] == kept
    assert difference.changes_anything is remove_absent


def test_an_identical_file_changes_nothing_and_a_renamed_organisation_is_a_change() -> None:
    same = compare_directory(STORED, STORED, in_scope=tokyo_scope)
    assert not same.changes_anything and {d.kind for d in same.services} == {"unchanged"}
    renamed = replace(STORED.organizations[0], name="新しい名前")
    difference = compare_directory(STORED, make_records(TOKYO, organizations=(renamed,)), in_scope=lambda _: False)
    assert [(o.kind, o.fields) for o in difference.organizations] == [
        ("changed", (FieldDifference("name", STORED.organizations[0].name, "新しい名前"),))
    ]


def test_a_sheet_keeps_the_stored_ids_and_notes_of_the_lines_and_hours_it_repeats() -> None:
    stored_phone = make_phone(id=derived_id("form", "phone"), number="+81355550301", description="相談電話")
    stored_hours = make_schedule(id=derived_id("form", "hours"), description="平日")
    stored = make_records(
        replace(TOKYO, phones=(stored_phone,), schedules=(stored_hours,)), organizations=(make_organization(email="info@example.jp"),)
    )
    # As the sheet reads the same service: ids derived from the content, no notes, the organisation's name alone.
    sheet_phone = make_phone(number="+81355550301")
    sheet_hours = make_schedule()
    new_closure = make_schedule(kind="closed")
    sheet = make_records(replace(TOKYO, phones=(sheet_phone,), schedules=(sheet_hours, new_closure)), organizations=(make_organization(),))

    kept = keep_stored_details(sheet, stored)

    service = kept.services[0]
    assert service.phones == (stored_phone,)
    assert service.schedules == (stored_hours, new_closure)  # the new closure is the sheet's own
    assert kept.organizations[0].email == "info@example.jp"
    difference = compare_directory(stored, kept, in_scope=lambda _: True)
    assert [f.field for f in difference.of("changed")[0].fields] == ["schedules"]
    again = make_records(*stored.services, organizations=(make_organization(),))  # the stored service, as a sheet names its organisation
    assert not compare_directory(stored, keep_stored_details(again, stored), in_scope=bool).changes_anything


# --- one change for many services ------------------------------------------------------------------


def test_a_bulk_closure_is_added_once_with_the_same_id_it_was_previewed_with() -> None:
    closed = with_bulk_change(TOKYO, YEAR_END)

    assert closed.schedules[-1] == bulk_schedule(TOKYO.id, YEAR_END)
    assert (closed.schedules[-1].kind, closed.schedules[-1].valid_from, closed.schedules[-1].byday) == ("closed", date(2026, 12, 29), ())
    assert has_change(closed, YEAR_END) and with_bulk_change(closed, YEAR_END) == closed
    assert bulk_schedule(TOKYO.id, YEAR_END).id != bulk_schedule(SHINJUKU.id, YEAR_END).id
    # The same closure typed by hand, with another note, counts as there already.
    by_hand = replace(TOKYO, schedules=(*TOKYO.schedules, make_schedule(kind="closed", description="休み")))
    assert has_change(by_hand, YEAR_END)


def test_a_closure_overrides_extended_hours_on_its_days_and_the_reverse_is_said_too() -> None:
    extended = with_bulk_change(TOKYO, EVENINGS)
    assert overridden(extended, YEAR_END) == (bulk_schedule(TOKYO.id, EVENINGS),)
    assert overridden(with_bulk_change(TOKYO, YEAR_END), EVENINGS) == (bulk_schedule(TOKYO.id, YEAR_END),)
    later = replace(YEAR_END, valid_from=date(2027, 1, 4), valid_to=date(2027, 1, 5))
    assert overridden(extended, later) == ()


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 1), (date(2026, 12, 29), date(2027, 1, 3))),
        (date(2026, 12, 30), (date(2026, 12, 29), date(2027, 1, 3))),
        (date(2027, 1, 3), (date(2026, 12, 29), date(2027, 1, 3))),
        (date(2027, 1, 4), (date(2027, 12, 29), date(2028, 1, 3))),
    ],
)
def test_the_year_end_offered_is_the_one_under_way_or_next(today: date, expected: tuple[date, date]) -> None:
    assert coming_year_end(today) == expected


# --- a file's problems in Japanese -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "place", "column", "words"),
    [
        (
            Problem("row 3", "phones", '"03-1234-5678" is not an E.164 number; write it in E.164 form, like "+81312345678"'),
            "3行目",
            "phones（電話番号）",
            "電話番号「03-1234-5678」は、+81 から「+81312345678」のように書いてください。",
        ),
        (
            Problem("row 6", "areas", "lgcode 131017 has a wrong check digit; did you mean 131016?"),
            "6行目",
            "areas（対象地域）",
            "131016 ではありませんか",
        ),
        (
            Problem("row 2", "capacity_sns", "capacity for sns is missing: how many sessions"),
            "2行目",
            "capacity_sns（SNSで同時に受けられる数）",
            "SNSで同時に",
        ),
        (
            Problem("row 1", "weather", 'unknown column "weather"; the columns are: ...'),
            "1行目",
            "weather",
            "「weather」という列は使えません",
        ),
        (Problem("file", "", "the file is neither UTF-8 nor Shift_JIS text"), "ファイル全体", "", "CSV UTF-8"),
        (
            Problem("row 5", "phones", '"call us" is not an E.164 number; write it'),
            "5行目",
            "phones（電話番号）",
            "「call us」を読み取れません",
        ),
        (
            Problem(f"service {NATION} (夜の窓口)", "schedules[0].closes_at", "impossible hours: opens and closes at 09:00"),
            "窓口「夜の窓口」",
            "schedules[0].closes_at（受付時間・休み）",
            "同じ時刻",
        ),
        (
            Problem("row 4", "areas", "serves areas outside your regions (東京都); ask that region's coordinator"),
            "4行目",
            "areas（対象地域）",
            "担当地域（東京都）の外",
        ),
    ],
)
def test_a_files_problem_is_said_in_japanese_with_its_row_and_column(problem: Problem, place: str, column: str, words: str) -> None:
    shown = file_problem(problem)
    assert (shown.place, shown.column, shown.detail) == (place, column, "")
    assert words in shown.message


def test_a_problem_no_rule_knows_asks_to_check_the_cell_and_keeps_its_original_words() -> None:
    shown = file_problem(Problem("row 9", "hours", "something new went wrong"))
    assert (shown.place, shown.message, shown.detail) == ("9行目", "この欄を確かめてください。", "something new went wrong")
