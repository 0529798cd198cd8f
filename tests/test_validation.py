"""validate_records: each broken record yields its precise problem; several problems are all listed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from builders import ORGANIZATION_ID, make_organization, make_phone, make_records, make_schedule, make_service

from referral_directory.demo import demo_directory
from referral_directory.records import NATION, Problem, ServiceRecord, derived_id
from referral_directory.validation import service_where, validate_records


def problems_of(service: ServiceRecord, regions) -> list[tuple[str, str]]:
    """Return (field, message) of every problem of a directory holding this one service."""
    found = validate_records(make_records(service), regions)
    assert all(p.where == service_where(service.id, service.name) for p in found)
    return [(p.field, p.message) for p in found]


def test_a_valid_service_has_no_problems(regions):
    assert validate_records(make_records(make_service()), regions) == ()


def test_the_demo_directory_is_valid(regions):
    assert validate_records(demo_directory(regions), regions) == ()


CLOSED_HOURS = make_schedule(kind="closed", opens_at="09:00", closes_at="17:00")

BROKEN_SERVICES = {
    "bad check digit": ({"areas": ("131017",)}, [("areas", "lgcode 131017 has a wrong check digit; did you mean 131016?")]),
    "lgcode without check digit": ({"areas": ("13101",)}, [("areas", "lgcode 13101 is missing its check digit; did you mean 131016?")]),
    "no area": ({"areas": ()}, [("areas", "no service area; give lgcodes such as 131016, or 000000 for the whole country")]),
    "unknown topic": (
        {"topics": ("general", "suicide")},
        [("topics", 'unknown topic "suicide"; use one of: life, mind, crisis, violence, family, youth, sogi, foreign, general')],
    ),
    "no topic": (
        {"topics": ()},
        [("topics", "no topics; give at least one of: life, mind, crisis, violence, family, youth, sogi, foreign, general")],
    ),
    "unknown tier": ({"tier": "city"}, [("tier", 'unknown tier "city"; use one of: national, prefecture, municipal')]),
    "unknown channel": ({"channels": ("voice", "fax")}, [("channels", 'unknown channel "fax"; use one of: voice, sns')]),
    "no channel": (
        {"channels": ()},
        [
            ("channels", "no channels; give at least one of: voice, sns"),
            (
                "capacity.voice",
                "capacity 3 for voice, but the service does not take voice; add voice to its channels or leave the capacity empty",
            ),
        ],
    ),
    "no name": ({"name": " "}, [("name", "the service has no name")]),
    "unknown status": (
        {"status": "open"},
        [("status", 'unknown status "open"; use one of: active, inactive, defunct, temporarily closed')],
    ),
    "unknown holidays": ({"holidays": "yes"}, [("holidays", 'unknown holiday behaviour "yes"; use one of: closed, open')]),
    "non-E.164 number": (
        {"phones": (make_phone(number="03-1234-5678"),)},
        [("phones[0].number", '"03-1234-5678" is not an E.164 number; write it in E.164 form, like "+81312345678"')],
    ),
    "spaced number": (
        {"phones": (make_phone(number="+81 3 1234 5678"),)},
        [("phones[0].number", '"+81 3 1234 5678" is not an E.164 number; write it in E.164 form, like "+81312345678"')],
    ),
    "foreign number": (
        {"phones": (make_phone(number="+12025550123"),)},
        [("phones[0].number", '"+12025550123" is not a Japanese number; write it in E.164 form, like "+81312345678"')],
    ),
    "too short a number": (
        {"phones": (make_phone(number="+813123"),)},
        [("phones[0].number", '"+813123" is not a valid Japanese phone number; write it in E.164 form, like "+81312345678"')],
    ),
    "voice without phone": ({"phones": ()}, [("phones", "a voice service needs at least one phone number")]),
    "queue not a web address": (
        {"channels": ("sns",), "capacity": (("sns", 2),), "sns_url": "queue-tokyo"},
        [("sns_url", '"queue-tokyo" is not a web address like "https://sns.example.jp/queues/tokyo"')],
    ),
    "missing capacity": ({"capacity": ()}, [("capacity.voice", "capacity for voice is missing: how many sessions can it hold at once?")]),
    "negative capacity": (
        {"capacity": (("voice", -1),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got -1")],
    ),
    "capacity not an int": (
        {"capacity": (("voice", "5"),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got '5'")],
    ),
    "capacity beyond the API's bound": (
        {"capacity": (("voice", 10_001),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got 10001")],
    ),
    "capacity of the largest 64-bit integer": (
        {"capacity": (("voice", 2**63 - 1),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got 9223372036854775807")],
    ),
    "capacity too large for any database": (
        {"capacity": (("voice", 10**20 - 1),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got 99999999999999999999")],
    ),
    "capacity with thousands of digits": (
        {"capacity": (("voice", 10**100),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got " + "1" + "0" * 38 + "…")],
    ),
    "capacity a boolean": (
        {"capacity": (("voice", True),)},
        [("capacity.voice", "capacity for voice must be a whole number from 0 to 10000; got True")],
    ),
    "control character in a name": (
        {"name": "窓口\x07"},
        [("name", "name holds a character no directory file can carry (U+0007, unseen on screen); remove it")],
    ),
    "NUL in the description": (
        {"description": "説明\x00"},
        [("description", "description holds a character no directory file can carry (U+0000, unseen on screen); remove it")],
    ),
    "lone surrogate in the queue address": (
        {"channels": ("sns",), "capacity": (("sns", 2),), "sns_url": "https://sns.example.jp/\ud800"},
        [("sns_url", "sns_url holds a character no directory file can carry (U+D800, unseen on screen); remove it")],
    ),
    "control character in a phone's description": (
        {"phones": (make_phone(description="代表\x1b"),)},
        [("phones[0].description", "description holds a character no directory file can carry (U+001B, unseen on screen); remove it")],
    ),
    "control character in a schedule's description": (
        {"schedules": (make_schedule(description="\x0c"),)},
        [("schedules[0].description", "description holds a character no directory file can carry (U+000C, unseen on screen); remove it")],
    ),
    "capacity on a channel not taken": (
        {"capacity": (("voice", 3), ("sns", 2))},
        [("capacity.sns", "capacity 2 for sns, but the service does not take sns; add sns to its channels or leave the capacity empty")],
    ),
    "impossible hours": (
        {"schedules": (make_schedule(opens_at="09:00", closes_at="09:00"),)},
        [("schedules[0].closes_at", "impossible hours: opens and closes at 09:00; for all day write 00:00-24:00")],
    ),
    "opens at 24:00": (
        {"schedules": (make_schedule(opens_at="24:00", closes_at="06:00"),)},
        [("schedules[0].opens_at", 'hours cannot open at "24:00"; write "00:00"')],
    ),
    "hours not HH:MM": (
        {"schedules": (make_schedule(opens_at="9am"),)},
        [("schedules[0].opens_at", 'time "9am" is not HH:MM (e.g. "09:00", "17:30", "24:00")')],
    ),
    "byday not a day list": (
        {"schedules": (make_schedule(byday=("MO", "XX")),)},
        [("schedules[0].byday", 'byday "MO,XX": unknown day "XX"; use MO, TU, WE, TH, FR, SA, SU')],
    ),
    "weekly hours without days": (
        {"schedules": (make_schedule(byday=()),)},
        [("schedules[0].byday", 'byday is missing: give the days the hours apply to, such as "MO,TU,WE,TH,FR"')],
    ),
    "weekly hours with dates": (
        {"schedules": (make_schedule(valid_from="2026-12-29"),)},
        [("schedules[0].valid_from", "weekly hours have no valid_from; to limit hours to some dates, make it a dated opening (kind open)")],
    ),
    "closure with hours": (
        {"schedules": (make_schedule(), CLOSED_HOURS)},
        [("schedules[1].opens_at", "a closure shuts whole days and has no opens_at/closes_at; remove them, or make it kind open")],
    ),
    "opening without dates": (
        {"schedules": (make_schedule(), make_schedule(kind="open", valid_from=None, valid_to=None))},
        [
            ("schedules[1].valid_from", "valid_from is missing: a dated opening needs inclusive dates valid_from and valid_to"),
            ("schedules[1].valid_to", "valid_to is missing: a dated opening needs inclusive dates valid_from and valid_to"),
        ],
    ),
    "closure dates reversed": (
        {"schedules": (make_schedule(), make_schedule(kind="closed", valid_from="2027-01-03", valid_to="2026-12-29"))},
        [("schedules[1].valid_to", "valid_to 2026-12-29 is before valid_from 2027-01-03")],
    ),
    "unknown schedule kind": (
        {"schedules": (make_schedule(), make_schedule(kind="holiday"))},
        [("schedules[1].kind", 'unknown schedule kind "holiday"; use one of: weekly, open, closed')],
    ),
    "never open": (
        {"schedules": (make_schedule(kind="closed"),)},
        [("schedules", "the service is active but has no weekly hours or dated openings, so it is never open")],
    ),
    "service id not a UUID": ({"id": "svc-1"}, [("id", 'service id "svc-1" is not a UUID (like "0b6c5e6e-8a1f-4f5e-9d43-2f6f8f1c2a77")')]),
    "phone id not a UUID": (
        {"phones": (make_phone(id="p1"),)},
        [("phones[0].id", 'phone id "p1" is not a UUID (like "0b6c5e6e-8a1f-4f5e-9d43-2f6f8f1c2a77")')],
    ),
}


@pytest.mark.parametrize("overrides, expected", BROKEN_SERVICES.values(), ids=BROKEN_SERVICES.keys())
def test_a_broken_service_yields_its_precise_problem(regions, overrides, expected):
    assert problems_of(make_service(**overrides), regions) == expected


FINE_SERVICES = {
    "all day": {"schedules": (make_schedule(opens_at="00:00", closes_at="24:00"),)},
    "past midnight": {"schedules": (make_schedule(opens_at="22:00", closes_at="06:00"),)},
    "until midnight": {"schedules": (make_schedule(opens_at="18:00", closes_at="00:00"),)},
    "offset +09:00": {"schedules": (make_schedule(opens_at="09:00+09:00"),)},
    "dated opening only": {"schedules": (make_schedule(kind="open"),)},
    "one-day closure": {"schedules": (make_schedule(), make_schedule(kind="closed", valid_from="2027-05-03", valid_to="2027-05-03"))},
    "inactive and never open": {"status": "inactive", "schedules": ()},
    "zero capacity on a channel not taken": {"capacity": (("voice", 3), ("sns", 0))},
    "zero capacity": {"capacity": (("voice", 0),)},
    "capacity at the API's bound": {"capacity": (("voice", 10_000),)},
    "tabs and line breaks in the description": {"description": "一行目\r\n\t二行目\n"},
    "texts that begin like formulas": {"name": '=HYPERLINK("https://evil.example/x","窓口")', "description": "-2+3"},
    "prefecture, designated city, ward": {"areas": ("130001", "271004", "271276")},
    "voice and sns": {"channels": ("voice", "sns"), "capacity": (("voice", 3), ("sns", 2)), "sns_url": "https://sns.example.jp/q/1"},
    "sns answered in tsunagu's console (no own SNS)": {"channels": ("sns",), "capacity": (("sns", 2),), "phones": ()},
}


@pytest.mark.parametrize("overrides", FINE_SERVICES.values(), ids=FINE_SERVICES.keys())
def test_a_valid_variation_has_no_problems(regions, overrides):
    assert problems_of(make_service(**overrides), regions) == []


def test_a_missing_organization_is_a_problem_unless_the_database_has_it(regions):
    service = make_service(organization_id=derived_id("elsewhere"))
    records = make_records(service, organizations=(make_organization(),))
    expected = Problem(
        service_where(service.id, service.name),
        "organization_id",
        f"organization {derived_id('elsewhere')} is neither in this file nor in the directory",
    )
    assert validate_records(records, regions) == (expected,)
    assert validate_records(records, regions, known_organization_ids={derived_id("elsewhere")}) == ()


def test_duplicate_ids_are_named_with_their_first_use(regions):
    first = make_service(name="窓口A")
    second = make_service(name="窓口B", id=first.id, phones=first.phones, schedules=first.schedules)
    organization = make_organization()
    records = make_records(first, second, organizations=(organization, organization))
    where_first, where_second = service_where(first.id, "窓口A"), service_where(first.id, "窓口B")
    assert validate_records(records, regions) == (
        Problem(
            f"organization {ORGANIZATION_ID} ({organization.name})",
            "id",
            f"organization id {ORGANIZATION_ID} is used twice: also by organization {ORGANIZATION_ID} ({organization.name})",
        ),
        Problem(where_second, "id", f"service id {first.id} is used twice: also by {where_first}"),
        Problem(where_second, "phones[0].id", f"phone id {first.phones[0].id} is used twice: also by {where_first} phones[0].id"),
        Problem(
            where_second, "schedules[0].id", f"schedule id {first.schedules[0].id} is used twice: also by {where_first} schedules[0].id"
        ),
    )


def test_an_organization_needs_a_name(regions):
    records = make_records(make_service(), organizations=(make_organization(name=""),))
    assert [(p.where, p.field, p.message) for p in validate_records(records, regions)] == [
        (f"organization {ORGANIZATION_ID} ()", "name", "the organization has no name")
    ]


def test_a_service_with_several_problems_lists_all_of_them(regions):
    service = make_service(
        tier="city",
        topics=("suicide",),
        areas=(NATION, "131017"),
        phones=(make_phone(number="0312345678"),),
        schedules=(make_schedule(byday=("XX",)), make_schedule(kind="closed", valid_from=date(2027, 1, 3), valid_to=date(2026, 12, 29))),
        capacity=(("voice", -2),),
    )
    assert [field for field, _ in problems_of(service, regions)] == [
        "tier",
        "topics",
        "capacity.voice",
        "areas",
        "phones[0].number",
        "schedules[0].byday",
        "schedules[1].valid_to",
    ]


def test_problems_of_several_services_are_all_listed(regions):
    good = make_service(name="よい窓口")
    bad_area = make_service(name="地域違い", areas=("131017",))
    bad_phone = replace(make_service(name="番号違い"), phones=(make_phone(id=derived_id("x"), number="+81"),))
    found = validate_records(make_records(good, bad_area, bad_phone), regions)
    assert [(p.where, p.field) for p in found] == [
        (service_where(bad_area.id, "地域違い"), "areas"),
        (service_where(bad_phone.id, "番号違い"), "phones[0].number"),
    ]
