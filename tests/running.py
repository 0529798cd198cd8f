"""Builders for a running service in tests: real SQLite in a temp dir, a real Redis, the real app."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from referral_directory import service as directory_service
from referral_directory.records import DirectoryRecords
from referral_directory.regions import Regions
from referral_directory.staff.accounts import add_user
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.runtime import Runtime
from routing.settings import Settings
from routing.telephony.record_log import RecordDrainer, backlog


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime

    async def token(
        self, name: str, role: str = "coordinator", regions: tuple[str, ...] = ("000000",), org: str | None = None
    ) -> dict[str, str]:
        """Create a staff account and return the Authorization header for its token."""
        async with db.transaction(self.runtime.sessions) as session:
            _, token = await add_user(session, self.runtime.regions, name=name, role=role, organization_id=org, region_codes=regions)
        return {"Authorization": f"Bearer {token}"}

    async def records_written(self, timeout: float = 5.0) -> None:
        """Wait until every call record queued by a status callback is in SQL (they are written behind), draining here too."""
        drainer = RecordDrainer(self.runtime.redis, self.runtime.engine, self.settings.var_dir, self.runtime.metrics)
        deadline = asyncio.get_running_loop().time() + timeout
        while (waiting := await backlog(self.runtime.redis, self.settings.var_dir)).queued or waiting.spooled_bytes:
            assert asyncio.get_running_loop().time() < deadline, f"call records still queued after {timeout} s: {waiting}"
            await drainer.drain_once()
            await asyncio.sleep(0.02)

    async def store(self, records: DirectoryRecords, actor: str = "test") -> int:
        """Store directory records as an import would, and let the service reload; returns the version."""
        async with db.transaction(self.runtime.sessions) as session:
            summary = await directory_service.save_records(session, records, actor=actor)
        await self.runtime.directory_changed(summary.version)
        return summary.version


def make_settings(var_dir: Path, redis_url: str, **overrides: object) -> Settings:
    """Settings for a test service: its own SQLite file, the given Redis, no demo unless asked."""
    values: dict[str, object] = {
        "var_dir": var_dir,
        "database_url": f"sqlite:///{var_dir / 'tsunagu.db'}",
        "redis_url": redis_url,
        "load_demo_directory": False,
        "log_level": "WARNING",
        "freeze_gc": False,  # many apps in one test process: let each be collected
    }
    values.update(overrides)
    return Settings(**values)


_migrated: Path | None = None


async def migrated_template() -> Path:
    """A SQLite file migrated once for the test process (by Alembic, as the service does), to copy for each new database."""
    global _migrated
    if _migrated is None:
        folder = Path(tempfile.mkdtemp(prefix="tsunagu-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        engine = db.create_engine(f"sqlite+aiosqlite:///{folder / 'migrated.db'}")
        try:
            await migrations.migrate(engine)
        finally:
            await engine.dispose()
        _migrated = folder / "migrated.db"
    return _migrated


async def _start_from_the_migrated_copy(settings: Settings) -> None:
    """Give a service that would migrate a new SQLite file a copy of the migrated one instead.

    Role `all` migrates at start (tests of that run Alembic themselves: test_migrations.py,
    test_serve_process.py, test_roles.py); running every migration again for each of the suite's
    two thousand apps cost more than most tests. A file that is already there is left as it is.
    """
    url = settings.sqlalchemy_url
    if settings.role != "all" or not url.startswith("sqlite+aiosqlite:///"):
        return
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    if str(path) in ("", ":memory:") or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(await migrated_template(), path)


@asynccontextmanager
async def running_app(settings: Settings, regions: Regions) -> AsyncIterator[Running]:
    """Start the real app (lifespan included) and yield it with an HTTP client."""
    await _start_from_the_migrated_copy(settings)
    app = create_app(settings, regions=regions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(app=app, client=client, settings=settings)
