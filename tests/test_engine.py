"""Routing decisions: table-driven cases for tiers, rotation, areas, topics, hours and capacity, and one property."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_directory.hours import JST, is_open_at, japanese_holidays
from referral_directory.records import (
    NATION,
    WEEKDAYS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    ScheduleRecord,
    ServiceRecord,
    derived_id,
)
from referral_directory.regions import Regions
from referral_directory.snapshot import MATCH_RANK, Snapshot, build_snapshot
from routing.engine import TIER_ORDER, Contact, Decision, Load, decide_route, matching_services

HOLIDAYS = japanese_holidays(2026, 2028)
ORGANIZATION_ID = derived_id("test_engine", "organization")
ORGANIZATION_NAME = "一般社団法人 エンジン試験相談会"
ALL_DAY = "MO-SU 00:00-24:00"
OFFICE = "MO-FR 09:00-17:00"
NEW_YEAR = ("2026-12-29", "2027-01-03")

# Real lgcodes (6 digits with check digit).
TOKYO = "130001"
CHIYODA = "131016"
SHINJUKU = "131041"
OSAKA_PREF = "270008"
OSAKA_CITY = "271004"  # designated city 27100
KITA_WARD = "271276"  # 大阪市北区 27127
SAKAI = "271403"  # designated city 27140


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JST)


WEDNESDAY_10 = jst(2026, 6, 3, 10, 0)  # an ordinary working day


# --- builders -------------------------------------------------------------------------------------


def sid(id_suffix: str) -> str:
    """The service id svc(id_suffix, ...) gets."""
    return derived_id("test_engine", "service", id_suffix)


def svc(
    id_suffix: str,
    tier: str = "national",
    areas: tuple[str, ...] = (NATION,),
    topics: tuple[str, ...] = ("general",),
    hours: str | tuple[str, ...] = ALL_DAY,
    capacity: int | Mapping[str, int] = 3,
    holidays: str = "closed",
    closures: tuple[tuple[str, str], ...] = (),
    channels: tuple[str, ...] = ("voice",),
    status: str = "active",
) -> ServiceRecord:
    """A service record; hours are "MO-FR 09:00-17:00" / "FR,SA 22:00-06:00" specs, closures ISO date pairs."""
    service_id = sid(id_suffix)
    per_channel = capacity if isinstance(capacity, Mapping) else dict.fromkeys(channels, capacity)
    specs = (hours,) if isinstance(hours, str) else hours
    weekly = tuple(_weekly(service_id, i, spec) for i, spec in enumerate(specs))
    closed = tuple(
        ScheduleRecord(
            id=derived_id(service_id, "closure", str(i)),
            kind="closed",
            valid_from=date.fromisoformat(start),
            valid_to=date.fromisoformat(end),
        )
        for i, (start, end) in enumerate(closures)
    )
    return ServiceRecord(
        id=service_id,
        organization_id=ORGANIZATION_ID,
        name=f"テスト窓口 {id_suffix}",
        tier=tier,
        topics=tuple(topics),
        channels=tuple(channels),
        areas=tuple(sorted(areas)),
        capacity=tuple((c, per_channel.get(c, 0)) for c in channels),
        holidays=holidays,
        status=status,
        sns_url=f"https://sns.example.jp/queues/{id_suffix}" if "sns" in channels else "",
        phones=(PhoneRecord(id=derived_id(service_id, "phone"), number="+81312345678"),) if "voice" in channels else (),
        schedules=weekly + closed,
    )


def _weekly(service_id: str, index: int, spec: str) -> ScheduleRecord:
    days, times = spec.split()
    opens_at, closes_at = times.split("-")
    if "-" in days:
        first, last = days.split("-")
        byday = WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
    else:
        byday = tuple(days.split(","))
    return ScheduleRecord(id=derived_id(service_id, "schedule", str(index)), byday=byday, opens_at=opens_at, closes_at=closes_at)


def snapshot_of(regions: Regions, *services: ServiceRecord) -> Snapshot:
    records = DirectoryRecords(organizations=(OrganizationRecord(id=ORGANIZATION_ID, name=ORGANIZATION_NAME),), services=services)
    return build_snapshot(records, regions, version=1, holidays=HOLIDAYS, built_at=jst(2026, 6, 1))


def contact(where: str | None = None, topic: str = "general", channel: str = "voice") -> Contact:
    """A contact from a 5-digit municipality, a 2-digit prefecture, or None for an unknown region."""
    if where is None:
        return Contact(topic=topic, channel=channel)
    if len(where) == 2:
        return Contact(topic=topic, channel=channel, prefecture=where)
    return Contact(topic=topic, channel=channel, municipality=where, prefecture=where[:2])


def load(rotation: int = 0, **in_use: int) -> Load:
    """A Load whose in_use is keyed by id suffix."""
    return Load(in_use={sid(k): v for k, v in in_use.items()}, rotation=rotation)


def decide(
    regions: Regions,
    *services: ServiceRecord,
    caller: Contact | None = None,
    now: datetime = WEDNESDAY_10,
    live: Load | None = None,
    policy: str = "trial",
) -> Decision:
    snapshot = snapshot_of(regions, *services)
    return decide_route(snapshot, caller or contact("13101"), now, live or Load(), policy)


def candidate_ids(decision: Decision) -> list[str]:
    return [c.service_id for c in decision.candidates]


# --- tiers ----------------------------------------------------------------------------------------


THREE_TIERS = (svc("national", "national", (NATION,)), svc("prefecture", "prefecture", (TOKYO,)), svc("municipal", "municipal", (CHIYODA,)))


@pytest.mark.parametrize(
    ("policy", "in_use", "expected"),
    [
        pytest.param("trial", {}, ("national", "prefecture", "municipal"), id="trial-national-first"),
        pytest.param("local-first", {}, ("municipal", "prefecture", "national"), id="local-first-municipal-first"),
        pytest.param("trial", {"national": 2}, ("national", "prefecture", "municipal"), id="trial-tier-beats-free-capacity"),
        pytest.param("local-first", {"municipal": 2}, ("municipal", "prefecture", "national"), id="local-first-tier-beats-free-capacity"),
        pytest.param("trial", {"national": 3}, ("prefecture", "municipal"), id="trial-full-national-skipped"),
    ],
)
def test_candidates_follow_the_policy_tier_order(regions, policy, in_use, expected):
    decision = decide(regions, *THREE_TIERS, caller=contact("13101"), live=load(**in_use), policy=policy)

    assert decision.outcome == "route"
    assert decision.policy == policy
    assert tuple(c.tier for c in decision.candidates) == expected
    assert candidate_ids(decision) == [sid(tier) for tier in expected]


@pytest.mark.parametrize("policy", ["trial", "local-first"])
def test_tier_order_table_is_the_design(policy):
    expected = {"trial": ("national", "prefecture", "municipal"), "local-first": ("municipal", "prefecture", "national")}
    assert TIER_ORDER[policy] == expected[policy]


# --- within a tier ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacities", "in_use", "expected"),
    [
        pytest.param({"a": 3, "b": 5, "c": 4}, {}, ["b", "c", "a"], id="largest-capacity-first"),
        pytest.param({"a": 5, "b": 5, "c": 5}, {"a": 4, "c": 2}, ["b", "c", "a"], id="least-loaded-first"),
        pytest.param({"a": 10, "b": 2, "c": 4}, {"a": 9}, ["c", "b", "a"], id="free-slots-not-capacity"),
        pytest.param({"a": 3, "b": 3, "c": 3}, {"a": 3, "b": 1}, ["c", "b"], id="full-one-dropped"),
    ],
)
def test_within_a_tier_most_free_capacity_first(regions, capacities, in_use, expected):
    services = [svc(name, capacity=cap) for name, cap in capacities.items()]

    decision = decide(regions, *services, live=load(**in_use))

    assert candidate_ids(decision) == [sid(name) for name in expected]
    assert [c.free_slots for c in decision.candidates] == [capacities[n] - in_use.get(n, 0) for n in expected]


EQUALS = (svc("x"), svc("y"), svc("z"))


def test_rotation_puts_each_of_three_equals_first_in_turn(regions):
    firsts = [decide(regions, *EQUALS, live=load(rotation=r)).candidates[0].service_id for r in (0, 1, 2)]

    assert sorted(firsts) == sorted(sid(n) for n in "xyz")


@pytest.mark.parametrize("rotation", [0, 1, 2, 3, 7, 1000])
def test_rotation_is_deterministic_and_cyclic(regions, rotation):
    first = decide(regions, *EQUALS, live=load(rotation=rotation))
    again = decide(regions, *EQUALS, live=load(rotation=rotation))
    cycled = decide(regions, *EQUALS, live=load(rotation=rotation % 3))

    assert first == again
    assert candidate_ids(first) == candidate_ids(cycled)
    assert sorted(candidate_ids(first)) == sorted(sid(n) for n in "xyz")


@pytest.mark.parametrize("rotation", [0, 1, 2])
def test_rotation_only_reorders_equals(regions, rotation):
    services = (svc("big", capacity=5), *EQUALS, svc("small", capacity=1))

    ids = candidate_ids(decide(regions, *services, live=load(rotation=rotation)))

    assert ids[0] == sid("big")
    assert sorted(ids[1:4]) == sorted(sid(n) for n in "xyz")
    assert ids[4] == sid("small")


def test_rotation_rotates_each_tier_separately(regions):
    services = (svc("n1", "national"), svc("n2", "national"), svc("p1", "prefecture", (TOKYO,)), svc("p2", "prefecture", (TOKYO,)))

    orders = {r: candidate_ids(decide(regions, *services, live=load(rotation=r))) for r in (0, 1)}

    for ids in orders.values():
        assert set(ids[:2]) == {sid("n1"), sid("n2")}
        assert set(ids[2:]) == {sid("p1"), sid("p2")}
    assert orders[0][0] != orders[1][0]
    assert orders[0][2] != orders[1][2]


# --- areas ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "area", "where", "match"),
    [
        pytest.param("municipal", CHIYODA, "13101", "municipality", id="千代田区-reaches-千代田区"),
        pytest.param("municipal", CHIYODA, "13104", None, id="千代田区-not-新宿区"),
        pytest.param("municipal", CHIYODA, "13", None, id="千代田区-not-東京都-only-caller"),
        pytest.param("municipal", SHINJUKU, "13104", "municipality", id="新宿区-reaches-新宿区"),
        pytest.param("prefecture", TOKYO, "13101", "prefecture", id="東京都-reaches-千代田区"),
        pytest.param("prefecture", TOKYO, "13104", "prefecture", id="東京都-reaches-新宿区"),
        pytest.param("prefecture", TOKYO, "13", "prefecture", id="東京都-reaches-prefecture-only-caller"),
        pytest.param("prefecture", TOKYO, "27127", None, id="東京都-not-大阪市北区"),
        pytest.param("prefecture", OSAKA_PREF, "27127", "prefecture", id="大阪府-reaches-大阪市北区"),
        pytest.param("prefecture", OSAKA_PREF, "27100", "prefecture", id="大阪府-reaches-大阪市-city-level"),
        pytest.param("municipal", OSAKA_CITY, "27127", "designated_city", id="大阪市-reaches-北区"),
        pytest.param("municipal", OSAKA_CITY, "27100", "designated_city", id="大阪市-reaches-city-level-27100"),
        pytest.param("municipal", OSAKA_CITY, "27140", None, id="大阪市-not-堺市"),
        pytest.param("municipal", OSAKA_CITY, "27141", None, id="大阪市-not-堺市堺区"),
        pytest.param("municipal", OSAKA_CITY, "27", None, id="大阪市-not-大阪府-only-caller"),
        pytest.param("municipal", SAKAI, "27141", "designated_city", id="堺市-reaches-堺区"),
        pytest.param("municipal", KITA_WARD, "27127", "municipality", id="北区-reaches-北区"),
        pytest.param("municipal", KITA_WARD, "27100", None, id="北区-not-大阪市-city-level"),
        pytest.param("municipal", KITA_WARD, "27103", None, id="北区-not-sibling-福島区"),
        pytest.param("national", NATION, None, "nation", id="national-reaches-unknown-region"),
        pytest.param("national", NATION, "13101", "nation", id="national-reaches-千代田区"),
        pytest.param("national", NATION, "27", "nation", id="national-reaches-prefecture-only-caller"),
        pytest.param("prefecture", TOKYO, None, None, id="prefecture-not-unknown-region"),
        pytest.param("municipal", CHIYODA, None, None, id="municipal-not-unknown-region"),
    ],
)
def test_area_matching(regions, tier, area, where, match):
    service = svc("area", tier, (area,))
    snapshot = snapshot_of(regions, service)
    caller = contact(where)

    reaches = matching_services(snapshot, caller)
    decision = decide_route(snapshot, caller, WEDNESDAY_10, Load())

    assert [r.match for r in reaches] == ([match] if match else [])
    if match:
        assert decision.outcome == "route"
        assert [(c.service_id, c.match) for c in decision.candidates] == [(service.id, match)]
    else:
        assert decision.outcome == "no_service"


@pytest.mark.parametrize(("prefecture", "area"), [("13", TOKYO), ("27", OSAKA_PREF)])
def test_a_prefecture_service_reaches_every_municipality_of_its_prefecture(regions, prefecture, area):
    snapshot = snapshot_of(regions, svc("pref", "prefecture", (area,)))
    places = [code for code, m in regions.municipalities.items() if m.prefecture == prefecture]
    places += [code for code, c in regions.designated_cities.items() if c.prefecture == prefecture]

    unreached = [code for code in places if [r.match for r in matching_services(snapshot, contact(code))] != ["prefecture"]]

    assert len(places) > 20
    assert unreached == []


def test_a_designated_city_service_reaches_all_its_wards_and_nothing_else_in_the_prefecture(regions):
    snapshot = snapshot_of(regions, svc("osaka", "municipal", (OSAKA_CITY,)))
    wards = set(regions.designated_cities["27100"].wards)
    others = {code for code, m in regions.municipalities.items() if m.prefecture == "27"} - wards

    assert wards and others
    assert all([r.match for r in matching_services(snapshot, contact(w))] == ["designated_city"] for w in wards)
    assert all(matching_services(snapshot, contact(o)) == () for o in others)


@pytest.mark.parametrize(
    ("areas", "where", "match"),
    [
        pytest.param((NATION, TOKYO), "13101", "prefecture", id="nation+東京都-at-千代田区"),
        pytest.param((NATION, TOKYO), "13", "prefecture", id="nation+東京都-at-prefecture-only"),
        pytest.param((NATION, TOKYO), None, "nation", id="nation+東京都-at-unknown"),
        pytest.param((NATION, TOKYO), "27127", "nation", id="nation+東京都-at-大阪市北区"),
        pytest.param((TOKYO, CHIYODA), "13101", "municipality", id="東京都+千代田区-at-千代田区"),
        pytest.param((OSAKA_PREF, OSAKA_CITY), "27127", "designated_city", id="大阪府+大阪市-at-北区"),
        pytest.param((NATION, OSAKA_CITY, KITA_WARD), "27127", "municipality", id="nation+大阪市+北区-at-北区"),
        pytest.param((NATION, OSAKA_CITY, KITA_WARD), "27100", "designated_city", id="nation+大阪市+北区-at-大阪市"),
    ],
)
def test_a_service_listed_several_ways_appears_once_with_its_most_specific_match(regions, areas, where, match):
    snapshot = snapshot_of(regions, svc("twice", "prefecture", areas))
    caller = contact(where)

    reaches = matching_services(snapshot, caller)
    decision = decide_route(snapshot, caller, WEDNESDAY_10, Load())

    assert [(r.entry.id, r.match) for r in reaches] == [(sid("twice"), match)]
    assert [(c.service_id, c.match) for c in decision.candidates] == [(sid("twice"), match)]


# --- topics and channels --------------------------------------------------------------------------


TOPIC_MIX = (
    svc("crisis-only", topics=("crisis",)),
    svc("general-only", topics=("general",)),
    svc("crisis-and-general", topics=("crisis", "general")),
    svc("mind-only", topics=("mind",)),
)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        pytest.param("crisis", {"crisis-only", "crisis-and-general"}, id="crisis-gets-crisis-lines-only"),
        pytest.param("general", {"general-only", "crisis-and-general"}, id="general"),
        pytest.param("mind", {"mind-only"}, id="mind"),
    ],
)
def test_a_contact_gets_only_services_of_its_topic(regions, topic, expected):
    decision = decide(regions, *TOPIC_MIX, caller=contact(None, topic=topic))

    assert set(candidate_ids(decision)) == {sid(n) for n in expected}


def test_a_crisis_contact_in_a_region_gets_no_general_local_service(regions):
    services = (
        svc("crisis-line", topics=("crisis",)),
        svc("tokyo-window", "prefecture", (TOKYO,), topics=("general", "mind")),
        svc("chiyoda-desk", "municipal", (CHIYODA,), topics=("general",)),
    )

    decision = decide(regions, *services, caller=contact("13101", topic="crisis"), policy="local-first")

    assert candidate_ids(decision) == [sid("crisis-line")]


CHANNEL_MIX = (
    svc("voice-only", channels=("voice",), capacity=3),
    svc("sns-only", channels=("sns",), capacity=2),
    svc("both", channels=("voice", "sns"), capacity={"voice": 5, "sns": 1}),
)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        pytest.param("sns", [("sns-only", 2), ("both", 1)], id="sns-uses-sns-capacity"),
        pytest.param("voice", [("both", 5), ("voice-only", 3)], id="voice-uses-voice-capacity"),
    ],
)
def test_a_contact_gets_only_services_of_its_channel_with_that_channels_capacity(regions, channel, expected):
    decision = decide(regions, *CHANNEL_MIX, caller=contact("13101", channel=channel))

    assert [(c.service_id, c.free_slots, c.capacity) for c in decision.candidates] == [(sid(name), free, free) for name, free in expected]


def test_sns_load_fills_the_sns_capacity(regions):
    decision = decide(regions, *CHANNEL_MIX, caller=contact("13101", channel="sns"), live=load(both=1))

    assert candidate_ids(decision) == [sid("sns-only")]
    assert decision.full == (sid("both"),)


def test_candidate_carries_the_service_details(regions):
    service = svc("details", "prefecture", (TOKYO,), channels=("voice", "sns"), capacity={"voice": 4, "sns": 2})

    (candidate,) = decide(regions, service, live=load(details=1)).candidates

    assert candidate.service_id == service.id
    assert candidate.name == "テスト窓口 details"
    assert candidate.organization == ORGANIZATION_NAME
    assert candidate.tier == "prefecture"
    assert candidate.match == "prefecture"
    assert (candidate.free_slots, candidate.capacity) == (3, 4)
    assert candidate.phones == ("+81312345678",)
    assert candidate.sns_url == "https://sns.example.jp/queues/details"


# --- hours ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "holidays", "closures", "now", "is_open"),
    [
        pytest.param(OFFICE, "closed", (), jst(2026, 6, 3, 10, 0), True, id="office-wednesday-10:00"),
        pytest.param(OFFICE, "closed", (), jst(2026, 6, 3, 16, 59), True, id="office-wednesday-16:59"),
        pytest.param(OFFICE, "closed", (), jst(2026, 6, 3, 17, 0), False, id="office-wednesday-17:00-closed"),
        pytest.param(OFFICE, "closed", (), jst(2026, 6, 3, 8, 59), False, id="office-wednesday-08:59-closed"),
        pytest.param(OFFICE, "closed", (), jst(2026, 6, 6, 10, 0), False, id="office-saturday-closed"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 5, 23, 59), True, id="overnight-friday-23:59"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 6, 0, 1), True, id="overnight-saturday-00:01"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 6, 6, 0), False, id="overnight-saturday-06:00"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 5, 0, 1), False, id="overnight-friday-00:01"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 6, 23, 59), False, id="overnight-saturday-23:59"),
        pytest.param("FR 22:00-06:00", "closed", (), jst(2026, 6, 5, 21, 59), False, id="overnight-friday-21:59"),
        pytest.param(OFFICE, "closed", (), jst(2027, 1, 11, 10, 0), False, id="成人の日-holidays-closed"),
        pytest.param(OFFICE, "open", (), jst(2027, 1, 11, 10, 0), True, id="成人の日-holidays-open"),
        pytest.param(ALL_DAY, "closed", (), jst(2027, 1, 11, 3, 0), False, id="24h-成人の日-holidays-closed"),
        pytest.param(OFFICE, "closed", (), jst(2027, 1, 12, 10, 0), True, id="day-after-成人の日"),
        pytest.param(OFFICE, "closed", (NEW_YEAR,), jst(2026, 12, 28, 10, 0), True, id="年末年始-eve-2026-12-28"),
        pytest.param(OFFICE, "closed", (NEW_YEAR,), jst(2026, 12, 30, 10, 0), False, id="年末年始-2026-12-30"),
        pytest.param(OFFICE, "closed", (NEW_YEAR,), jst(2027, 1, 4, 9, 0), True, id="年末年始-over-2027-01-04"),
        pytest.param(OFFICE, "closed", (), jst(2026, 12, 30, 10, 0), True, id="2026-12-30-without-closure"),
        pytest.param(ALL_DAY, "open", (NEW_YEAR,), jst(2027, 1, 1, 12, 0), False, id="24h-inside-closure"),
    ],
)
def test_only_open_services_are_candidates(regions, hours, holidays, closures, now, is_open):
    service = svc("hours", "prefecture", (TOKYO,), hours=hours, holidays=holidays, closures=closures)
    always = svc("always", "national", holidays="open")

    decision = decide(regions, service, always, now=now)
    alone = decide(regions, service, now=now)

    assert (sid("hours") in candidate_ids(decision)) is is_open
    assert (sid("hours") in decision.closed) is not is_open
    assert alone.outcome == ("route" if is_open else "all_closed")


@pytest.mark.parametrize(
    ("hours", "closures", "now", "until"),
    [
        pytest.param(OFFICE, (), jst(2026, 6, 3, 10, 0), jst(2026, 6, 3, 17, 0), id="office-until-17:00"),
        pytest.param(ALL_DAY, (), jst(2026, 6, 3, 10, 0), None, id="24h-none"),
        pytest.param("FR 22:00-06:00", (), jst(2026, 6, 5, 23, 59), jst(2026, 6, 6, 6, 0), id="overnight-from-23:59"),
        pytest.param("FR 22:00-06:00", (), jst(2026, 6, 6, 0, 1), jst(2026, 6, 6, 6, 0), id="overnight-from-00:01"),
        pytest.param(("MO-FR 09:00-12:00", "MO-FR 13:00-17:00"), (), jst(2026, 6, 3, 10, 0), jst(2026, 6, 3, 12, 0), id="lunch-break"),
        pytest.param(ALL_DAY, (NEW_YEAR,), jst(2026, 12, 27, 12, 0), jst(2026, 12, 29, 0, 0), id="24h-until-年末年始-closure"),
    ],
)
def test_candidate_open_until(regions, hours, closures, now, until):
    service = svc("until", hours=hours, holidays="open", closures=closures)

    (candidate,) = decide(regions, service, now=now).candidates

    assert candidate.open_until == until


# --- capacity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_use", [3, 4], ids=["in-use-equals-capacity", "in-use-over-capacity"])
def test_full_services_are_excluded_and_listed_as_full(regions, in_use):
    services = (svc("full", capacity=3), svc("free", capacity=3), svc("tokyo", "prefecture", (TOKYO,), capacity=1))

    decision = decide(regions, *services, live=load(full=in_use, free=1))

    assert decision.outcome == "route"
    assert candidate_ids(decision) == [sid("free"), sid("tokyo")]
    assert decision.full == (sid("full"),)


def test_all_full_when_every_open_service_is_full(regions):
    services = (
        svc("national", capacity=2),
        svc("tokyo", "prefecture", (TOKYO,), capacity=1),
        svc("closed-desk", "municipal", (CHIYODA,), hours="SA 09:00-17:00"),
    )

    decision = decide(regions, *services, live=load(national=2, tokyo=1))

    assert decision.outcome == "all_full"
    assert decision.candidates == ()
    assert set(decision.full) == {sid("national"), sid("tokyo")}
    assert decision.closed == (sid("closed-desk"),)
    assert decision.next_openings == ()


# --- no candidate ---------------------------------------------------------------------------------


CLOSED_ON_NEW_YEAR = (
    svc("evening-line", "national", hours="MO-SU 18:00-22:00", holidays="open"),
    svc("night-line", "national", hours="MO-FR 20:00-23:00", holidays="open"),
    svc("tokyo-window", "prefecture", (TOKYO,), hours=OFFICE, closures=(NEW_YEAR,)),
    svc("chiyoda-desk", "municipal", (CHIYODA,), hours="MO-FR 08:30-17:15", closures=(NEW_YEAR,)),
)
NEXT_OPENINGS = {
    "national": (jst(2026, 12, 30, 18, 0), "evening-line"),
    "prefecture": (jst(2027, 1, 4, 9, 0), "tokyo-window"),
    "municipal": (jst(2027, 1, 4, 8, 30), "chiyoda-desk"),
}


@pytest.mark.parametrize("policy", ["trial", "local-first"])
def test_all_closed_gives_the_soonest_opening_per_tier_in_policy_order(regions, policy):
    decision = decide(regions, *CLOSED_ON_NEW_YEAR, now=jst(2026, 12, 30, 10, 0), policy=policy)

    assert decision.outcome == "all_closed"
    assert decision.candidates == ()
    assert decision.full == ()
    assert set(decision.closed) == {s.id for s in CLOSED_ON_NEW_YEAR}
    assert [(n.tier, n.at, n.service_id) for n in decision.next_openings] == [
        (tier, NEXT_OPENINGS[tier][0], sid(NEXT_OPENINGS[tier][1])) for tier in TIER_ORDER[policy]
    ]
    assert all(n.at.utcoffset() == timedelta(hours=9) for n in decision.next_openings)


def test_all_closed_lists_only_the_tiers_that_reach_the_caller(regions):
    decision = decide(regions, *CLOSED_ON_NEW_YEAR, caller=contact("13104"), now=jst(2026, 12, 30, 10, 0))

    assert [(n.tier, n.service_id) for n in decision.next_openings] == [
        ("national", sid("evening-line")),
        ("prefecture", sid("tokyo-window")),
    ]
    assert decision.next_openings[1].name == "テスト窓口 tokyo-window"


@pytest.mark.parametrize(
    ("services", "caller"),
    [
        pytest.param((), contact("13101"), id="empty-directory"),
        pytest.param((svc("voice", channels=("voice",)),), contact("13101", channel="sns"), id="no-sns-service"),
        pytest.param((svc("general"),), contact("13101", topic="youth"), id="no-youth-service"),
        pytest.param(
            (svc("tokyo", "prefecture", (TOKYO,)), svc("chiyoda", "municipal", (CHIYODA,))),
            contact(None),
            id="unknown-region-local-services-only",
        ),
        pytest.param((svc("chiyoda", "municipal", (CHIYODA,)),), contact("27127"), id="other-prefecture"),
    ],
)
def test_no_service_when_nothing_matches(regions, services, caller):
    decision = decide(regions, *services, caller=caller)

    assert decision.outcome == "no_service"
    assert (decision.candidates, decision.full, decision.closed, decision.next_openings) == ((), (), (), ())


def test_a_matching_closed_service_is_all_closed_not_no_service(regions):
    decision = decide(regions, svc("weekend", hours="SA,SU 10:00-16:00"), now=jst(2026, 6, 3, 10, 0))

    assert decision.outcome == "all_closed"
    assert [(n.tier, n.at) for n in decision.next_openings] == [("national", jst(2026, 6, 6, 10, 0))]


@pytest.mark.parametrize("status", ["inactive", "defunct", "temporarily closed"])
def test_services_not_active_are_never_routed_to(regions, status):
    decision = decide(regions, svc("gone", status=status), svc("here"))

    assert candidate_ids(decision) == [sid("here")]
    assert sid("gone") not in decision.closed + decision.full


# --- property -------------------------------------------------------------------------------------


# Weighted towards wide areas so that most contacts have several candidates to order.
AREAS = (NATION, NATION, NATION, TOKYO, TOKYO, CHIYODA, SHINJUKU, OSAKA_PREF, OSAKA_PREF, OSAKA_CITY, KITA_WARD, SAKAI)
PLACES = (None, "13", "13101", "13104", "27", "27100", "27127", "27141")
TOPICS = ("general", "crisis")
CHANNELS = ("voice", "sns")
HOURS = (ALL_DAY, ALL_DAY, OFFICE, "FR,SA 22:00-06:00", "MO-SU 18:00-22:00", ("MO-FR 09:00-12:00", "MO-SU 13:00-15:00"))
START = jst(2026, 12, 24, 12, 0)  # a Thursday noon; the draw moves it up to three weeks on, across 年末年始


def _subset(options: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(options), min_size=1, max_size=len(options), unique=True).map(
        lambda xs: tuple(o for o in options if o in xs)
    )


@st.composite
def directories(draw: st.DrawFn) -> tuple[ServiceRecord, ...]:
    count = draw(st.integers(min_value=1, max_value=8))
    services = []
    for i in range(count):
        channels = draw(_subset(CHANNELS))
        services.append(
            svc(
                f"s{i}",
                tier=draw(st.sampled_from(("national", "prefecture", "municipal"))),
                areas=tuple(sorted(set(draw(st.lists(st.sampled_from(AREAS), min_size=1, max_size=2))))),
                topics=draw(_subset(TOPICS)),
                channels=channels,
                capacity={c: draw(st.integers(min_value=1, max_value=4)) for c in channels},
                hours=draw(st.sampled_from(HOURS)),
                holidays=draw(st.sampled_from(("closed", "open"))),
                closures=draw(st.sampled_from(((), (NEW_YEAR,)))),
            )
        )
    return tuple(services)


@settings(max_examples=150, deadline=None)
@given(
    services=directories(),
    place=st.sampled_from(PLACES),
    topic=st.sampled_from(TOPICS),
    channel=st.sampled_from(CHANNELS),
    minutes=st.integers(min_value=0, max_value=24 * 1440),
    in_use=st.lists(st.integers(min_value=0, max_value=4), min_size=8, max_size=8),
    rotation=st.integers(min_value=0, max_value=50),
    policy=st.sampled_from(("trial", "local-first")),
)
def test_property_candidates_are_open_free_matching_and_ordered(
    regions, services, place, topic, channel, minutes, in_use, rotation, policy
):
    snapshot = snapshot_of(regions, *services)
    caller = contact(place, topic=topic, channel=channel)
    now = START + timedelta(minutes=minutes)
    live = Load(in_use={s.id: n for s, n in zip(services, in_use, strict=False)}, rotation=rotation)

    decision = decide_route(snapshot, caller, now, live, policy)

    tier_rank = {tier: i for i, tier in enumerate(TIER_ORDER[policy])}
    for c in decision.candidates:
        entry = snapshot.services[c.service_id]
        assert is_open_at(entry.hours, now, HOLIDAYS)
        assert c.free_slots > 0
        assert c.free_slots == entry.capacity[channel] - live.in_use[c.service_id]
        assert topic in entry.topics and channel in entry.channels
    # local-first is local within a tier too: the more specific match first, then the most free slots
    locality = (lambda c: -MATCH_RANK[c.match]) if policy == "local-first" else (lambda c: 0)
    keys = [(tier_rank[c.tier], locality(c), -c.free_slots) for c in decision.candidates]
    assert keys == sorted(keys)
    matched = {r.entry.id for r in matching_services(snapshot, caller)}
    ids = [*candidate_ids(decision), *decision.full, *decision.closed]
    assert len(ids) == len(set(ids)) and set(ids) == matched
    assert decision.outcome == (
        "no_service" if not matched else "route" if decision.candidates else "all_full" if decision.full else "all_closed"
    )
    assert decision == decide_route(snapshot, caller, now, live, policy)


def test_local_first_puts_the_callers_own_ward_before_its_city(regions: Regions) -> None:
    ward = svc("kita-ward", "municipal", ("271276",), capacity=1)
    city = svc("osaka-city", "municipal", ("271004",), capacity=5)
    caller = contact("27127")
    trial = decide(regions, ward, city, caller=caller)
    local = decide(regions, ward, city, caller=caller, policy="local-first")
    assert [c.service_id for c in trial.candidates] == [city.id, ward.id]  # most free first
    assert [(c.service_id, c.match) for c in local.candidates] == [(ward.id, "municipality"), (city.id, "designated_city")]


def test_a_channel_with_no_capacity_is_paused_not_full(regions: Regions) -> None:
    paused = svc("paused-sns", channels=("voice", "sns"), capacity={"voice": 2, "sns": 0})
    sns = decide(regions, paused, caller=contact("13101", channel="sns"))
    assert sns.outcome == "no_service" and sns.full == ()
    assert decide(regions, paused).candidates[0].service_id == paused.id
