"""The demo directory: valid, complete over Japan's regions, deterministic, and with harmless numbers."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from functools import cache

import phonenumbers
import pytest

from referral_directory.demo import PUBLISHED_HOTLINES, YEAR_END_EXTENDED, demo_directory
from referral_directory.hours import JST, is_open_at, japanese_holidays
from referral_directory.records import NATION, DirectoryRecords, ServiceRecord, normalized
from referral_directory.regions import Regions
from referral_directory.snapshot import build_snapshot, compile_hours
from referral_directory.validation import validate_records
from routing.runtime import default_regions


@cache
def regions() -> Regions:
    return default_regions()


@cache
def demo() -> DirectoryRecords:
    return demo_directory(regions())


@cache
def holidays() -> frozenset[date]:
    return japanese_holidays(2026, 2028)


def services_of(tier: str) -> list[ServiceRecord]:
    return [s for s in demo().services if s.tier == tier]


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JST)


def test_demo_validates_with_zero_problems():
    assert validate_records(demo(), regions()) == ()


def test_records_are_already_in_canonical_order():
    assert [normalized(s) for s in demo().services] == list(demo().services)


def test_every_prefecture_has_exactly_one_prefecture_window():
    areas = Counter(area for s in services_of("prefecture") for area in s.areas)
    assert areas == Counter(p.lgcode for p in regions().prefectures.values())
    assert len(areas) == 47


def test_every_municipality_is_covered_by_a_municipal_service():
    covered = {area for s in services_of("municipal") for area in s.areas}
    cities = regions().designated_cities
    uncovered = [
        m.name for m in regions().municipalities.values() if m.lgcode not in covered and not (m.city and cities[m.city].lgcode in covered)
    ]
    assert uncovered == []


def test_designated_cities_have_one_agency_and_their_wards_none():
    areas = Counter(area for s in services_of("municipal") for area in s.areas)
    wards = [m for m in regions().municipalities.values() if m.city]
    assert wards, "the regions name the wards of designated cities"
    assert all(areas[c.lgcode] == 1 for c in regions().designated_cities.values())
    assert not any(areas[w.lgcode] for w in wards)


def test_national_lines_cover_every_topic_and_stay_open_on_holidays():
    national = services_of("national")
    assert {t for s in national for t in s.topics} == {
        "life",
        "mind",
        "crisis",
        "violence",
        "family",
        "youth",
        "sogi",
        "foreign",
        "general",
    }
    assert all(s.areas == (NATION,) and s.holidays == "open" for s in national)


def test_at_least_two_crisis_lines_are_open_around_the_clock():
    crisis = [s for s in services_of("national") if s.topics == ("crisis",) and s.channels == ("voice", "sns")]
    instants = [jst(2027, 1, 1, hour) for hour in range(24)] + [jst(2026, 5, day, 3) for day in range(4, 11)]
    around_the_clock = [s for s in crisis if all(is_open_at(compile_hours(s), t, holidays()) for t in instants)]
    assert len(around_the_clock) >= 2


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (jst(2026, 6, 5, 23, 30), True),  # Friday night: 18:00-02:00
        (jst(2026, 6, 6, 1, 30), True),  # Saturday, after midnight of Friday's window
        (jst(2026, 6, 8, 1, 30), False),  # Monday, after Sunday's 17:00-22:00
        (jst(2026, 6, 8, 17, 30), True),
    ],
)
def test_the_mind_line_runs_past_midnight_on_friday_and_saturday(at, open_):
    (mind,) = [s for s in services_of("national") if s.topics == ("mind",)]
    assert is_open_at(compile_hours(mind), at, holidays()) is open_


def test_prefecture_windows_close_over_new_year_unless_extended():
    before, year_end, new_year = jst(2026, 12, 28, 12), jst(2026, 12, 29, 12), jst(2027, 1, 1, 12)
    for service in services_of("prefecture"):
        hours, extended = compile_hours(service), service.areas[0][:2] in YEAR_END_EXTENDED
        assert is_open_at(hours, before, holidays())
        assert is_open_at(hours, year_end, holidays()) is extended
        assert is_open_at(hours, new_year, holidays()) is extended
        assert 3 <= service.capacity_for("voice") <= 8


def test_municipal_agencies_keep_office_hours():
    at_opening, after_closing = jst(2026, 6, 8, 8, 30), jst(2026, 6, 8, 17, 15)
    for service in services_of("municipal"):
        hours = compile_hours(service)
        assert is_open_at(hours, at_opening, holidays()) and not is_open_at(hours, after_closing, holidays())
        assert not is_open_at(hours, jst(2026, 12, 29, 12), holidays())  # 年末年始, a Tuesday
        assert 1 <= service.capacity_for("voice") <= 3


def test_the_demo_builds_a_routing_snapshot_of_every_service():
    snapshot = build_snapshot(demo(), regions(), version=1, holidays=holidays(), built_at=jst(2026, 6, 1))
    assert len(snapshot.services) == len(demo().services)


def test_the_demo_is_deterministic():
    assert demo_directory(regions()) == demo()


def test_ids_are_unique_and_organisations_exist():
    records = demo()
    ids = [o.id for o in records.organizations] + [s.id for s in records.services]
    ids += [p.id for s in records.services for p in s.phones] + [x.id for s in records.services for x in s.schedules]
    assert len(ids) == len(set(ids))
    organisations = {o.id for o in records.organizations}
    assert all(s.organization_id in organisations for s in records.services)


def test_numbers_are_valid_unique_and_never_a_real_hotline():
    numbers = [p.number for s in demo().services for p in s.phones]
    assert len(numbers) == len(set(numbers)) == len(demo().services)
    assert not set(numbers) & PUBLISHED_HOTLINES
    for number in numbers:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE, number


def test_sizes_look_like_japan():
    assert len(services_of("national")) >= 10
    assert len(services_of("prefecture")) == 47
    assert 1_600 <= len(services_of("municipal")) <= 1_800
