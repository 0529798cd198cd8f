"""SQLite connections: a write transaction keeps the event loop to itself; a wait for the lock does not.

The turns of the event loop are counted by a task that only counts: a write transaction whose
statements each went through aiosqlite's thread would let it run between them, holding SQLite's
write lock (shared by every worker) while other requests took their turns.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from referral_directory.storage import db, sqlite_connection


class LoopTurns:
    """Counts the event loop's turns while it runs."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.create_task(self._count())

    async def _count(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._task.cancel()


@pytest.fixture
async def turns() -> AsyncIterator[LoopTurns]:
    counter = LoopTurns()
    yield counter
    counter.stop()


async def make_table(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")


async def turns_during_a_write(engine: AsyncEngine, turns: LoopTurns) -> int:
    """Write 10 rows in one transaction; return the loop turns taken after its first write, through its commit."""
    async with engine.connect() as connection:
        await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('first')")  # takes the write lock
        before = turns.count
        for n in range(9):
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES (?)", (f"row {n}",))
        assert (await connection.exec_driver_sql("SELECT count(*) FROM notes")).scalar_one() == 10
        await connection.commit()
        return turns.count - before


def rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as outside:
        return [body for (body,) in outside.execute("SELECT body FROM notes ORDER BY id")]


async def test_a_write_transaction_holds_the_loop_from_its_first_write_to_its_commit(tmp_path: Path, turns: LoopTurns) -> None:
    path = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await make_table(engine)
        assert await turns_during_a_write(engine, turns) == 0
    finally:
        await engine.dispose()
    assert rows(path) == ["first", *(f"row {n}" for n in range(9))]

    plain = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")  # the yardstick: plain aiosqlite lets the loop turn
    try:
        await make_table(plain)
        assert await turns_during_a_write(plain, turns) >= 10
    finally:
        await plain.dispose()


async def test_a_long_maintenance_write_can_leave_the_loop_free(tmp_path: Path, turns: LoopTurns) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tsunagu.db'}")
    try:
        await make_table(engine)
        with sqlite_connection.on_its_thread():  # as the scheduled purge runs
            assert await turns_during_a_write(engine, turns) >= 10
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DELETE FROM notes")
        assert await turns_during_a_write(engine, turns) == 0  # and only within the block
    finally:
        await engine.dispose()


async def test_waiting_for_the_write_lock_leaves_the_loop_free(tmp_path: Path, turns: LoopTurns) -> None:
    path = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await make_table(engine)
    other = sqlite3.connect(path, isolation_level=None)  # another worker, holding the write lock
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('other worker')")

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('ours')")

    try:
        waiting = asyncio.create_task(write())
        before = turns.count
        await asyncio.sleep(0.3)
        assert not waiting.done()
        assert turns.count - before > 10  # the loop went on serving while the write waited
        other.execute("COMMIT")
        await waiting
    finally:
        other.close()
        await engine.dispose()
    assert rows(path) == ["other worker", "ours"]


async def test_a_failed_write_rolls_back_whole_and_the_connection_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await make_table(engine)
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.exec_driver_sql("INSERT INTO notes (id, body) VALUES (1, 'kept?')")
                await connection.exec_driver_sql("INSERT INTO notes (id, body) VALUES (1, 'same id')")
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO notes (id, body) VALUES (1, 'after')")
    finally:
        await engine.dispose()
    assert rows(path) == ["after"]


async def test_a_statement_makes_one_trip_to_the_connections_thread_and_a_write_transaction_one_in_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[str] = []
    to_thread = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await to_thread(self, fn, *args, **kwargs)

    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tsunagu.db'}")
    try:
        await make_table(engine)
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")  # the pool's first connection is made
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
            trips.clear()
            result = await connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
            assert result.scalars().all() == ["notes"]
            assert len(trips) == 1  # cursor, statement, rows, close: one trip

            trips.clear()
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('a'), ('b')")
            inserted = await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('c') RETURNING id, body")
            assert inserted.one() == (3, "c")
            assert (await connection.exec_driver_sql("UPDATE notes SET body = body || '!'")).rowcount == 3
            await connection.commit()
            assert len(trips) == 1  # only the first write, which may wait for the lock
            monkeypatch.undo()
            rows = (await connection.exec_driver_sql("SELECT body FROM notes ORDER BY id")).all()
            assert [body for (body,) in rows] == ["a!", "b!", "c!"]
    finally:
        await engine.dispose()


async def test_the_cursor_fetches_as_a_dbapi_cursor_does(tmp_path: Path) -> None:
    connection = await sqlite_connection.connector(str(tmp_path / "tsunagu.db"), timeout=5)()
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            await cursor.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(5)])
            await connection.commit()
            await cursor.execute("SELECT body FROM notes ORDER BY id")
            assert await cursor.fetchone() == ("n0",)
            assert await cursor.fetchmany(2) == [("n1",), ("n2",)]
            assert await cursor.fetchall() == [("n3",), ("n4",)]
            assert await cursor.fetchone() is None
            await cursor.execute("SELECT body FROM notes WHERE id = 1")
            await cursor.executemany("UPDATE notes SET body = ? WHERE id = ?", [("x", 1)])  # the select's row is gone with it
            assert await cursor.fetchall() == []
            await connection.rollback()
    finally:
        await connection.close()


