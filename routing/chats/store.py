"""Chats and their messages in SQL, in the caller's transaction: find, open, add a message, read a transcript.

Texts go in sealed and come out unsealed only here; who reads a transcript is the callers'
business (the staff API audits it, the person's own page is theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from routing.chats.models import OPEN_STATUSES, Chat, ChatMessage, Sender
from routing.privacy.confidentiality import seal, try_unseal
from routing.privacy.keyring import Keyring

GONE = "（保存期間を過ぎたため、削除されました）"  # a text purged after its retention period


@dataclass(frozen=True, slots=True)
class Line:
    """One message of a transcript, as people read it."""

    seq: int
    sender: Sender
    kind: str
    text: str
    at: datetime
    staff_id: str | None
    delivery: str | None


async def open_chat_of(session: AsyncSession, person_ref: str) -> Chat | None:
    """Return a person's open chat (intake, waiting or talking), if they have one."""
    query = (
        select(Chat)
        .where(col(Chat.person_ref) == person_ref, col(Chat.status).in_(OPEN_STATUSES))
        .order_by(col(Chat.opened_at).desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def last_chat_of(session: AsyncSession, person_ref: str) -> Chat | None:
    """Return a person's latest chat, open or closed."""
    query = select(Chat).where(col(Chat.person_ref) == person_ref).order_by(col(Chat.opened_at).desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def chat_for_update(session: AsyncSession, chat_id: str) -> Chat | None:
    """Return a chat, locked for this transaction where the database can (PostgreSQL; SQLite has one writer anyway)."""
    return (await session.execute(select(Chat).where(col(Chat.id) == chat_id).with_for_update())).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Draft:
    """A message about to be stored: who says it and what (its text sealed on the way in)."""

    sender: str
    text: str
    kind: str = "text"
    staff_id: str | None = None
    event_id: str | None = None  # LINE's webhookEventId: one message per event
    delivery: str | None = None
    retry_key: str | None = None


async def add_message(
    session: AsyncSession,
    chat: Chat,
    *,
    sender: str,
    text: str,
    keys: Keyring,
    at: datetime,
    kind: str = "text",
    staff_id: str | None = None,
    event_id: str | None = None,
    delivery: str | None = None,
    retry_key: str | None = None,
) -> ChatMessage:
    """Add a message to a chat, its text sealed, numbered after the chat's last one."""
    draft = Draft(sender, text, kind, staff_id, event_id, delivery, retry_key)
    (message,) = await add_messages(session, chat, [draft], keys=keys, at=at)
    return message


async def add_messages(
    session: AsyncSession, chat: Chat, drafts: Sequence[Draft], *, keys: Keyring, at: datetime, changes: Mapping[str, object] | None = None
) -> list[ChatMessage]:
    """Add messages to a chat (numbered after its last one) and apply `changes` to its row: two statements, whatever the count.

    The numbers are taken in the row itself (messages + n, read back), so two writers never share
    one; the rows go in with one INSERT.
    """
    counted = await session.execute(
        update(Chat)
        .where(col(Chat.id) == chat.id)
        .values(messages=col(Chat.messages) + len(drafts), **(changes or {}))
        .returning(col(Chat.messages))
        .execution_options(synchronize_session=False)
    )
    last = int(counted.scalar_one())
    set_committed_value(chat, "messages", last)  # the row was updated behind the object's back: keep them equal
    return await _insert(session, chat, drafts, first=last - len(drafts) + 1, keys=keys, at=at)


async def save_chat(session: AsyncSession, chat: Chat, drafts: Sequence[Draft], *, keys: Keyring, at: datetime) -> list[ChatMessage]:
    """Write a chat changed outside the session (a new one, or one detached after reading) with its new messages.

    A new chat goes in with its messages numbered from one; an existing one gets every column
    changed since it was read, and its numbers, in one UPDATE. Nothing is written when nothing changed.
    """
    if inspect(chat).transient:  # never stored
        chat.messages = len(drafts)
        session.add(chat)
        await session.flush()
        return await _insert(session, chat, drafts, first=1, keys=keys, at=at)
    changes = changed_columns(chat)
    if not drafts and not changes:
        return []
    return await add_messages(session, chat, drafts, keys=keys, at=at, changes=changes)


def changed_columns(chat: Chat) -> dict[str, object]:
    """Return the columns of a chat set since it was read (the message count aside: add_messages keeps that)."""
    state = inspect(chat)
    return {attr.key: attr.value for attr in state.attrs if attr.key != "messages" and attr.history.has_changes()}


async def _insert(
    session: AsyncSession, chat: Chat, drafts: Sequence[Draft], *, first: int, keys: Keyring, at: datetime
) -> list[ChatMessage]:
    rows = [
        ChatMessage(
            chat_id=chat.id,
            seq=first + i,
            at=at,
            sender=draft.sender,
            staff_id=draft.staff_id,
            kind=draft.kind,
            body_sealed=seal(draft.text, keys=keys) if draft.text else "",
            event_id=draft.event_id,
            delivery=draft.delivery,
            retry_key=draft.retry_key,
        )
        for i, draft in enumerate(drafts)
    ]
    if rows:
        await session.execute(insert(ChatMessage), [row.model_dump() for row in rows])
    return rows


async def transcript(session: AsyncSession, chat_id: str, *, keys: Keyring, after: int = 0) -> list[Line]:
    """Return a chat's messages after a seq, oldest first, their texts unsealed (or marked gone)."""
    query = select(ChatMessage).where(col(ChatMessage.chat_id) == chat_id, col(ChatMessage.seq) > after).order_by(col(ChatMessage.seq))
    rows: Sequence[ChatMessage] = (await session.execute(query)).scalars().all()
    return [line_of(row, keys=keys) for row in rows]


def line_of(row: ChatMessage, *, keys: Keyring) -> Line:
    """Return a stored message as people read it."""
    if row.body_sealed:
        text = try_unseal(row.body_sealed, keys=keys) or GONE
    else:
        text = GONE if row.kind == "text" else ""  # a text is emptied by purge; a sticker never had one
    return Line(row.seq, cast(Sender, row.sender), row.kind, text, row.at, row.staff_id, row.delivery)
