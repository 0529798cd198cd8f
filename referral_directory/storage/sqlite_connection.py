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
  with no transaction open;
- calls keep their order: while an earlier call is still on the thread (its caller gave up on
  it: a webhook's budget ran out while it waited for the lock), the next call queues behind it,
  inside a transaction too, so nothing runs beside it on another thread; a rollback or close then
  queues without being waited for, so the caller that gave up goes on at once;
- writers take turns across processes (WriteTurn), so that a writer waiting for the lock gets it
  the moment it is freed.
A long maintenance write (the scheduled purge) opts out with `on_its_thread()`: it blocks the
other writers either way, but should not also stop the event loop that answers calls.

Measured with loadtests/benchmarks/sqlite_writers.py (two processes writing while their event loops
are kept half busy; a read, then four writes, per transaction): at 40 transactions per second
per process, p99 449 ms with plain aiosqlite and 25 ms with the first of these alone; in a busier
hour, 756 ms and 15.5 ms with the first three. The turn counts when writers crowd: at 150 per
second per process, p99 33 ms and max 113 ms without it, 19.5 ms and 37 ms with it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import aiosqlite
import aiosqlite.context

_ON_ITS_THREAD: ContextVar[bool] = ContextVar("sqlite_on_its_thread", default=False)
# Python's sqlite3 opens a transaction, and so asks for the write lock, before these statements only.
OPENS_A_WRITE = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})


@contextmanager
def on_its_thread() -> Iterator[None]:
    """Within this block, every call goes to the connection's thread, inside a write transaction too."""
    token = _ON_ITS_THREAD.set(True)
    try:
        yield
    finally:
        _ON_ITS_THREAD.reset(token)


def opens_a_write(sql: str) -> bool:
    """Whether Python's sqlite3, outside a transaction, opens one for this statement (so asks for the write lock)."""
    words = sql.lstrip().split(None, 1)
    return bool(words) and words[0].upper() in OPENS_A_WRITE


