"""The JP-profile HSDS file both ways: broken files yield precise problems, exports validate and round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import make_records, make_schedule, make_service, make_varied_records
from hsds_schemas import schema_errors
from hypothesis import given, settings
from strategies import valid_services

from referral_directory.interchange.hsds import dumps_hsds, load_hsds, parse_hsds, to_hsds
from referral_directory.interchange.sheet import load_sheet
from referral_directory.records import DirectoryRecords, ParseResult, derived_id
from referral_directory.validation import service_where

SAMPLES = Path(__file__).resolve().parents[1] / "referral_directory" / "interchange" / "samples"


def sample_records(regions) -> DirectoryRecords:
    result = load_sheet((SAMPLES / "directory-sample.csv").read_bytes(), regions)
    assert result.problems == ()
    return result.records


# --- exports -------------------------------------------------------------------------------------


def test_the_sample_file_parses_with_no_problems_and_matches_the_csv_sample(regions):
    result = load_hsds(json.loads((SAMPLES / "directory-sample.hsds.json").read_text()), regions)
    assert result.problems == ()
    assert result.records == sample_records(regions)


def test_the_sample_file_is_the_export_of_the_csv_sample_byte_for_byte(regions):
    assert (SAMPLES / "directory-sample.hsds.json").read_text() == dumps_hsds(sample_records(regions), regions)


@pytest.mark.parametrize("records", ["sample", "full"])
def test_an_export_validates_against_the_official_schemas(regions, records):
    chosen = sample_records(regions) if records == "sample" else make_varied_records()
    assert schema_errors(to_hsds(chosen, regions)) == []


def test_the_schema_check_does_catch_a_broken_document(regions):
    doc = to_hsds(make_varied_records(), regions)
    doc["contents"][0]["phones"][0]["id"] = "p1"
    doc["total_items"] = "2"
    assert schema_errors(doc) == [
        "document: $.total_items: '2' is not of type 'integer'",
        "contents[0]: $.phones[0].id: 'p1' is not a 'uuid'",
    ]


@pytest.mark.parametrize("records", ["sample", "full"])
def test_round_trip_gives_back_the_same_records(regions, records):
    chosen = sample_records(regions) if records == "sample" else make_varied_records()
    doc = json.loads(dumps_hsds(chosen, regions))
    assert load_hsds(doc, regions) == load_hsds(doc, regions)
    assert load_hsds(doc, regions).records == chosen
    assert dumps_hsds(load_hsds(doc, regions).records, regions) == dumps_hsds(chosen, regions)


def test_an_export_names_the_service_areas_and_carries_the_profile_codes(regions):
    service = to_hsds(make_varied_records(), regions)["contents"][1]
    assert [(a["uri"], a["name"]) for a in service["service_areas"]] == [
        ("urn:jp:lgcode:130001", "東京都"),
        ("urn:jp:lgcode:271004", "大阪市"),
    ]
    codes = [(a["taxonomy_term"]["taxonomy"], a["taxonomy_term"]["code"], a.get("value")) for a in service["attributes"]]
    assert codes == [
        ("tsunagu-tier", "prefecture", None),
        ("tsunagu-topic", "life", None),
        ("tsunagu-topic", "mind", None),
        ("tsunagu-topic", "general", None),
        ("tsunagu-channel", "voice", None),
        ("tsunagu-capacity", "voice", "3"),
        ("tsunagu-holidays", "closed", None),
    ]
    kinds = [[a["taxonomy_term"]["code"] for a in s.get("attributes", [])] for s in service["schedules"]]
    assert kinds == [[], [], ["closed"], ["open"]]


# --- parsing -------------------------------------------------------------------------------------


def test_parsing_normalises_order_and_times(regions):
    doc = to_hsds(make_varied_records(), regions)
    tokyo = doc["contents"][1]
    tokyo["attributes"].reverse()
    tokyo["service_areas"].reverse()
    tokyo["schedules"][1]["byday"] = "SA,FR"
    tokyo["schedules"][0]["opens_at"] = "09:00+09:00"
    assert load_hsds(doc, regions).records == make_varied_records()


def test_a_service_may_refer_to_an_organization_already_in_the_directory(regions):
    doc = to_hsds(make_records(make_service()), regions)
    del doc["contents"][0]["organization"]
    result = load_hsds(doc, regions, known_organization_ids={make_service().organization_id})
    assert result.ok and result.records.organizations == ()


def mutate(path: str, value: Any = None, *, delete: bool = False):
    """Return a function setting (or deleting) the value at a dotted path of the first service."""

    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc["contents"][0]
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        key = int(last) if last.isdigit() else last
        if delete:
            del target[key]
        else:
            target[key] = value

    return apply


# The broken files start from one service with weekly hours and a closure; its attributes are
# 0 tier, 1 topic general, 2 channel voice, 3 capacity voice, 4 holidays.
SCHEDULES = (make_schedule(), make_schedule(kind="closed"))

BROKEN_FILES = {
    "bad check digit": (
        mutate("service_areas.0.uri", "urn:jp:lgcode:131017"),
        [("areas", "lgcode 131017 has a wrong check digit; did you mean 131016?")],
    ),
    "area not an lgcode uri": (
        mutate("service_areas.0.uri", "lgcode:131016"),
        [
            (
                "service_areas[0].uri",
                '\'lgcode:131016\' is not an lgcode URI like "urn:jp:lgcode:131016" ("urn:jp:lgcode:000000" is the whole country)',
            )
        ],
    ),
    "unknown topic": (
        mutate("attributes.1.taxonomy_term.code", "suicide"),
        [
            (
                "attributes[1].taxonomy_term.code",
                'unknown topic "suicide"; use one of: life, mind, crisis, violence, family, youth, sogi, foreign, general',
            )
        ],
    ),
    "unknown tier": (
        mutate("attributes.0.taxonomy_term.code", "city"),
        [("attributes[0].taxonomy_term.code", 'unknown tier "city"; use one of: national, prefecture, municipal')],
    ),
    "missing tier": (
        mutate("attributes.0", {"id": derived_id("a"), "taxonomy_term": {"taxonomy": "other", "code": "x"}}),
        [("attributes", "the tier is missing: add a tsunagu-tier attribute (national, prefecture, municipal)")],
    ),
    "unknown channel": (
        mutate("attributes.2.taxonomy_term.code", "fax"),
        [
            ("attributes[2].taxonomy_term.code", 'unknown channel "fax"; use one of: voice, sns'),
            (
                "capacity.voice",
                "capacity 3 for voice, but the service does not take voice; add voice to its channels or leave the capacity empty",
            ),
        ],
    ),
    "unknown holidays": (
        mutate("attributes.4.taxonomy_term.code", "sometimes"),
        [("attributes[4].taxonomy_term.code", 'unknown holiday behaviour "sometimes"; use one of: closed, open')],
    ),
    "holidays value disagrees": (
        mutate("attributes.4.value", "open"),
        [("attributes[4].value", 'holiday value "open" disagrees with its code "closed"')],
    ),
    "bad capacity": (
        mutate("attributes.3.value", "five"),
        [("attributes[3].value", "capacity value must be a decimal integer written as a string, like \"5\"; got 'five'")],
    ),
    "capacity as a number": (
        mutate("attributes.3.value", 5),
        [("attributes[3].value", 'capacity value must be a decimal integer written as a string, like "5"; got 5')],
    ),
    "non-E.164 number": (
        mutate("phones.0.number", "03-1234-5678"),
        [("phones[0].number", '"03-1234-5678" is not an E.164 number; write it in E.164 form, like "+81312345678"')],
    ),
    "phone not voice": (
        mutate("phones.0.type", "fax"),
        [("phones[0].type", "phone type must be \"voice\" (a number the dial can ring); got 'fax'")],
    ),
    "impossible hours": (
        mutate("schedules.0.closes_at", "09:00"),
        [("schedules[0].closes_at", "impossible hours: opens and closes at 09:00; for all day write 00:00-24:00")],
    ),
    "hours not a time": (
        mutate("schedules.0.opens_at", "9時"),
        [("schedules[0].opens_at", 'time "9時" is not HH:MM (e.g. "09:00", "17:30", "24:00")')],
    ),
    "byday not a day list": (
        mutate("schedules.0.byday", "weekdays"),
        [("schedules[0].byday", 'byday "weekdays": unknown day "weekdays"; use MO, TU, WE, TH, FR, SA, SU')],
    ),
    "byday a JSON list": (
        mutate("schedules.0.byday", ["MO", "TU"]),
        [("schedules[0].byday", "byday must be a day list like \"MO,TU,WE,TH,FR\"; got ['MO', 'TU']")],
    ),
    "freq not weekly": (mutate("schedules.0.freq", "MONTHLY"), [("schedules[0].freq", "freq must be \"WEEKLY\"; got 'MONTHLY'")]),
    "timezone not JST": (mutate("schedules.0.timezone", 0), [("schedules[0].timezone", "timezone must be 9 (JST); got 0")]),
    "both open and closed": (
        mutate("schedules.1.attributes", [{"taxonomy_term": {"taxonomy": "tsunagu-schedule-kind", "code": c}} for c in ("closed", "open")]),
        [("schedules[1].attributes", "the schedule is both an opening (open) and a closure (closed)")],
    ),
    "unknown schedule kind": (
        mutate("schedules.1.attributes.0.taxonomy_term.code", "maybe"),
        [("schedules[1].attributes[0].taxonomy_term.code", 'unknown schedule kind "maybe"; use one of: open, closed')],
    ),
    "date not a date": (
        mutate("schedules.1.valid_to", "2027/01/03"),
        [("schedules[1].valid_to", "valid_to must be a date like \"2026-12-29\"; got '2027/01/03'")],
    ),
    "missing organisation": (
        mutate("organization", delete=True),
        [("organization", "the organization is missing: embed it (id, name, description)")],
    ),
    "unknown status": (
        mutate("status", "open"),
        [("status", 'unknown status "open"; use one of: active, inactive, defunct, temporarily closed')],
    ),
    "missing status": (mutate("status", delete=True), [("status", "status is missing")]),
    "name not a string": (mutate("description", 3), [("description", "description must be a string; got 3")]),
    "phones not a list": (mutate("phones", {"number": "+81312345678"}), [("phones", "phones must be a list; got dict")]),
}


@pytest.mark.parametrize("change, expected", BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_a_broken_file_yields_its_precise_problem(regions, change, expected):
    service = make_service(schedules=SCHEDULES)
    doc = to_hsds(make_records(service), regions)
    change(doc)
    if "organization" not in doc["contents"][0]:
        del doc["contents"][0]["organization_id"]  # no organization at all, embedded or by id
    found = load_hsds(doc, regions).problems
    assert [(p.field, p.message) for p in found] == expected
    assert {p.where for p in found} == {service_where(service.id, service.name)}


def test_an_unknown_organization_id_is_a_semantic_problem(regions):
    doc = to_hsds(make_records(make_service()), regions)
    del doc["contents"][0]["organization"]
    assert [(p.field, p.message) for p in load_hsds(doc, regions).problems] == [
        ("organization_id", f"organization {make_service().organization_id} is neither in this file nor in the directory")
    ]


def test_duplicate_ids_across_services_are_problems(regions):
    first, second = make_service(name="窓口A"), make_service(name="窓口B")
    doc = to_hsds(make_records(first, second), regions)
    doc["contents"][1]["id"] = first.id
    doc["contents"][1]["phones"][0]["id"] = first.phones[0].id
    found = load_hsds(doc, regions).problems
    where = service_where(first.id, "窓口B")
    assert [(p.where, p.field) for p in found] == [(where, "id"), (where, "phones[0].id")]
    assert found[0].message == f"service id {first.id} is used twice: also by {service_where(first.id, '窓口A')}"


@pytest.mark.parametrize(
    "doc, expected",
    [
        ([], ("file", "", "the file must be a JSON object with a contents list of services")),
        ({"total_items": 0}, ("file", "contents", "contents, the list of services, is missing or not a list")),
        ({"contents": ["x"]}, ("contents[0]", "", "a service must be an object; got 'x'")),
    ],
)
def test_a_file_that_is_not_a_service_list_is_refused(doc, expected):
    assert [(p.where, p.field, p.message) for p in parse_hsds(doc).problems] == [expected]


def test_a_file_with_several_problems_lists_all_of_them(regions):
    doc = to_hsds(make_varied_records(), regions)
    crisis, tokyo = doc["contents"]
    crisis["service_areas"][0]["uri"] = "urn:jp:lgcode:131017"
    crisis["attributes"][1]["taxonomy_term"]["code"] = "suicide"
    crisis["phones"][1]["number"] = "0312345678"
    tokyo["schedules"][0]["byday"] = "MO TU"
    tokyo["schedules"][1]["closes_at"] = tokyo["schedules"][1]["opens_at"]
    tokyo["attributes"][5]["value"] = "many"
    found = load_hsds(doc, regions).problems
    crisis_where, tokyo_where = (service_where(s["id"], s["name"]) for s in doc["contents"])
    assert sorted((p.where, p.field) for p in found) == sorted(
        [
            (crisis_where, "attributes[1].taxonomy_term.code"),
            (crisis_where, "areas"),
            (crisis_where, "phones[1].number"),
            (tokyo_where, "schedules[0].byday"),
            (tokyo_where, "schedules[1].closes_at"),
            (tokyo_where, "attributes[5].value"),
        ]
    )


# --- property: any valid records survive the round trip --------------------------------------------


@settings(max_examples=40, deadline=None)
@given(valid_services())
def test_any_valid_records_survive_export_and_import(regions, drawn):
    records = make_records(*drawn)
    assert load_hsds(json.loads(dumps_hsds(records, regions)), regions) == ParseResult(records)


# A closure shuts whole days "whatever its byday/hours say" (docs/hsds-jp-profile.md): what it says of them is read as
# absent, whatever it is, with one warning naming the fields.
CLOSURE_WRITINGS = {
    "byday": ({"byday": "MO,TU,WE,TH,FR"}, "schedules[1].byday", "byday"),
    "hours": ({"opens_at": "09:00", "closes_at": "17:00"}, "schedules[1].opens_at", "opens_at/closes_at"),
    "all three": ({"byday": "SA,SU", "opens_at": "10:00", "closes_at": "15:00"}, "schedules[1].byday", "byday/opens_at/closes_at"),
    "unreadable ones": ({"byday": "weekdays", "closes_at": "25:99"}, "schedules[1].byday", "byday/closes_at"),
}


@pytest.mark.parametrize("written, field, named", CLOSURE_WRITINGS.values(), ids=CLOSURE_WRITINGS.keys())
def test_a_closure_written_with_days_or_hours_is_read_as_whole_days_with_a_warning(regions, written, field, named):
    service = make_service(schedules=SCHEDULES)
    doc = to_hsds(make_records(service), regions)
    doc["contents"][0]["schedules"][1].update(written)
    result = load_hsds(doc, regions)
    assert result.problems == ()
    assert [(w.where, w.field, w.message) for w in result.warnings] == [
        (service_where(service.id, service.name), field, f"a closure shuts whole days, whatever its {named} say: they are ignored")
    ]
    assert result.records == make_records(service)  # the closure as if they had never been written


def test_a_closure_without_days_or_hours_gives_no_warning(regions):
    doc = to_hsds(make_records(make_service(schedules=SCHEDULES)), regions)
    doc["contents"][0]["schedules"][1].update({"byday": "", "opens_at": None})
    assert load_hsds(doc, regions).warnings == ()