def turn_is_free(path: Path) -> bool:
    """Whether a writer could take the write turn of the database at `path` now (tried from a file of our own)."""
    fd = os.open(f"{path}-turn", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and with it, the turn if we took it
    return True


async def test_a_writer_holds_the_write_turn_from_its_first_write_to_the_end_of_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await make_table(engine)
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT count(*) FROM notes")
            assert turn_is_free(path)  # reads never take it
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('kept')")
            assert not turn_is_free(path)
            await connection.exec_driver_sql("UPDATE notes SET body = 'kept!'")
            assert not turn_is_free(path)
            await connection.commit()
            assert turn_is_free(path)

            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES ('undone')")
            with pytest.raises(IntegrityError):
                await connection.exec_driver_sql("INSERT INTO notes (id, body) VALUES (1, 'same id')")
            assert not turn_is_free(path)  # a failed statement leaves the transaction open, and the turn held
            await connection.rollback()
            assert turn_is_free(path)

            with pytest.raises(OperationalError, match="no such table"):
                await connection.exec_driver_sql("INSERT INTO missing (body) VALUES ('x')")
            assert turn_is_free(path)  # a first write that never began gives the turn back at once
    finally:
        await engine.dispose()
    assert rows(path) == ["kept!"]


async def test_a_writer_waits_for_the_turn_without_holding_the_loop_and_gives_up_after_its_timeout(
    tmp_path: Path, turns: LoopTurns
) -> None:
    path = tmp_path / "tsunagu.db"
    first = await sqlite_connection.connector(str(path), timeout=5)()
    second = await sqlite_connection.connector(str(path), timeout=0.5)()
    try:
        await first.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        await first.execute("INSERT INTO notes (body) VALUES ('first')")  # holds the turn until its commit

        waiting = asyncio.create_task(second.execute("INSERT INTO notes (body) VALUES ('given up')"))
        before = turns.count
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await waiting
        assert turns.count - before > 10  # the loop went on serving while the write waited
        await second.rollback()  # as SQLAlchemy does after an error

        await first.commit()
        await second.execute("INSERT INTO notes (body) VALUES ('second, later')")  # the turn came to the given-up write, then went
        await second.commit()
    finally:
        await first.close()
        await second.close()
    assert rows(path) == ["first", "second, later"]
    assert turn_is_free(path)


@pytest.mark.parametrize("holder", ["another program", "another tsunagu writer"])
async def test_a_write_given_up_while_it_waits_lets_its_caller_go_at_once_and_is_undone(tmp_path: Path, holder: str) -> None:
    """A webhook whose budget runs out while its first write waits answers (with the fallback) at once, and its write never lands.

    SQLAlchemy closes a connection whose call was cancelled; that close must not wait for the lock.
    """
    path = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await make_table(engine)
    if holder == "another program":  # holds SQLite's write lock and takes no turn
        program = sqlite3.connect(path, isolation_level=None)
        program.execute("BEGIN IMMEDIATE")
        program.execute("INSERT INTO notes (body) VALUES ('other')")

        async def release() -> None:
            program.execute("COMMIT")
            program.close()
    else:  # holds the turn and the lock
        writer = await sqlite_connection.connector(str(path), timeout=30)()
        await writer.execute("INSERT INTO notes (body) VALUES ('other')")

        async def release() -> None:
            await writer.commit()
            await writer.close()

    released: list[bool] = []

    async def release_later() -> None:  # only if the caller is held up until then
        await asyncio.sleep(10)
        released.append(True)
        await release()

    async def write(body: str) -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO notes (body) VALUES (?)", (body,))

    backstop = asyncio.create_task(release_later())
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):  # as a webhook's budget
                await write("given up")
        assert not released, "the caller was held up until the lock was freed"
        backstop.cancel()
        await release()
        await write("next request")
    finally:
        backstop.cancel()
        await engine.dispose()
    assert rows(path) == ["other", "next request"]
    assert turn_is_free(path)
