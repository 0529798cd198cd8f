"""Database engine and sessions (async SQLAlchemy; SQLite or PostgreSQL). The schema's migrations live in routing.migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlmodel import SQLModel

from referral_directory.storage import sqlite_connection


def create_engine(url: str, *, checkpoint_in_background: bool = False, write_turn: bool = True) -> AsyncEngine:
    """Return an async engine; SQLite gets foreign keys on and its directory created.

    With `checkpoint_in_background` (the service: it calls `checkpoint` every second), SQLite's
    commits never checkpoint the write-ahead log themselves. A commit that does copies the log
    into the database file and syncs it to disk, which made it take 15-30 ms instead of 0.1 ms
    (measured on this machine's disk, one commit in every few hundred): a webhook should not
    wait for that.

    SQLite writers take turns across processes (sqlite_connection.WriteTurn) unless `write_turn`
    is False, which only loadtests/benchmarks/sqlite_writers.py sets, to measure what the turn is worth.

    Both engines hide bound parameters (`hide_parameters`): an error's text, and so a logged
    traceback, names the statement but never the values in it (a searched name, a sealed note).
    """
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Each connection waits up to 30 s for the write lock; inside a write transaction its calls skip aiosqlite's thread.
        engine = create_async_engine(
            url, hide_parameters=True, async_creator=sqlite_connection.connector(path or ":memory:", timeout=30, write_turn=write_turn)
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL still never corrupts the file; it only skips the fsync on each commit (the
            # last commits before a power cut may be lost), which is most of a small write's time.
            cursor.execute("PRAGMA synchronous=NORMAL")
            if checkpoint_in_background:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        return engine
    engine = create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    """Make the pool replace a pooled PostgreSQL connection the server has closed, before it is handed out.

    This replaces SQLAlchemy's `pool_pre_ping`, which on asyncpg sends BEGIN, an empty query and
    ROLLBACK at every checkout: three round trips before each transaction's own (measured at
    /answered in a May surge drill: 3 ms on average and 16 ms at p99, of a handler that took 20 ms
    on average and 77 ms at p99). asyncpg already knows, without asking the server, when the server
    closed the socket (a restart, a failover that resets connections, pg_terminate_backend, an idle
    timeout): that is what is checked here, and the pool then opens a new connection. A connection
    lost without a word (a cable pulled) fails at its first statement instead; SQLAlchemy then
    discards the whole pool, and a webhook caught by it still answers with the fallback number.
    """
    connection = record.driver_connection  # None only for a record without a connection, which checkout never hands out
    if connection is None or connection.is_closed():
        raise DisconnectionError("the database server closed this pooled connection")


async def checkpoint(engine: AsyncEngine) -> None:
    """Copy the SQLite write-ahead log's committed pages into the database file, without waiting on anyone (elsewhere: nothing)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the one session factory the app and CLI use."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "tsunagu.after_commit"


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session that commits on success and rolls back on error; then runs what `after_commit` asked for."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        for action in session.info.pop(_AFTER_COMMIT, ()):
            await action()


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Have `action` run once `transaction` has committed this session's work; a rollback forgets it.

    The work is stored by then, whatever the action does: it must not raise (it logs its own failure).
    """
    if not session.in_transaction():
        session.sync_session.begin()  # no statement yet: begun now, so that a rollback before one forgets the action too
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_commit(session: Session, previous: SessionTransaction) -> None:
    """A page that undoes a refused change and goes on in the same session (a rollback, then reads) announces nothing of it."""
    if not previous.nested:
        session.info.pop(_AFTER_COMMIT, None)


def table_of(model: type[SQLModel]) -> Table:
    """Return the Core table of a SQLModel table class, for queries that read plain rows or write without the ORM.

    SQLModel sets `__table__` on each table class, but its types do not declare it: this is the typed way to it.
    """
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises when the database is unreachable."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
