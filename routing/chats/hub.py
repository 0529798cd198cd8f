"""What the chat channel holds while the service runs: the queues, LINE's client, the crisis words in use.

Built in the app's lifespan (LINE's client opens a connection pool), closed at shutdown.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routing.chats.crisis_words import CrisisWords
from routing.chats.delivery_log import DeliveryLog
from routing.chats.line.api import LineApi
from routing.chats.steps import StepWriter

if TYPE_CHECKING:
    from routing.chats.line.inbox import Drainer
from routing.chats.models import ChatWordList
from routing.live.chat_queues import ChatQueues
from routing.live.state import LiveState
from routing.settings import Settings

WORDS_RECHECK_SECONDS = 10.0  # a supervisor's change to the word lists reaches every worker within this
# What people do is read ahead of its write by at most this many tasks of a worker at once (LINE's drainers and the
# web chat's requests alike): each holds one of the worker's database connections (SQLAlchemy's pool: 5, and 10 more
# under load) for its read, and the calls' webhooks must always find one free. The writes go together (steps.py).
APPLYING_AT_ONCE = 6


@dataclass
class ChatHub:
    settings: Settings
    queues: ChatQueues
    deliveries: DeliveryLog  # how each send to LINE went, written together
    steps: StepWriter  # people's steps in their chats, written together
    line: LineApi | None = None  # None when no LINE channel is configured
    drainer: Drainer | None = None  # started with the app (routing/chats/line/inbox.py)
    kept_all_at: float = 0.0  # when the chat keeper last looked at every open chat (time.monotonic)
    applying: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(APPLYING_AT_ONCE))
    _words: CrisisWords | None = field(default=None, repr=False)
    _words_read: float = field(default=0.0, repr=False)

    async def words(self, sessions: async_sessionmaker[AsyncSession]) -> CrisisWords:
        """Return the crisis and elevated word lists in use: the supervisors' where stored, else the defaults."""
        if self._words is None or time.monotonic() - self._words_read > WORDS_RECHECK_SECONDS:
            async with sessions() as session:
                stored = {row.kind: row.words for row in (await session.execute(select(ChatWordList))).scalars()}
            self._words = words_from(stored)
            self._words_read = time.monotonic()
        return self._words

    def forget_words(self) -> None:
        """Read the word lists again on next use (this worker changed them)."""
        self._words = None

    async def close(self) -> None:
        if self.drainer is not None:
            await self.drainer.stop()
        await self.steps.close()
        await self.deliveries.close()
        if self.line is not None:
            await self.line.close()


def words_from(stored: dict[str, list[str]]) -> CrisisWords:
    """Return the word lists from what is stored, each kind falling back to its defaults."""
    defaults = CrisisWords()
    return CrisisWords(crisis=stored.get("crisis", list(defaults.crisis)), elevated=stored.get("elevated", list(defaults.elevated)))


def open_hub(settings: Settings, live: LiveState, lease_ms: int, sessions: async_sessionmaker[AsyncSession]) -> ChatHub:
    """Build the chat channel's parts; LINE's client only when its access token is set."""
    line = None
    if token := settings.line_channel_access_token.get_secret_value():
        line = LineApi(settings.line_api_url, token)
    return ChatHub(
        settings=settings, queues=ChatQueues(live, lease_ms), deliveries=DeliveryLog(sessions), steps=StepWriter(sessions), line=line
    )
