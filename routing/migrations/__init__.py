"""Alembic migrations of the whole schema (the directory's tables and the service's), and running them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head() -> str:
    """Return the code's newest revision (one line of history: a single head)."""
    return ",".join(sorted(_scripts().get_heads()))


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema stands against the code's newest revision."""

    revision: str  # the database's, "" when it was never migrated
    head: str
    standing: Literal["current", "behind", "ahead"]  # ahead: a revision this code does not know (a newer release migrated)

    def describe(self) -> str:
        """One line for /readyz and the logs."""
        if self.standing == "current":
            return f"current (revision {self.head})"
        return f"{self.standing}: database at {self.revision or 'no revision'}, code at {self.head}"


class SchemaBehind(Exception):
    """The database's schema is older than the code's: `tsunagu migrate` has not run for this release."""

    def __init__(self, state: SchemaState) -> None:
        super().__init__(
            f"the database schema is at {state.revision or 'no revision'} and this release needs {state.head}: "
            "run `tsunagu migrate` first, then start the service again"
        )
        self.state = state


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision.

    A schema already at it is only read: Alembic's upgrade would load its environment and every
    revision's file again to find nothing to do, at every start of the service and every CLI command.
    """
    if (await schema_state(engine)).standing == "current":
        return
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Return the database's revision and how it stands against the code's."""

    def read(sync: Connection) -> tuple[str, ...]:
        return tuple(sorted(MigrationContext.configure(sync).get_current_heads()))

    async with engine.connect() as connection:
        stored = await connection.run_sync(read)
    revision, newest = ",".join(stored), head()
    if revision == newest:
        return SchemaState(revision, newest, "current")
    known = all(_known(r) for r in stored)
    return SchemaState(revision, newest, "behind" if known else "ahead")


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for a revision it has never seen
        return False


async def check_schema(engine: AsyncEngine) -> SchemaState:
    """Return the schema's state; raise SchemaBehind when the database needs `tsunagu migrate` before this code can serve."""
    state = await schema_state(engine)
    if state.standing == "behind":
        raise SchemaBehind(state)
    return state


async def is_current(engine: AsyncEngine) -> bool:
    """Return whether the schema is at the newest revision."""
    return (await schema_state(engine)).standing == "current"
