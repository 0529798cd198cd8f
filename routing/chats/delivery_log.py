"""How each message to a person on LINE went (sent, failed, quota, blocked), written to SQL together.

Every send ends with a small write: the messages' delivery, and for a push its attempt and retry
key. One write transaction per send made these the most frequent writers of all, and SQLite has
one write lock for every worker: under a surge the calls' own writes queued behind them. So the
outcomes are group-committed: a send whose outcome arrives while a write is under way joins the
next one, and that one writes everything gathered meanwhile in a single transaction. When the
service is quiet each outcome is written at once, alone; under load, one transaction carries
dozens. Whoever records an outcome waits until it is written (or the write fails), as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from referral_directory.storage import db
from routing.chats.models import ChatMessage


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one send went, for the messages it carried."""

    ids: tuple[str, ...]
    status: str  # sent, failed, quota, blocked
    attempt: bool = False  # a push was tried: count it
    retry_key: str | None = None  # the push's X-Line-Retry-Key, for the keeper to try a failed push again with


class DeliveryLog:
    """One per worker: gathers outcomes and writes them, as many as have come, in one transaction at a time."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._waiting: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0  # how many write transactions carried outcomes (tests and benchmarks read it)

    async def record(self, ids: Sequence[str], status: str, *, attempt: bool = False, retry_key: str | None = None) -> None:
        """Record how a send went; return once it is written (raises what the write raised)."""
        if not ids:
            return
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((Outcome(tuple(ids), status, attempt, retry_key), written))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting(), name="chat-delivery-log")
        await asyncio.shield(written)  # a caller that gives up does not take the others' write with it

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._write([outcome for outcome, _ in batch])
                except Exception as error:  # each caller hears of it, as with a write of its own
                    for _, written in batch:
                        if not written.done():
                            written.set_exception(error)
                else:
                    for _, written in batch:
                        if not written.done():
                            written.set_result(None)
        finally:
            self._writer = None

    async def _write(self, outcomes: Sequence[Outcome]) -> None:
        """Write outcomes in one transaction: one UPDATE per kind of outcome (replies that went through share one)."""
        groups: dict[tuple[str, bool, str | None], list[str]] = {}
        for outcome in outcomes:
            groups.setdefault((outcome.status, outcome.attempt, outcome.retry_key), []).extend(outcome.ids)
        async with db.transaction(self._sessions) as session:
            for (status, attempt, retry_key), ids in groups.items():
                values: dict[str, object] = {"delivery": status}
                if attempt:
                    values["attempts"] = col(ChatMessage.attempts) + 1
                if retry_key is not None:
                    values["retry_key"] = retry_key
                await session.execute(update(ChatMessage).where(col(ChatMessage.id).in_(ids)).values(**values))
        self.transactions += 1

    async def close(self) -> None:
        """Wait for the write under way, if any (shutdown)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
