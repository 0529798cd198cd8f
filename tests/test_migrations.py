"""The Alembic migrations build exactly the schema the models define, on SQLite and (when installed) PostgreSQL."""

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
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from builders import make_varied_records
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from referral_directory import db
from referral_directory import models  # noqa: F401  (registers the tables in SQLModel.metadata)
from referral_directory import service as directory_service
from referral_directory.records import DirectoryRecords, normalized
from routing.settings import async_database_url


def sqlite_engine(folder: Path) -> AsyncEngine:
    return db.create_engine(async_database_url(f"sqlite:///{folder / 'schema.db'}"))


async def schema_differences(engine: AsyncEngine) -> list:
    """Return what alembic's autogenerate would change to make the database match the models (empty: they match)."""

    def compare(connection) -> list:  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, SQLModel.metadata)

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def round_trip(engine: AsyncEngine) -> None:
    """Save the varied records and assert they load back as stored records; save again and assert nothing changed."""
    records = make_varied_records()
    sessions = db.session_factory(engine)
    async with db.transaction(sessions) as session:
        created = await directory_service.save_records(session, records, actor="test")
    async with db.transaction(sessions) as session:
        again = await directory_service.save_records(session, records, actor="test")
    async with sessions() as session:
        loaded = await directory_service.load_directory(session)
        history = await directory_service.change_history(session, records.services[0].id)
    assert (created.created, created.version) == (4, 1)
    assert (again.unchanged, again.version) == (4, 1)
    assert loaded == DirectoryRecords(
        organizations=tuple(sorted(records.organizations, key=lambda o: o.id)),
        services=tuple(sorted(map(normalized, records.services), key=lambda s: s.id)),
    )
    assert [c.field for c in history] == ["created"]
    assert history[0].at.tzinfo is not None


# --- SQLite --------------------------------------------------------------------------------------


async def test_the_migration_creates_exactly_the_tables_the_models_define(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        await db.migrate(engine)
        assert await schema_differences(engine) == []
        assert await table_names(engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_the_schema_is_current_only_after_migrating_and_migrating_again_changes_nothing(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        assert await db.is_current(engine) is False
        await db.migrate(engine)
        assert await db.is_current(engine) is True
        await round_trip(engine)
        await db.migrate(engine)
        assert await db.is_current(engine) is True
        assert await schema_differences(engine) == []
        async with db.session_factory(engine)() as session:
            assert await directory_service.directory_version(session) == 1
    finally:
        await engine.dispose()


async def test_a_database_stamped_at_no_revision_is_not_current(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        await db.migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
        assert await db.is_current(engine) is False
    finally:
        await engine.dispose()


# --- PostgreSQL ----------------------------------------------------------------------------------


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


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh, empty schema of the throwaway cluster (each test starts from nothing)."""
    url = async_database_url(postgres_url)
    assert url.startswith("postgresql+asyncpg://")
    engine = db.create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    yield engine
    await engine.dispose()


async def test_postgres_migrates_to_exactly_the_models_and_round_trips_the_directory(postgres_engine):
    assert await db.is_current(postgres_engine) is False
    await db.migrate(postgres_engine)
    await db.migrate(postgres_engine)

    assert await db.is_current(postgres_engine) is True
    assert await schema_differences(postgres_engine) == []
    assert await table_names(postgres_engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    await round_trip(postgres_engine)
