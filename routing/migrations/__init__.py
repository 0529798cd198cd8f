"""Alembic migrations of the whole schema (the directory's tables and the service's), and running them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))


async def is_current(engine: AsyncEngine) -> bool:
    """Return whether the schema is at the newest revision."""

    def check(sync: Connection) -> bool:
        heads = set(ScriptDirectory.from_config(_alembic_config(sync)).get_heads())
        return set(MigrationContext.configure(sync).get_current_heads()) == heads

    async with engine.connect() as connection:
        return await connection.run_sync(check)
