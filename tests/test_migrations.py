"""The Alembic migrations build exactly the schema the models define, on SQLite and (when installed) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from builders import make_varied_records
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from referral_directory import models  # noqa: F401  (registers the tables in SQLModel.metadata)
from referral_directory import service as directory_service
from referral_directory.records import DirectoryRecords, normalized
from referral_directory.storage import db
from routing import migrations
from routing.settings import async_database_url


def sqlite_engine(folder: Path) -> AsyncEngine:
    return db.create_engine(async_database_url(f"sqlite:///{folder / 'schema.db'}"))


async def schema_differences(engine: AsyncEngine) -> list:
    """Return what alembic's autogenerate would change to make the database match the models (empty: they match)."""

    def compare(connection) -> list:
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
        await migrations.migrate(engine)
        assert await schema_differences(engine) == []
        assert await table_names(engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_the_schema_is_current_only_after_migrating_and_migrating_again_changes_nothing(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        assert await migrations.is_current(engine) is False
        await migrations.migrate(engine)
        assert await migrations.is_current(engine) is True
        await round_trip(engine)
        await migrations.migrate(engine)
        assert await migrations.is_current(engine) is True
        assert await schema_differences(engine) == []
        async with db.session_factory(engine)() as session:
            assert await directory_service.directory_version(session) == 1
    finally:
        await engine.dispose()


async def test_a_database_stamped_at_no_revision_is_not_current(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        await migrations.migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
        assert await migrations.is_current(engine) is False
    finally:
        await engine.dispose()


async def test_a_database_behind_is_refused_and_one_a_newer_release_migrated_is_served(tmp_path):
    engine = sqlite_engine(tmp_path)
    try:
        await migrations.migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0009'"))
        behind = await migrations.schema_state(engine)
        with pytest.raises(migrations.SchemaBehind, match="is at 0009 and this release needs .*: run `tsunagu migrate` first"):
            await migrations.check_schema(engine)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
        ahead = await migrations.check_schema(engine)  # no refusal: the newer schema holds this release's tables
    finally:
        await engine.dispose()
    assert (behind.revision, behind.standing) == ("0009", "behind")
    assert (ahead.revision, ahead.standing, ahead.head) == ("f00dcafe", "ahead", migrations.head())


# --- PostgreSQL ----------------------------------------------------------------------------------


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
    assert await migrations.is_current(postgres_engine) is False
    await migrations.migrate(postgres_engine)
    await migrations.migrate(postgres_engine)

    assert await migrations.is_current(postgres_engine) is True
    assert await schema_differences(postgres_engine) == []
    assert await table_names(postgres_engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    await round_trip(postgres_engine)
