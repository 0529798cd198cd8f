"""GET /api/routing/preview after importing a JP-profile directory file: the issue's acceptance cases.

The directory goes in as an HSDS file (written, then read back through the importer), the
service runs on a real SQLite file and a real Redis, and capacity is filled with real slot claims.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from backends import across_backends
from builders import make_records, make_schedule, make_service
from running import make_settings, running_app

from referral_directory.interchange import read_directory_file
from referral_directory.interchange.hsds import dumps_hsds
from referral_directory.records import NATION, WEEKDAYS, derived_id
from routing.live.state import QueueView

ALL_DAY = make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00")
OFFICE = make_schedule(byday=WEEKDAYS[:5], opens_at="09:00", closes_at="17:00")
NEW_YEAR = make_schedule(kind="closed", valid_from="2026-12-29", valid_to="2027-01-03", description="年末年始")


def service(name: str, tier: str, areas: tuple[str, ...], *, topics=("general",), schedules=(OFFICE,), capacity=3, holidays="closed"):
    sid = derived_id("preview", name)
    return make_service(
        id=sid,
        name=name,
        tier=tier,
        areas=areas,
        topics=topics,
        holidays=holidays,
        capacity=(("voice", capacity),),
        schedules=tuple(make_schedule(**{**_fields(s), "id": derived_id(sid, str(i))}) for i, s in enumerate(schedules)),
    )


def _fields(schedule):
    return {name: getattr(schedule, name) for name in schedule.__slots__ if name != "id"}


NATIONAL = service("全国 総合窓口", "national", (NATION,), schedules=(ALL_DAY,), capacity=2, holidays="open")
NIGHT = service(
    "全国 夜のこころ窓口",
    "national",
    (NATION,),
    topics=("mind",),
    holidays="open",
    schedules=(make_schedule(byday=WEEKDAYS, opens_at="22:00", closes_at="06:00"),),
)
CRISIS = service("全国 いのちの危機ライン", "national", (NATION,), topics=("crisis",), schedules=(ALL_DAY,), holidays="open")
TOKYO = service("東京都 総合相談窓口", "prefecture", ("130001",), topics=("general", "mind"), schedules=(OFFICE, NEW_YEAR), capacity=1)
CHIYODA = service(
    "千代田区 くらしの相談",
    "municipal",
    ("131016",),
    schedules=(make_schedule(byday=WEEKDAYS[:5], opens_at="08:30", closes_at="17:15"), NEW_YEAR),
)
OSAKA_PREF = service("大阪府 総合相談窓口", "prefecture", ("270008",), schedules=(OFFICE, NEW_YEAR))
OSAKA_CITY = service("大阪市 くらしの相談", "municipal", ("271004",), schedules=(OFFICE, NEW_YEAR))
HOKKAIDO = service("北海道 総合相談窓口", "prefecture", ("010006",))
SAPPORO = service("札幌市 くらしの相談", "municipal", ("011002",))
DIRECTORY = make_records(NATIONAL, NIGHT, CRISIS, TOKYO, CHIYODA, OSAKA_PREF, OSAKA_CITY, HOKKAIDO, SAPPORO)


@pytest.fixture
async def service_with_directory(tmp_path: Path, redis_url: str, regions):
    path = tmp_path / "directory.hsds.json"
    path.write_text(dumps_hsds(DIRECTORY, regions), encoding="utf-8")
    imported = read_directory_file(path, regions)
    assert imported.problems == ()
    settings = make_settings(tmp_path, redis_url, routing_policy_by_topic={"family": "local-first"})
    async with running_app(settings, regions) as running:
        await running.store(imported.records)
        running.client.headers.update(await running.token("preview-coordinator", regions=("130001",)))
        yield running


async def preview(running, **query):
    response = await running.client.get("/api/routing/preview", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def names(body) -> list[str]:
    return [c["name"] for c in body["candidates"]]


TUESDAY_10 = "2026-12-01T10:00:00+09:00"

CASES = [
    pytest.param({"postal_code": "1000001", "at": TUESDAY_10}, [NATIONAL, TOKYO, CHIYODA], id="every-tier-trial-order"),
    pytest.param({"lgcode": "131016", "at": "2026-12-01T01:00:00Z"}, [NATIONAL, TOKYO, CHIYODA], id="lgcode-and-utc-instant"),
    pytest.param(
        {"postal_code": "1000001", "at": "2026-12-01T17:10:00+09:00"}, [NATIONAL, CHIYODA], id="prefecture-closed-at-17-municipal-till-1715"
    ),
    pytest.param({"postal_code": "1000001", "topic": "mind", "at": "2026-12-01T23:59:00+09:00"}, [NIGHT], id="overnight-2359"),
    pytest.param({"postal_code": "1000001", "topic": "mind", "at": "2026-12-02T00:01:00+09:00"}, [NIGHT], id="overnight-0001"),
    pytest.param({"postal_code": "1000001", "at": "2026-11-23T10:00:00+09:00"}, [NATIONAL], id="national-holiday-closes-local-windows"),
    pytest.param({"postal_code": "1000001", "at": "2026-12-30T10:00:00+09:00"}, [NATIONAL], id="nenmatsu-closure"),
    pytest.param({"postal_code": "1000001", "at": "2027-01-04T10:00:00+09:00"}, [NATIONAL, TOKYO, CHIYODA], id="open-again-jan-4"),
    pytest.param({"postal_code": "5300001", "at": TUESDAY_10}, [NATIONAL, OSAKA_PREF, OSAKA_CITY], id="designated-city-ward"),
    pytest.param({"lgcode": "271004", "at": TUESDAY_10}, [NATIONAL, OSAKA_PREF, OSAKA_CITY], id="designated-city-itself"),
    pytest.param({"postal_code": "5900078", "at": TUESDAY_10}, [NATIONAL, OSAKA_PREF], id="sakai-is-not-osaka-city"),
    pytest.param({"postal_code": "0040000", "at": TUESDAY_10}, [NATIONAL, HOKKAIDO, SAPPORO], id="postal-spanning-two-wards-of-one-city"),
    pytest.param({"postal_code": "4980000", "at": TUESDAY_10}, [NATIONAL], id="postal-spanning-two-prefectures-national-only"),
    pytest.param({"at": TUESDAY_10}, [NATIONAL], id="unknown-region-national-only"),
    pytest.param({"postal_code": "1000001", "topic": "crisis", "at": TUESDAY_10}, [CRISIS], id="crisis-only-crisis-lines"),
]


@across_backends(("query", "expected"), CASES)
async def test_preview_orders_candidates(service_with_directory, query, expected) -> None:
    body = await preview(service_with_directory, **query)
    assert body["outcome"] == "route"
    assert names(body) == [s.name for s in expected]
    assert [c["service_id"] for c in body["candidates"]] == [s.id for s in expected]
    assert [c["rank"] for c in body["candidates"]] == list(range(1, len(expected) + 1))


async def test_preview_explains_each_candidate(service_with_directory) -> None:
    body = await preview(service_with_directory, postal_code="5300001", at=TUESDAY_10)
    national, prefecture, city = body["candidates"]
    assert (national["tier"], national["match"], national["open_until"], national["free_slots"]) == ("national", "nation", None, 2)
    assert (prefecture["tier"], prefecture["match"], prefecture["open_until"]) == ("prefecture", "prefecture", "2026-12-01T17:00:00+09:00")
    assert (city["tier"], city["match"]) == ("municipal", "designated_city")
    assert body["place"] == {
        "lgcode": "271276",
        "municipality": "27127",
        "prefecture": "27",
        "name": "大阪府大阪市北区",
        "how": "postal_code",
    }
    assert body["policy"] == "trial" and body["explanation"]


async def test_local_first_policy_per_topic_reverses_tiers(service_with_directory, regions) -> None:
    family = [
        service(f"{label} 子育て", tier, (area,), topics=("family",), schedules=(ALL_DAY,), holidays="open")
        for label, tier, area in (("全国", "national", NATION), ("東京都", "prefecture", "130001"), ("千代田区", "municipal", "131016"))
    ]
    await service_with_directory.store(make_records(*family))
    body = await preview(service_with_directory, postal_code="1000001", topic="family", at=TUESDAY_10)
    assert body["policy"] == "local-first"
    assert names(body) == ["千代田区 子育て", "東京都 子育て", "全国 子育て"]


async def test_slot_counts_and_a_contacts_view_of_its_queue_come_in_one_answer(service_with_directory) -> None:
    live = service_with_directory.runtime.live
    assert await live.claim_slot(NATIONAL.id, lease="call-a", capacity=2, ttl_ms=60_000)
    assert await live.claim_slot(TOKYO.id, lease="call-x", capacity=2, ttl_ms=1)  # a lease that runs out at once
    await asyncio.sleep(0.01)
    for n, call in enumerate(("call-p", "call-q")):
        await live.join_queue("mind:13", call, 1000.0 + n)
    services = [NATIONAL.id, TOKYO.id]
    assert await live.slots_and_queue(services, "voice", "mind:13", "call-q") == ({NATIONAL.id: 1}, QueueView(place=1, waiting=2))
    assert await live.slots_and_queue(services, "voice", "mind:13", "call-z") == ({NATIONAL.id: 1}, QueueView(place=None, waiting=2))
    assert await live.slots_and_queue([], "voice", "mind:13", "call-p") == ({}, QueueView(place=0, waiting=2))
    assert await live.slots_and_queue(services, "voice", "life:13", "call-p") == ({NATIONAL.id: 1}, QueueView(place=None, waiting=0))
    assert await live.slots_and_queue(services, "sns", "mind:13", "call-p") == ({}, QueueView(place=0, waiting=2))  # chats: their own slots


async def test_when_the_topic_is_closed_the_preview_shows_the_open_general_line_the_person_gets(service_with_directory) -> None:
    body = await preview(service_with_directory, postal_code="1000001", topic="mind", at="2026-12-30T22:30:00+09:00")
    assert body["via"] is None and body["outcome"] == "route" and names(body) == [NIGHT.name]  # the night こころ line is open

    body = await preview(service_with_directory, postal_code="1000001", topic="mind", at="2026-12-30T10:00:00+09:00")
    assert (body["topic_outcome"], body["via"], body["outcome"]) == ("all_closed", "general", "route")
    assert names(body) == [NATIONAL.name], "the 24-hour general line takes them"
    assert body["explanation"].startswith("every service for the topic is closed (the next opens at 2026-12-30T22:00:00+09:00")
    assert [(n["tier"], n["at"], n["name"]) for n in body["next_openings"]] == [
        ("national", "2026-12-30T22:00:00+09:00", NIGHT.name),
        ("prefecture", "2027-01-04T09:00:00+09:00", TOKYO.name),
    ], "they are told when their own topic's windows open"
    assert {NIGHT.id, TOKYO.id, CHIYODA.id} <= set(body["closed"])

    live = service_with_directory.runtime.live
    for lease in ("call-a", "call-b"):
        assert await live.claim_slot(NATIONAL.id, lease=lease, capacity=2, ttl_ms=60_000)
    body = await preview(service_with_directory, postal_code="1000001", topic="mind", at="2026-12-30T10:00:00+09:00")
    assert (body["via"], body["outcome"], body["full"]) == ("general", "all_full", [NATIONAL.id])
    assert "the general lines take them" in body["explanation"] and "waits in the queue" in body["explanation"]


async def test_full_services_drop_out_and_all_full_is_reported(service_with_directory) -> None:
    live = service_with_directory.runtime.live
    for lease in ("call-a", "call-b"):
        assert await live.claim_slot(NATIONAL.id, lease=lease, capacity=2, ttl_ms=60_000)
    assert not await live.claim_slot(NATIONAL.id, lease="call-c", capacity=2, ttl_ms=60_000)
    body = await preview(service_with_directory, postal_code="1000001", at=TUESDAY_10)
    assert names(body) == [TOKYO.name, CHIYODA.name]
    assert body["full"] == [NATIONAL.id]

    body = await preview(service_with_directory, at=TUESDAY_10)  # unknown region: national only, and it is full
    assert body["outcome"] == "all_full" and body["candidates"] == []

    assert await live.release_slot(NATIONAL.id, lease="call-a")
    body = await preview(service_with_directory, postal_code="1000001", at=TUESDAY_10)
    assert names(body)[0] == NATIONAL.name and body["candidates"][0]["free_slots"] == 1


async def test_most_free_capacity_first_within_a_tier(service_with_directory) -> None:
    second = service("全国 第二総合窓口", "national", (NATION,), schedules=(ALL_DAY,), capacity=5, holidays="open")
    await service_with_directory.store(make_records(second))
    body = await preview(service_with_directory, at=TUESDAY_10)
    assert names(body) == [second.name, NATIONAL.name]


@across_backends(
    ("query", "message"),
    [
        ({"postal_code": "12345"}, "postal_code"),
        ({"postal_code": "9999999"}, "postal_code: 9999999"),
        ({"lgcode": "131017"}, "did you mean 131016"),
        ({"topic": "weather"}, "topic"),
        ({"at": "2026-12-01T10:00:00"}, "UTC offset"),
    ],
)
async def test_bad_queries_get_precise_422(service_with_directory, query, message) -> None:
    response = await service_with_directory.client.get("/api/routing/preview", params=query)
    assert response.status_code == 422
    assert message in response.text


async def test_preview_is_staff_only(service_with_directory) -> None:
    client = service_with_directory.client
    assert (await client.get("/api/routing/preview", headers={"Authorization": ""})).status_code == 401
    assert (await client.get("/api/routing/preview", headers={"Authorization": "Bearer tsu_forged"})).status_code == 401


@across_backends("at", ["0001-01-01T00:00:00+09:00", "0001-01-01T12:00:00-12:00", "9999-12-31T23:59:59+09:00", "9999-12-31T12:00:00-12:00"])
async def test_an_instant_off_the_calendar_is_refused_and_its_ends_are_answered(service_with_directory, at: str) -> None:
    client = service_with_directory.client
    refused = await client.get("/api/routing/preview", params={"postal_code": "1000001", "at": at})
    assert refused.status_code == 422, refused.text
    assert "2000-01-01 to 2099-12-31" in refused.text
    for edge in ("2000-01-01T00:00:00+09:00", "2099-12-31T23:59:59+09:00"):
        assert (await client.get("/api/routing/preview", params={"postal_code": "1000001", "at": edge})).status_code == 200, edge
