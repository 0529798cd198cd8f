"""Sending what a chat says to its person, after the commit that stored it.

On the web the person's page reads new messages itself: they are announced on the chat's
channel. On LINE a reply token is used while one is fresh and unused (replies are free), else a
push with an `X-Line-Retry-Key`, reused on every retry, so LINE delivers it once (409: it already
has it). A push that failed is stored `failed` with its key, and the chat keeper tries it again
with that key; a message whose send never got an answer recorded (the worker died in between)
stays `pending` and is not sent again. A 429 (the month's quota) is counted and logged as an
alert, never retried in a loop. Nothing is sent to a person who blocked the account. How each send
went is written through the worker's delivery log (delivery_log.py), together with the others'.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from routing.chats.hub import ChatHub
from routing.chats.line.api import Delivery, new_retry_key
from routing.chats.line.messages import PUSH_MAX, QuickReply, text_message
from routing.chats.models import Chat
from routing.chats.store import Draft, add_messages
from routing.live.keys import chat_channel, desk_channel, reply_token_key
from routing.privacy.confidentiality import seal, try_unseal
from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.chats")
REPLY_TOKEN_SECONDS = 50  # LINE keeps a reply token for about a minute: use it well inside that
RETRY_PAUSE_SECONDS = 1.0
_STATUS: dict[Delivery, str] = {
    "sent": "sent",
    "already_sent": "sent",
    "quota": "quota",
    "refused": "failed",
    "failed": "failed",
    "reply_token_spent": "failed",
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: its stored row, its text, and the buttons under it (LINE quick replies; the web page shows the chat's own)."""

    message_id: str
    seq: int
    text: str
    quick: tuple[tuple[str, str], ...] = ()


def pending_delivery(chat: Chat) -> str | None:
    """The delivery a new outgoing message starts with: `pending` on LINE (sent after the commit); none on the web (read by its page)."""
    return "pending" if chat.medium == "line" else None


async def tell(
    session: AsyncSession, runtime: Runtime, chat: Chat, text: str, at: datetime, *, quick: tuple[tuple[str, str], ...] = ()
) -> Outgoing:
    """Store what the dial tells the person in a chat (in the caller's transaction); send the Outgoing after the commit."""
    (row,) = await add_messages(session, chat, [told(chat, text)], keys=runtime.keys, at=at)
    return Outgoing(row.id, row.seq, text, quick)


def told(chat: Chat, text: str) -> Draft:
    """Return what the dial tells the person, ready to store (on LINE pending until it is sent)."""
    return Draft("system", text, delivery=pending_delivery(chat))


async def announce(runtime: Runtime, chat: Chat, event: str = "message") -> None:
    """Tell whoever follows a chat that it changed: the person's page, and its window's desk (the consoles).

    The event carries the chat's id, status, band, message count and counsellor: never a text.
    """
    data = _event(chat, event, chat.counsellor)
    pipe = runtime.redis.pipeline(transaction=False)
    pipe.publish(chat_channel(chat.id), data)
    if chat.org_id:
        pipe.publish(desk_channel(chat.org_id), data)
    await pipe.execute()


async def announce_desk(runtime: Runtime, org_id: str, chat: Chat, event: str) -> None:
    """Tell one organisation's desk of a change to a chat that is no longer at it (handed on)."""
    await runtime.redis.publish(desk_channel(org_id), _event(chat, event, None))


def _event(chat: Chat, event: str, counsellor: str | None) -> str:
    return json.dumps(
        {"chat": chat.id, "event": event, "seq": chat.messages, "status": chat.status, "band": chat.band, "counsellor": counsellor}
    )


async def stash_reply_token(runtime: Runtime, chat_id: str, token: str) -> None:
    """Keep a person's unused reply token (sealed) for the counsellor's next answer, for as long as LINE honours it."""
    await runtime.redis.set(reply_token_key(chat_id), seal(token, keys=runtime.keys), ex=REPLY_TOKEN_SECONDS)


async def deliver(
    runtime: Runtime, hub: ChatHub, chat: Chat, messages: Sequence[Outgoing], *, reply_token: str | None = None, announced: bool = False
) -> None:
    """Send messages already stored in a chat to its person, on the chat's medium; record how each went."""
    if not messages:
        return
    if not announced:
        await announce(runtime, chat)
    if chat.medium != "line":
        return
    if chat.blocked or hub.line is None:
        await hub.deliveries.record([m.message_id for m in messages], "blocked" if chat.blocked else "failed")
        return
    address = try_unseal(chat.address_sealed, keys=runtime.keys)
    if address is None:
        await hub.deliveries.record([m.message_id for m in messages], "failed")
        return
    token = reply_token or await _stashed_token(runtime, chat.id)
    if token is not None and len(messages) <= PUSH_MAX:
        answer = await hub.line.reply(token, [_line_message(m) for m in messages])
        if answer in ("sent", "failed", "quota"):
            # A reply that timed out may still have reached the person: it is not pushed again at once
            # (the keeper pushes a failed one later). Only a token LINE refused falls back to a push now.
            await hub.deliveries.record([m.message_id for m in messages], _STATUS[answer])
            runtime.metrics.chat_sends.labels(how="reply" if answer == "sent" else answer).inc()
            return
    for start in range(0, len(messages), PUSH_MAX):
        await push(runtime, hub, address, messages[start : start + PUSH_MAX])


async def push(runtime: Runtime, hub: ChatHub, address: str, batch: Sequence[Outgoing], *, retry_key: str | None = None) -> str:
    """Push up to five messages with one retry key; tried again once at once, then (stored `failed` with its key) by the keeper."""
    assert hub.line is not None
    ids = [m.message_id for m in batch]
    retry_key = retry_key or new_retry_key()
    lines = [_line_message(m) for m in batch]
    answer = await hub.line.push(address, lines, retry_key=retry_key)
    if answer == "failed":
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
        answer = await hub.line.push(address, lines, retry_key=retry_key)
    status = _STATUS[answer]
    await hub.deliveries.record(ids, status, attempt=True, retry_key=retry_key)
    runtime.metrics.chat_sends.labels(how="push" if status == "sent" else status).inc()
    if answer == "quota":
        log.error("line_quota_reached", messages=len(ids))
    elif status == "failed":
        log.warning("line_push_failed", answer=answer, messages=len(ids))
    return status


async def _stashed_token(runtime: Runtime, chat_id: str) -> str | None:
    sealed = cast(str | None, await runtime.redis.getdel(reply_token_key(chat_id)))  # the client decodes replies to str
    return try_unseal(sealed, keys=runtime.keys) if sealed else None


def _line_message(message: Outgoing) -> dict:
    return text_message(message.text, [QuickReply(label, data, display=label) for label, data in message.quick])
