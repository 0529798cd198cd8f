"""aiosqlite connections that make as few trips to their thread as a statement needs, and none inside a write transaction.

aiosqlite hands every call to the connection's own thread and wakes the caller through the
event loop: a trip per call, and SQLAlchemy makes four calls per statement (cursor, execute,
fetch, close). A write transaction holds SQLite's single write lock (one per database file,
shared by every worker process) across all of them, and when the event loop is busy each
wake-up waits its turn behind the other requests. So, under load, the lock was held for a dozen
turns of a busy loop instead of the fraction of a millisecond the statements take, and every
other writer queued behind it.

Here:
- a call made while the connection is inside a transaction runs at once on the event loop's
  thread. Python's sqlite3 opens a transaction only before a statement that writes, so this is
  only ever while the write lock is held: the statements after the first write, and the commit
  or rollback;
- everything else, reads and the first write (which may wait for the lock), still goes to the
  connection's thread, so a wait for the lock never blocks the event loop; a statement and the
  fetch of its rows go together, in one trip;
- what touches no database takes no trip: making or closing a cursor, and a commit or rollback
  with no transaction open.
A long maintenance write (the scheduled purge) opts out with `on_its_thread()`: it blocks the
other writers either way, but should not also stop the event loop that answers calls.

Measured with loadtests/bench_sqlite_writers.py (two processes writing while their event loops
are kept half busy; a read, then four writes, per transaction): at 40 transactions per second
per process, p99 449 ms with plain aiosqlite and 25 ms with the first of these alone; in a busier
hour, 756 ms and 15.5 ms with all three.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import aiosqlite
import aiosqlite.context


_ON_ITS_THREAD: ContextVar[bool] = ContextVar("sqlite_on_its_thread", default=False)


@contextmanager
def on_its_thread() -> Iterator[None]:
    """Within this block, every call goes to the connection's thread, inside a write transaction too."""
    token = _ON_ITS_THREAD.set(True)
    try:
        yield
    finally:
        _ON_ITS_THREAD.reset(token)


class InlineWhileWriting(aiosqlite.Connection):
    """aiosqlite's connection, but a call inside a write transaction runs without leaving the event loop."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if self._running and connection is not None and connection.in_transaction and not _ON_ITS_THREAD.get():
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)

    @aiosqlite.context.contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return OneTripCursor(self, self._conn.cursor())  # making a cursor touches no database: no trip

    async def commit(self) -> None:
        if self._conn.in_transaction:  # outside one, sqlite3's commit does nothing: no trip for it
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


class OneTripCursor(aiosqlite.Cursor):
    """aiosqlite's cursor, but a statement and the fetch of all its rows make one trip, and closing makes none.

    SQLAlchemy's async adapter fetches every row right after each statement (tsunagu never
    streams results), so fetching them in the same trip changes nothing but the trips saved.
    """

    _rows: list[Any] | None = None

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        self._rows = await self._execute(_execute_and_fetch, self._cursor, sql, [] if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        self._rows = None  # no rows of an earlier statement are left to fetch
        await super().executemany(sql, parameters)
        return self

    async def executescript(self, sql_script: str) -> OneTripCursor:
        self._rows = None
        await super().executescript(sql_script)
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, None
        return rows if rows is not None else list(await super().fetchall())

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchmany(size))
        count = self._cursor.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = None
        self._cursor.close()  # frees the statement; touches no database


def _execute_and_fetch(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any] | None:
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description is not None else None


def connector(path: str, *, timeout: float) -> Callable[[], Any]:
    """Return an `async_creator` for SQLAlchemy: a new InlineWhileWriting connection to the file at `path`."""

    async def connect() -> InlineWhileWriting:
        # check_same_thread=False: the connection is used from its own thread and the event loop's, never at once.
        connection = InlineWhileWriting(partial(sqlite3.connect, path, timeout=timeout, check_same_thread=False), 64)
        connection._thread.daemon = True  # as SQLAlchemy does for the connections it makes: never holds up the exit
        return await connection

    return connect