class WriteTurn:
    """Whose turn it is to write to one database file, across processes: an flock on the file `<database>-turn`.

    SQLite's own wait for its write lock (the busy timeout) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25,
    50, 50, 100 ms between tries: a writer that has waited a while wakes up to 100 ms after the lock
    was freed (18 ms late after a 60 ms wait, measured), and a newcomer trying between its naps takes
    the lock first. A tsunagu connection takes this turn before its first write and gives it back
    when its transaction ends, so SQLite's lock is free whenever a tsunagu writer asks for it; the
    kernel wakes a waiter for the turn the moment it is given back. Writers that do not take the
    turn (the sqlite3 shell, another program) are still kept out by SQLite's lock, and a crashed
    process's turn is given back by the kernel with its files.
    """

    def __init__(self, database: str, *, timeout: float) -> None:
        self.timeout = timeout  # the connection's: a caller stops waiting for the turn after it, as for SQLite's lock
        # An empty file; flock needs only read access, so every user who may write the database can take turns.
        self._fd = os.open(f"{database}-turn", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.held = False

    def take(self) -> None:
        """Wait for the turn, in the kernel (so on the connection's thread)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.held = True

    def give_back(self) -> None:
        if self.held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.give_back()
        os.close(self._fd)


class _Trip:
    """One call handed to the connection's thread; `done` once it has run there."""

    __slots__ = ("fn", "done")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.done = fn, False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.done = True


class InlineWhileWriting(aiosqlite.Connection):
    """aiosqlite's connection, but a call inside a write transaction runs without leaving the event loop."""

    turn: WriteTurn | None = None
    _last_trip: _Trip | None = None

    def _thread_idle(self) -> bool:
        return self._last_trip is None or self._last_trip.done

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if self._running and connection is not None and connection.in_transaction and self._thread_idle() and not _ON_ITS_THREAD.get():
            return fn(*args, **kwargs)
        trip = self._last_trip = _Trip(fn)
        return await super()._execute(trip, *args, **kwargs)

    async def _execute_statement(self, fn: Callable[..., Any], sql: str, *args: Any) -> Any:
        """Run a statement; one that opens a write transaction first waits for the write turn, on the thread."""
        if self.turn is None or self._conn.in_transaction or not opens_a_write(sql):
            return await self._execute(fn, sql, *args)
        try:
            async with asyncio.timeout(self.turn.timeout):
                return await self._execute(self._in_turn, fn, sql, *args)
        except TimeoutError:  # the statement stays queued: when the turn comes, the caller's rollback follows it
            raise sqlite3.OperationalError("database is locked") from None

    def _in_turn(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self.turn is not None
        if not self.turn.held:
            self.turn.take()
        try:
            return fn(*args)
        finally:
            self._give_back_the_turn_unless_writing()

    def _give_back_the_turn_unless_writing(self) -> None:
        """Called in the connection's order of calls (on its thread, or inline while it is idle)."""
        if self.turn is not None and self.turn.held and not self._conn.in_transaction:
            self.turn.give_back()

    def _and_give_back_the_turn(self, end: Callable[[], None]) -> Callable[[], None]:
        def end_then_give_back() -> None:
            try:
                end()
            finally:
                self._give_back_the_turn_unless_writing()

        return end_then_give_back

    @aiosqlite.context.contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return OneTripCursor(self, self._conn.cursor())  # making a cursor touches no database: no trip

    async def commit(self) -> None:
        if self._conn.in_transaction or not self._thread_idle():
            await self._execute(self._and_give_back_the_turn(self._conn.commit))
        else:  # no transaction open, nothing on its way: sqlite3's commit would do nothing, so no trip
            self._give_back_the_turn_unless_writing()  # SQLite may have ended it itself (a full disk rolls back)

    async def rollback(self) -> None:
        if not self._thread_idle():  # its caller gave up on a call still there: roll back after it, without waiting
            self._queue(self._and_give_back_the_turn(self._conn.rollback))
        elif self._conn.in_transaction:
            await self._execute(self._and_give_back_the_turn(self._conn.rollback))
        else:
            self._give_back_the_turn_unless_writing()

    async def close(self) -> None:
        """Close after every call already handed to the thread; wait for that only when nothing is left there.

        A webhook whose budget runs out while its first write waits for the lock is cancelled, and
        SQLAlchemy then closes its connection: the caller must get the fallback answer now, not
        once the lock comes (up to the 30 s timeout later).
        """
        if self._connection is None:
            return
        idle = self._thread_idle()
        connection, turn = self._connection, self.turn

        def close_both() -> None:
            try:
                connection.close()
            finally:
                if turn is not None:
                    turn.close()

        self._queue(close_both)
        self._connection = None
        stopped = self.stop()
        if idle and stopped is not None:
            await stopped

    def _queue(self, fn: Callable[[], None]) -> None:
        """Hand `fn` to the thread, after every call already handed to it, and do not wait for it to run."""
        self._last_trip = _Trip(fn)
        self._tx.put_nowait((None, self._last_trip))


class OneTripCursor(aiosqlite.Cursor):
    """aiosqlite's cursor, but a statement and the fetch of all its rows make one trip, and closing makes none.

    SQLAlchemy's async adapter fetches every row right after each statement (tsunagu never
    streams results), so fetching them in the same trip changes nothing but the trips saved.
    """

    _conn: InlineWhileWriting
    _rows: list[Any] | None = None

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        self._rows = await self._conn._execute_statement(
            partial(_execute_and_fetch, self._cursor), sql, [] if parameters is None else parameters
        )
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        self._rows = None  # no rows of an earlier statement are left to fetch
        await self._conn._execute_statement(self._cursor.executemany, sql, parameters)
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


def connector(path: str, *, timeout: float, write_turn: bool = True) -> Callable[[], Any]:
    """Return an `async_creator` for SQLAlchemy: a new InlineWhileWriting connection to the file at `path`.

    Its writers take turns (WriteTurn) unless `write_turn` is False or the database is in memory.
    """

    async def connect() -> InlineWhileWriting:
        # check_same_thread=False: the connection is used from its own thread and the event loop's, never at once.
        connection = InlineWhileWriting(partial(sqlite3.connect, path, timeout=timeout, check_same_thread=False), 64)
        connection._thread.daemon = True  # as SQLAlchemy does for the connections it makes: never holds up the exit
        if write_turn and path not in ("", ":memory:"):
            connection.turn = WriteTurn(path, timeout=timeout)
        await connection  # starts its thread and opens the file; aiosqlite's await returns the connection itself
        return connection

    return connect
