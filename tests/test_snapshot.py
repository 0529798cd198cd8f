"""The routing snapshot: how services are indexed by (channel, topic) and reach, hours compiled, the demo built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError
from datetime import date, datetime

import pytest

from referral_directory.demo import demo_directory
from referral_directory.hours import JST, DatedHours, Hours, Window, japanese_holidays
from referral_directory.records import NATION, DirectoryRecords, OrganizationRecord, PhoneRecord, ScheduleRecord, ServiceRecord, derived_id
from referral_directory.regions import Regions
from referral_directory.snapshot import EMPTY_BUCKET, Bucket, Snapshot, build_snapshot, compile_hours

HOLIDAYS = japanese_holidays(2026, 2028)
BUILT_AT = datetime(2026, 6, 1, 12, 0, tzinfo=JST)
ORGANIZATION_ID = derived_id("test_snapshot", "organization")
ORGANIZATION_NAME = "NPO法人 スナップショット試験相談室"
WEEKDAYS_ONLY = ("MO", "TU", "WE", "TH", "FR")
EVERY_DAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

TOKYO = "130001"
CHIYODA = "131016"
OSAKA_CITY = "271004"  # designated city 27100
KITA_WARD = "271276"  # 大阪市北区 27127


# --- builders -------------------------------------------------------------------------------------


def sid(id_suffix: str) -> str:
    return derived_id("test_snapshot", "service", id_suffix)


def weekly(byday: tuple[str, ...] = WEEKDAYS_ONLY, opens_at: str = "09:00", closes_at: str = "17:00") -> ScheduleRecord:
    return ScheduleRecord(
        id=derived_id("weekly", ",".join(byday), opens_at, closes_at), byday=byday, opens_at=opens_at, closes_at=closes_at
    )


def closure(valid_from: str = "2026-12-29", valid_to: str = "2027-01-03") -> ScheduleRecord:
    return ScheduleRecord(
        id=derived_id("closed", valid_from, valid_to),
        kind="closed",
        valid_from=date.fromisoformat(valid_from),
        valid_to=date.fromisoformat(valid_to),
    )


def dated_open(
    valid_from: str, valid_to: str, byday: tuple[str, ...] = EVERY_DAY, opens_at: str = "10:00", closes_at: str = "22:00"
) -> ScheduleRecord:
    return ScheduleRecord(
        id=derived_id("open", valid_from, valid_to, opens_at, closes_at),
        kind="open",
        byday=byday,
        opens_at=opens_at,
        closes_at=closes_at,
        valid_from=date.fromisoformat(valid_from),
        valid_to=date.fromisoformat(valid_to),
    )


def svc(
    id_suffix: str,
    tier: str = "national",
    areas: tuple[str, ...] = (NATION,),
    topics: tuple[str, ...] = ("general",),
    schedules: tuple[ScheduleRecord, ...] = (weekly(EVERY_DAY, "00:00", "24:00"),),
    capacity: int | Mapping[str, int] = 3,
    holidays: str = "closed",
    channels: tuple[str, ...] = ("voice",),
    status: str = "active",
) -> ServiceRecord:
    service_id = sid(id_suffix)
    per_channel = capacity if isinstance(capacity, Mapping) else dict.fromkeys(channels, capacity)
    return ServiceRecord(
        id=service_id,
        organization_id=ORGANIZATION_ID,
        name=f"テスト窓口 {id_suffix}",
        tier=tier,
        topics=topics,
        channels=channels,
        areas=tuple(sorted(areas)),
        capacity=tuple((c, per_channel.get(c, 0)) for c in channels),
        holidays=holidays,
        status=status,
        sns_url=f"https://sns.example.jp/queues/{id_suffix}" if "sns" in channels else "",
        phones=(PhoneRecord(id=derived_id(service_id, "phone"), number="+81312345678"),) if "voice" in channels else (),
        schedules=schedules,
    )


def snapshot_of(regions: Regions, *services: ServiceRecord, version: int = 1) -> Snapshot:
    records = DirectoryRecords(organizations=(OrganizationRecord(id=ORGANIZATION_ID, name=ORGANIZATION_NAME),), services=services)
    return build_snapshot(records, regions, version=version, holidays=HOLIDAYS, built_at=BUILT_AT)


def reach_of(bucket: Bucket) -> dict[str, list[tuple[str, str]]]:
    """Every index key of a bucket ("nation", a prefecture or municipality code) → (service id, match)."""
    index = {"nation": [(r.entry.id, r.match) for r in bucket.nation]} if bucket.nation else {}
    for code, reaches in [*bucket.prefecture.items(), *bucket.municipality.items()]:
        index[code] = [(r.entry.id, r.match) for r in reaches]
    return index


@pytest.fixture(scope="module")
def demo(regions) -> DirectoryRecords:
    return demo_directory(regions)


@pytest.fixture(scope="module")
def demo_snapshot(regions, demo) -> Snapshot:
    return build_snapshot(demo, regions, version=7, holidays=HOLIDAYS, built_at=BUILT_AT)


# --- buckets --------------------------------------------------------------------------------------


def test_buckets_are_keyed_by_channel_and_topic(regions):
    snapshot = snapshot_of(
        regions, svc("both", topics=("crisis", "general"), channels=("voice", "sns")), svc("mind", topics=("mind",), channels=("voice",))
    )

    assert set(snapshot.buckets) == {("voice", "crisis"), ("voice", "general"), ("sns", "crisis"), ("sns", "general"), ("voice", "mind")}
    assert [r.entry.id for r in snapshot.bucket("sns", "general").nation] == [sid("both")]
    assert [r.entry.id for r in snapshot.bucket("voice", "mind").nation] == [sid("mind")]


@pytest.mark.parametrize(("channel", "topic"), [("sns", "mind"), ("voice", "youth"), ("fax", "general")])
def test_an_unknown_channel_and_topic_gives_the_empty_bucket(regions, channel, topic):
    both = svc("both", topics=("general",), channels=("voice", "sns"))
    snapshot = snapshot_of(regions, both, svc("mind", topics=("mind",)))

    assert snapshot.bucket(channel, topic) is EMPTY_BUCKET
    assert reach_of(snapshot.bucket(channel, topic)) == {}


@pytest.mark.parametrize(
    ("areas", "expected"),
    [
        pytest.param((NATION,), {"nation": "nation"}, id="nation"),
        pytest.param((TOKYO,), {"13": "prefecture"}, id="東京都-under-13"),
        pytest.param((CHIYODA,), {"13101": "municipality"}, id="千代田区-under-13101"),
        pytest.param((KITA_WARD,), {"27127": "municipality"}, id="北区-under-27127-only"),
        pytest.param((NATION, TOKYO), {"nation": "nation", "13": "prefecture"}, id="nation-and-東京都"),
    ],
)
def test_a_service_is_indexed_under_each_of_its_areas(regions, areas, expected):
    snapshot = snapshot_of(regions, svc("area", areas=areas))

    assert reach_of(snapshot.bucket("voice", "general")) == {key: [(sid("area"), m)] for key, m in expected.items()}


def test_a_designated_city_is_indexed_under_its_own_code_and_every_ward(regions):
    snapshot = snapshot_of(regions, svc("osaka", "municipal", (OSAKA_CITY,)))
    wards = regions.designated_cities["27100"].wards

    index = reach_of(snapshot.bucket("voice", "general"))

    assert "27127" in wards and len(wards) == 24
    assert set(index) == {"27100", *wards}
    assert all(reaches == [(sid("osaka"), "designated_city")] for reaches in index.values())


def test_services_are_entries_with_their_details(regions):
    record = svc("details", "prefecture", (TOKYO,), topics=("life", "general"), channels=("voice", "sns"), capacity={"voice": 4, "sns": 2})

    entry = snapshot_of(regions, record).services[sid("details")]

    assert entry.name == "テスト窓口 details"
    assert entry.organization == ORGANIZATION_NAME
    assert entry.tier == "prefecture"
    assert entry.topics == frozenset({"life", "general"})
    assert entry.channels == frozenset({"voice", "sns"})
    assert dict(entry.capacity) == {"voice": 4, "sns": 2}
    assert entry.phones == ("+81312345678",)
    assert entry.sns_url == "https://sns.example.jp/queues/details"
    assert entry.areas == (TOKYO,)
    assert entry.hours == compile_hours(record)


@pytest.mark.parametrize("status", ["inactive", "defunct", "temporarily closed"])
def test_services_that_are_not_active_are_left_out(regions, status):
    snapshot = snapshot_of(regions, svc("gone", areas=(NATION, TOKYO, CHIYODA), status=status), svc("here"))

    assert set(snapshot.services) == {sid("here")}
    indexed = {i for b in snapshot.buckets.values() for reaches in reach_of(b).values() for i, _ in reaches}
    assert indexed == {sid("here")}


def test_version_built_at_and_holidays_are_carried(regions):
    snapshot = snapshot_of(regions, svc("one"), version=42)

    assert snapshot.version == 42
    assert snapshot.built_at == BUILT_AT
    assert date(2027, 1, 11) in snapshot.holidays


def test_the_snapshot_cannot_be_changed(regions):
    snapshot = snapshot_of(regions, svc("one", areas=(NATION, TOKYO)))
    bucket = snapshot.bucket("voice", "general")

    with pytest.raises(TypeError):
        snapshot.services["another"] = snapshot.services[sid("one")]
    with pytest.raises(TypeError):
        snapshot.buckets[("sns", "general")] = bucket
    with pytest.raises(TypeError):
        bucket.prefecture["27"] = ()
    with pytest.raises(TypeError):
        snapshot.services[sid("one")].capacity["voice"] = 99
    with pytest.raises(FrozenInstanceError):
        snapshot.version = 2


# --- compile_hours --------------------------------------------------------------------------------


NEW_YEAR = (date(2026, 12, 29), date(2027, 1, 3))


@pytest.mark.parametrize(
    ("schedules", "holidays", "expected"),
    [
        pytest.param((weekly(WEEKDAYS_ONLY, "09:00", "17:00"),), "closed", Hours((Window(frozenset(range(5)), 540, 1020),)), id="office"),
        pytest.param((weekly(("FR", "SA"), "22:00", "06:00"),), "closed", Hours((Window(frozenset({4, 5}), 1320, 360),)), id="overnight"),
        pytest.param(
            (weekly(EVERY_DAY, "00:00", "24:00"),),
            "open",
            Hours((Window(frozenset(range(7)), 0, 1440),), closed_on_holidays=False),
            id="all-day-holidays-open",
        ),
        pytest.param(
            (weekly(("MO",), "09:00", "12:00"), weekly(("MO",), "13:00", "17:00")),
            "closed",
            Hours((Window(frozenset({0}), 540, 720), Window(frozenset({0}), 780, 1020))),
            id="two-windows",
        ),
        pytest.param(
            (weekly(), closure()), "closed", Hours((Window(frozenset(range(5)), 540, 1020),), closures=(NEW_YEAR,)), id="年末年始-closure"
        ),
        pytest.param(
            (weekly(), dated_open("2026-12-29", "2027-01-03")),
            "closed",
            Hours((Window(frozenset(range(5)), 540, 1020),), extra=(DatedHours(*NEW_YEAR, (Window(frozenset(range(7)), 600, 1320),)),)),
            id="年末年始-extended-hours",
        ),
        pytest.param((closure(),), "closed", Hours((), closures=(NEW_YEAR,)), id="closure-only"),
    ],
)
def test_compile_hours(schedules, holidays, expected):
    assert compile_hours(svc("hours", schedules=schedules, holidays=holidays)) == expected


@pytest.mark.parametrize(
    ("opens_at", "expected"),
    [("22:00", Window(frozenset({4}), 1320, 1440)), ("09:00", Window(frozenset({4}), 540, 1440))],
    ids=["22:00-00:00", "09:00-00:00"],
)
def test_compile_hours_reads_a_closing_time_of_midnight_as_24_00(opens_at, expected):
    assert compile_hours(svc("midnight", schedules=(weekly(("FR",), opens_at, "00:00"),))).weekly == (expected,)


# --- the demo directory ---------------------------------------------------------------------------


def test_every_municipality_has_a_municipal_service_in_the_voice_general_bucket(regions, demo_snapshot):
    by_municipality = demo_snapshot.bucket("voice", "general").municipality

    uncovered = [
        f"{code} {m.name}"
        for code, m in regions.municipalities.items()
        if not any(r.entry.tier == "municipal" for r in by_municipality.get(code, ()))
    ]

    assert len(regions.municipalities) > 1800
    assert uncovered == []


def test_every_prefecture_has_its_window_in_the_voice_general_bucket(regions, demo_snapshot):
    by_prefecture = demo_snapshot.bucket("voice", "general").prefecture

    assert all([r.entry.tier for r in by_prefecture.get(code, ())] == ["prefecture"] for code in regions.prefectures)


def test_the_demo_snapshot_holds_every_active_service_and_carries_version_and_built_at(demo, demo_snapshot):
    assert set(demo_snapshot.services) == {s.id for s in demo.services if s.status == "active"}
    assert demo_snapshot.version == 7
    assert demo_snapshot.built_at == BUILT_AT
    with pytest.raises(TypeError):
        demo_snapshot.services["x"] = next(iter(demo_snapshot.services.values()))


def test_the_full_demo_snapshot_holds_every_active_service(regions, demo):
    # Its build time is a benchmark figure (loadtests/benchmarks/engine.py), not a test: the machine is shared.
    snapshot = build_snapshot(demo, regions, version=1, holidays=HOLIDAYS, built_at=BUILT_AT)
    assert set(snapshot.services) == {s.id for s in demo.services if s.status == "active"}
