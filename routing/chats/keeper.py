"""The chat keeper: what no single request does, one worker at a time, every few seconds.

- LINE events a dead worker left in an inbox are processed.
- Every waiting chat is in its window's queue (a crash between the commit and Redis could leave it
  out); one nobody took within TSUNAGU_CHAT_ROLLOVER_SECONDS, or whose window closed, moves to
  the next window that could take it, keeping its arrival time (its place).
- A chat in progress keeps its line: its slot and its counsellor's hold are renewed.
- A chat whose person stopped writing is asked, kindly, whether they are still there, and closed
  (kindly) if they still do not write; its line is free again. A chat left in its questions ends quietly.
- A LINE push that failed is tried again with the retry key it was first sent with.

A round looks only at the chats that are due (found by SQL), so that a thousand chats open at once
cost nothing between their deadlines; once a minute it looks at every open chat (renewing lines,
checking queues, noticing a window that closed); between, at most ROUND_LIMIT per round. A chat
that could not move yet writes nothing: it is looked at again next round.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.hours import is_open_at
from referral_directory.storage import db
from routing.chats import wording
from routing.chats.conversation import count_end, english_of, priority_of
from routing.chats.delivery import Outgoing, announce, deliver, push, tell
from routing.chats.hub import ChatHub
from routing.chats.line.inbox import drain_stale
from routing.chats.models import Chat, ChatMessage
from routing.chats.placement import place_chat
from routing.chats.store import line_of
from routing.engine import Contact
from routing.live.keys import CHAT_KEEPER_LOCK
from routing.live.leader import leading
from routing.privacy.confidentiality import try_unseal
from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.chats")
EVERY_SECONDS = 5.0
FULL_ROUND_SECONDS = 60.0  # every open chat is looked at (its line renewed, its place checked) this often; between, only those due
ROUND_LIMIT = 500  # chats one round works on at most: a backlog is worked off over the next rounds
STALE_INBOX_MS = 10_000  # a worker drains its own events within milliseconds; after this, it is gone
PUSH_TRIES = 5


async def keep_chats(runtime: Runtime, hub: ChatHub) -> None:
    """One round of the keeper's work, by the one worker that leads this round."""
    async with leading(runtime.redis, CHAT_KEEPER_LOCK, hold_ms=int(EVERY_SECONDS * 6000)) as leader:
        if not leader:
            return
        await drain_stale(runtime, hub, STALE_INBOX_MS)
        now = runtime.clock.now()
        full_round = time.monotonic() - hub.kept_all_at >= FULL_ROUND_SECONDS
        for chat in await _due(runtime, now, full_round=full_round):
            try:
                if chat.status == "waiting":
                    await _keep_waiting(runtime, hub, chat, now)
                elif chat.status == "talking":
                    await _keep_talking(runtime, hub, chat, now, renew=full_round)
                elif (chat.last_person_at or chat.opened_at) < now - timedelta(minutes=runtime.settings.chat_intake_minutes):
                    await _end(runtime, hub, chat, now, reason="left_in_intake", text=None)
            except Exception:
                log.exception("chat_keeping_failed", chat=chat.id)
        if full_round:
            hub.kept_all_at = time.monotonic()
        await _retry_pushes(runtime, hub)


async def _due(runtime: Runtime, now: datetime, *, full_round: bool) -> list[Chat]:
    """Return the open chats this round has work for: on a full round every one (renewals, queue checks), else only those due.

    Due: a waiting chat past its time at its window, a chat in progress whose person has been quiet
    past the idle limit (or was asked and is past the closing limit), a chat left in its questions.
    """
    settings = runtime.settings
    quiet_before = now - timedelta(minutes=settings.chat_idle_minutes)
    abandoned = timedelta(minutes=settings.chat_intake_minutes)
    query = select(Chat).where(col(Chat.status).in_(("intake", "waiting", "talking")))
    if not full_round:
        query = query.where(
            or_(
                and_(col(Chat.status) == "waiting", col(Chat.window_since) <= now - timedelta(seconds=settings.chat_rollover_seconds)),
                and_(
                    col(Chat.status) == "talking",
                    or_(
                        col(Chat.idle_warned_at) <= now - timedelta(minutes=settings.chat_close_minutes),
                        and_(
                            col(Chat.idle_warned_at).is_(None),
                            func.coalesce(col(Chat.last_person_at), col(Chat.assigned_at), col(Chat.opened_at)) <= quiet_before,
                        ),
                    ),
                ),
                and_(col(Chat.status) == "intake", func.coalesce(col(Chat.last_person_at), col(Chat.opened_at)) <= now - abandoned),
            )
        )
        query = query.limit(ROUND_LIMIT)
    async with runtime.sessions() as session:
        return list((await session.execute(query)).scalars())


