"""People's steps in their chats, written to SQL together: one write transaction for every step waiting in a worker.

A person's step (a message, an answer to a question, leaving) is a read of their chat and one or
two statements. Written one transaction each, a surge's LINE events queued for SQLite's one write
lock: each transaction held it across a turn of a busy event loop (its first write waits for the
lock on the connection's thread, and the loop must come back to it), so a worker applied a few
dozen steps a second however short their statements were, and people waited seconds for the
first answer. So steps are group-committed, as delivery outcomes are: a step that comes while a
write is under way joins the next one, and that one applies up to MAX_STEPS of them in a single
transaction, one after another. The lock is held across one turn of the loop for all of them.

A step must only read and write its session: whatever it asks Redis is asked before (the lock is
held while the steps run). When one step fails, the transaction is rolled back and each step of
it is applied again alone, so that one step's failure is only its own. Whoever applies a step
waits until it is written (or failed) and gets its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from referral_directory.storage import db

T = TypeVar("T")
Step = Callable[[AsyncSession], Awaitable[Any]]
MAX_STEPS = 16  # per transaction: the event loop runs them inline, so a long batch would hold it up too


class StepWriter:
    """One per worker: gathers people's steps and applies them, as many as have come, in one transaction at a time."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._waiting: list[tuple[Step, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0  # how many write transactions carried steps (tests and benchmarks read it)

    async def apply(self, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Apply a step in a transaction shared with the others waiting; return its result once committed (or raise its error)."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((step, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting(), name="chat-steps")
        return await asyncio.shield(done)  # a caller that gives up does not take the others' steps with it

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_STEPS], self._waiting[MAX_STEPS:]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[Step, asyncio.Future[Any]]]) -> None:
        try:
            async with db.transaction(self._sessions) as session:
                results = [await step(session) for step, _ in batch]
        except Exception as error:
            if len(batch) > 1:
                for item in batch:  # each alone: only the step that fails fails
                    await self._write([item])
                return
            if not batch[0][1].done():
                batch[0][1].set_exception(error)
            return
        self.transactions += 1
        for (_, done), result in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(result)

    async def close(self) -> None:
        """Wait for the steps under way, if any (shutdown)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
