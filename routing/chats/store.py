"""Chats and their messages in SQL, in the caller's transaction: find, open, add a message, read a transcript.

Texts go in sealed and come out unsealed only here; who reads a transcript is the callers'
business (the staff API audits it, the person's own page is theirs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
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
    counted = await session.execute(
        update(Chat).where(col(Chat.id) == chat.id).values(messages=col(Chat.messages) + 1).returning(col(Chat.messages))
    )
    seq = int(counted.scalar_one())
    chat.messages = seq  # the row was updated behind the object's back: keep them equal
    message = ChatMessage(
        chat_id=chat.id,
        seq=seq,
        at=at,
        sender=sender,
        staff_id=staff_id,
        kind=kind,
        body_sealed=seal(text, keys=keys) if text else "",
        event_id=event_id,
        delivery=delivery,
        retry_key=retry_key,
    )
    session.add(message)
    return message


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