async def _keep_waiting(runtime: Runtime, hub: ChatHub, chat: Chat, now: datetime) -> None:
    if chat.service_id is None:
        return
    snapshot = runtime.snapshot
    assert snapshot is not None
    window = snapshot.services.get(chat.service_id)
    window_open = window is not None and is_open_at(window.hours, now, snapshot.holidays)
    overdue = chat.window_since is not None and now - chat.window_since >= timedelta(seconds=runtime.settings.chat_rollover_seconds)
    if window_open and not overdue:
        place, _ = await hub.queues.place(chat.service_id, chat.id)
        if place is None and await _still_waiting_at(runtime, chat.id, chat.service_id):
            await hub.queues.enqueue(chat.service_id, chat.id, priority_of(chat))  # a crash left it out
        return
    contact = Contact(topic=chat.topic or "general", channel="sns", municipality=_municipality(chat), prefecture=chat.prefecture)
    decision = (await runtime.switchboard.look_widened(snapshot, contact, now)).decision  # the general lines' when its topic's are closed
    tried = [*chat.tried, chat.service_id]
    waiting = await hub.queues.lengths([c.service_id for c in decision.candidates] + list(decision.full))
    placement = place_chat(decision, snapshot, waiting=waiting, tried=tried)
    if placement.kind != "queue" or placement.window is None:
        if window_open:
            return  # no other window could take it sooner: it stays, and is looked at again next round
        placement = place_chat(decision, snapshot, waiting=waiting)  # every open window was tried: start the round again
        if placement.kind != "queue" or placement.window is None:
            return  # nothing open for them now; they keep their place until a window opens or they leave
        tried = []
    target = placement.window
    async with db.transaction(runtime.sessions) as session:
        row = await _unchanged(
            session, chat, {"service_id": target.id, "org_id": target.organization_id, "tried": tried, "window_since": now}
        )
        if row is None:
            return
    await hub.queues.leave(chat.service_id, chat.id)
    await hub.queues.enqueue(target.id, chat.id, priority_of(chat))
    log.info("chat_rolled_over", chat=chat.id, to=target.id)
    await announce(runtime, row, "waiting")


async def _still_waiting_at(runtime: Runtime, chat_id: str, service_id: str) -> bool:
    """Whether a chat waits at a window now, read afresh: the round's list is older than a counsellor taking it."""
    async with runtime.sessions() as session:
        row = (await session.execute(select(col(Chat.status), col(Chat.service_id)).where(col(Chat.id) == chat_id))).one_or_none()
    return row is not None and tuple(row) == ("waiting", service_id)


async def _unchanged(session: AsyncSession, chat: Chat, values: dict[str, object]) -> Chat | None:
    """Change a chat as the round saw it (same status, same window, no new message); None when it has moved on.

    Decided by the database itself: the person may have written, or a counsellor answered or
    closed it, since the round read it; the keeper then leaves it for the next round.
    """
    changed = await session.execute(
        update(Chat)
        .where(
            col(Chat.id) == chat.id,
            col(Chat.status) == chat.status,
            col(Chat.service_id) == chat.service_id,
            col(Chat.messages) == chat.messages,
        )
        .values(**values)
        .returning(Chat)
    )
    return changed.scalar_one_or_none()


def _municipality(chat: Chat) -> str | None:
    return chat.lgcode[:5] if chat.lgcode else None


async def _keep_talking(runtime: Runtime, hub: ChatHub, chat: Chat, now: datetime, *, renew: bool) -> None:
    if renew and chat.counsellor and chat.service_id:
        await hub.queues.renew(chat.counsellor, chat.id, chat.service_id)
    quiet_since = max(t for t in (chat.last_person_at, chat.assigned_at, chat.opened_at) if t is not None)
    idle = timedelta(minutes=runtime.settings.chat_idle_minutes)
    if chat.idle_warned_at is None and now - quiet_since >= idle:
        await _ask_if_still_there(runtime, hub, chat, now)
    elif chat.idle_warned_at is not None and now - chat.idle_warned_at >= timedelta(minutes=runtime.settings.chat_close_minutes):
        await _end(runtime, hub, chat, now, reason="idle", text=wording.idle_close(english=english_of(chat)))


async def _ask_if_still_there(runtime: Runtime, hub: ChatHub, chat: Chat, now: datetime) -> None:
    async with db.transaction(runtime.sessions) as session:
        row = await _unchanged(session, chat, {"idle_warned_at": now})
        if row is None:
            return
        told = await tell(session, runtime, row, wording.idle_check(english=english_of(row)), now)
    await deliver(runtime, hub, row, [told])


async def _end(runtime: Runtime, hub: ChatHub, chat: Chat, now: datetime, *, reason: str, text: str | None) -> None:
    """Close a chat the keeper ends (idle, abandoned), with a kind word when there is someone to read it."""
    async with db.transaction(runtime.sessions) as session:
        row = await _unchanged(session, chat, {"status": "closed", "closed_at": now, "close_reason": reason})
        if row is None:
            return
        told = await tell(session, runtime, row, text, now) if text else None
    await hub.queues.let_go(row.counsellor, row.id, row.service_id)
    count_end(runtime, row)
    if told is not None:
        await deliver(runtime, hub, row, [told])
    else:
        await announce(runtime, row, "closed")


async def _retry_pushes(runtime: Runtime, hub: ChatHub) -> None:
    """Push again, with their first retry key, the LINE messages whose delivery failed (LINE answers 409 if it had them)."""
    if hub.line is None:
        return
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(ChatMessage, Chat)
            .join(Chat, col(Chat.id) == col(ChatMessage.chat_id))
            .where(col(ChatMessage.delivery) == "failed", col(ChatMessage.attempts) < PUSH_TRIES, col(Chat.blocked).is_(False))
            .order_by(col(ChatMessage.chat_id), col(ChatMessage.seq))
            .limit(100)
        )
        failed = [(message, chat) for message, chat in rows.all()]
    batches: dict[tuple[str, str | None], list[tuple[ChatMessage, Chat]]] = {}
    for message, chat in failed:
        batches.setdefault((chat.id, message.retry_key), []).append((message, chat))
    for (_, retry_key), batch in batches.items():
        chat = batch[0][1]
        address = try_unseal(chat.address_sealed, keys=runtime.keys)
        if address is None:
            continue
        outgoing = [Outgoing(m.id, m.seq, line_of(m, keys=runtime.keys).text) for m, _ in batch]
        await push(runtime, hub, address, outgoing, retry_key=retry_key)
