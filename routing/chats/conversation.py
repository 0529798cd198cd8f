"""The person's side of a chat, whatever the medium: they arrive, write, answer the questions, wait, leave.

`on_person` takes one thing the person did, changes the chat in one transaction (its intake, its
band, where it waits), stores what they wrote and what they are told (sealed), and returns what
is to be sent. Sending (LINE or the web page) and the queue in Redis come after the commit, so a
counsellor never takes a chat the database does not show yet; the chat keeper puts back in its
queue any waiting chat a crash left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Literal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from routing.chats import wording
from routing.chats.crisis_words import CrisisWords
from routing.chats.delivery import Outgoing, announce, deliver, stash_reply_token, told
from routing.chats.hub import ChatHub
from routing.chats.intake import Ask, Intake, Said, advance, begin
from routing.chats.models import Chat
from routing.chats.placement import AVERAGE_CHAT_MINUTES, Placement, phones_open_now, place_chat
from routing.chats.store import Draft, open_chat_of, save_chat
from routing.contacts.rules import chat_priority, likely_wait_minutes
from routing.engine import Contact, NextOpening
from routing.runtime import Runtime

BANDS = ("normal", "elevated", "crisis")  # lowest to highest: a band only rises by itself (a counsellor may lower it)
WORDLESS = {"sticker": "スタンプ", "image": "画像", "video": "動画", "audio": "音声", "file": "ファイル", "location": "位置情報"}


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing the person did: `start` (followed the account, opened the page), `said` something, or `leave` (blocked, closed)."""

    kind: Literal["start", "said", "leave"]
    at: datetime
    said: Said = field(default_factory=Said)
    event_id: str | None = None  # LINE's webhookEventId: the message is stored once


@dataclass
class Outbound:
    """What to do after the commit: messages to send the person, the queue to join, who to tell."""

    chat: Chat
    messages: list[Outgoing] = field(default_factory=list)
    enqueue: tuple[str, int] | None = None  # (window, priority)
    reprioritise: tuple[str, int] | None = None
    leave: tuple[str | None, str | None] | None = None  # (counsellor, window) to let go of
    desk_event: str | None = None  # what the window's desk hears: waiting, closed, band, message
    first_reply: bool = False  # these messages are the first automated answer the person gets
    ended: bool = False  # the chat ended in this step (the person left, or nothing could take it)


async def on_person(
    runtime: Runtime, hub: ChatHub, *, medium: str, person_ref: str, address_sealed: str, incoming: Incoming
) -> Outbound | None:
    """Apply what the person did to their chat (opening one when they have none) and return what to send; None when nothing changes.

    The step is written together with the other people's steps waiting in this worker
    (routing/chats/steps.py). Most steps need nothing else. A step that ends the questions places
    the chat, and where it can wait (and its place in that queue) is a question to Redis, which is
    never asked while SQLite's one write lock is held (every other writer would wait for it too):
    such a step leaves the write without changing anything, looks ahead (reads the chat, applies the
    step in memory, asks Redis) and is written again with the answer. Should the chat have changed
    in between (a counsellor took it, the keeper closed it), it looks again.
    """
    words = await hub.words(runtime.sessions)
    ahead = _Ahead(None, None)
    for _ in range(1 + LOOKS):
        out = await hub.steps.apply(
            partial(
                _apply,
                runtime,
                medium=medium,
                person_ref=person_ref,
                address_sealed=address_sealed,
                incoming=incoming,
                words=words,
                ahead=ahead,
            )
        )
        if not isinstance(out, _LookAhead):
            return out
        async with hub.applying:  # the reads hold a database connection each: the calls' webhooks must find one free
            ahead = await _look_ahead(runtime, hub, person_ref, medium, incoming, words)
    raise RuntimeError("the person's chat changed under every look at it")


LOOKS = 3  # a chat changes under a person's step only when a counsellor or the keeper acts at that very moment


class _LookAhead:
    """What a step returns, having written nothing, when it places the chat where nothing was looked up (or the chat changed)."""


LOOK_AHEAD = _LookAhead()


@dataclass(frozen=True, slots=True)
class _Ahead:
    """What a step looked up before its write: the chat as it was read, and where it waits if this step ends its questions."""

    version: tuple[str, int, str] | None
    where: _Where | None


@dataclass
class _Advance:
    """A person's step applied to their chat in memory: the chat, its intake, what to ask, what to do after, whether it is placed."""

    chat: Chat
    intake: Intake
    asks: list[Ask]
    out: Outbound
    placing: bool


def _version(chat: Chat | None) -> tuple[str, int, str] | None:
    return None if chat is None else (chat.id, chat.messages, chat.status)


async def _look_ahead(runtime: Runtime, hub: ChatHub, person_ref: str, medium: str, incoming: Incoming, words: CrisisWords) -> _Ahead:
    """Read the person's chat, apply the step in memory, and ask Redis where the chat waits if the step ends its questions."""
    if incoming.kind == "leave":
        return _Ahead(None, None)
    async with runtime.sessions() as session:
        chat = await open_chat_of(session, person_ref)
    version = _version(chat)
    step = _advance(runtime, chat, medium=medium, person_ref=person_ref, address_sealed="", incoming=incoming, words=words)
    where = await _where(runtime, hub, step.chat, step.intake, incoming.at) if step.placing else None
    return _Ahead(version, where)


def _advance(
    runtime: Runtime, chat: Chat | None, *, medium: str, person_ref: str, address_sealed: str, incoming: Incoming, words: CrisisWords
) -> _Advance:
    """Apply what the person did to their chat in memory (a new one when `chat` is None): intake, band, what to ask."""
    opened = chat is None
    if chat is None:
        chat = Chat(medium=medium, person_ref=person_ref, address_sealed=address_sealed, opened_at=incoming.at)
    out = Outbound(chat)
    said = incoming.said
    asks: list[Ask] = []
    if opened:
        intake, asks = begin("web" if medium == "web" else "line")
        if incoming.kind == "said" and (said.choice == "crisis" or words.band_of(said.text) == "crisis"):
            intake, more = advance(intake, said, regions=runtime.regions, words=words)
            asks += more
    elif chat.status == "intake" and incoming.kind == "said":
        intake, asks = advance(Intake.from_dict(chat.intake), said, regions=runtime.regions, words=words)
    else:
        intake = Intake.from_dict(chat.intake)
        if incoming.kind == "said":
            asks = _while_waiting(chat, said, words.band_of(said.text), out)
    _raise_band(chat, intake.band, out)
    return _Advance(chat, intake, asks, out, placing=chat.status == "intake" and intake.step == "done")


async def _apply(
    runtime: Runtime,
    session: AsyncSession,
    *,
    medium: str,
    person_ref: str,
    address_sealed: str,
    incoming: Incoming,
    words: CrisisWords,
    ahead: _Ahead,
) -> Outbound | _LookAhead | None:
    """Write a person's step to their chat, in a transaction shared with other people's steps (reads and writes of it only)."""
    chat = await open_chat_of(session, person_ref)
    if incoming.kind == "leave":
        return None if chat is None else await _leave(session, chat, incoming.at)
    version = _version(chat)
    if chat is not None:
        session.expunge(chat)  # changed here, written below in one statement (save_chat)
    step = _advance(runtime, chat, medium=medium, person_ref=person_ref, address_sealed=address_sealed, incoming=incoming, words=words)
    chat, intake, asks, out = step.chat, step.intake, step.asks, step.out
    where = None
    if step.placing:
        if ahead.where is None or ahead.version != version:
            return LOOK_AHEAD  # nothing written yet: the other steps of the transaction go on
        where = ahead.where
    said = incoming.said
    drafts: list[Draft] = []
    if incoming.kind == "said":
        chat.last_person_at = incoming.at
        chat.idle_warned_at = None
        drafts.append(Draft("person", said.text, kind=said.kind, event_id=incoming.event_id))
        out.desk_event = out.desk_event or "message"
    answers = intake.to_dict()
    if answers != chat.intake:
        chat.intake = answers
    if where is not None:
        asks += _place(chat, intake, where, incoming.at, out)
    if asks:
        chat.buttons = [list(pair) for pair in asks[-1].quick]
    if asks and chat.first_reply_at is None:
        chat.first_reply_at, out.first_reply = incoming.at, True
    drafts += [told(chat, ask.text) for ask in asks]
    rows = await save_chat(session, chat, drafts, keys=runtime.keys, at=incoming.at)
    out.messages = [Outgoing(row.id, row.seq, ask.text, ask.quick) for row, ask in zip(rows[len(rows) - len(asks) :], asks, strict=True)]
    return out


async def _leave(session: AsyncSession, chat: Chat, at: datetime) -> Outbound:
    """The person left (blocked the account, or closed the page for good): the chat ends and nothing more is sent.

    The counsellor and window to let go of are read back from the update itself: a counsellor may
    have taken the chat since it was read, and their hold must go with it.
    """
    ended = await session.execute(
        update(Chat)
        .where(col(Chat.id) == chat.id)
        .values(status="closed", closed_at=at, close_reason="person_left", blocked=True)
        .returning(col(Chat.counsellor), col(Chat.service_id), col(Chat.assigned_at))
    )
    counsellor, service_id, assigned_at = ended.one()
    chat.status, chat.closed_at, chat.close_reason, chat.blocked = "closed", at, "person_left", True
    chat.counsellor, chat.service_id, chat.assigned_at = counsellor, service_id, assigned_at
    return Outbound(chat, leave=(counsellor, service_id), desk_event="closed", ended=True)


def _raise_band(chat: Chat, band: str, out: Outbound) -> None:
    if BANDS.index(band) > BANDS.index(chat.band):
        chat.band = band
        out.desk_event = "band"
        if chat.status == "waiting" and chat.service_id and chat.arrived_at:
            out.reprioritise = (chat.service_id, priority_of(chat))


def _while_waiting(chat: Chat, said: Said, band: str | None, out: Outbound) -> list[Ask]:
    """What a person who finished the questions hears when they write: nothing (a counsellor reads it), or a word about words."""
    if band is not None:
        was = chat.band
        _raise_band(chat, band, out)
        if chat.band == "crisis" != was and chat.status == "waiting":
            return [Ask(wording.crisis_ack(english=english_of(chat)))]
    if said.kind in WORDLESS and chat.status == "waiting":
        return [Ask(wording.write_in_words(english=english_of(chat)))]
    return []


def count_end(runtime: Runtime, chat: Chat) -> None:
    """Count a chat that ended: how, in which band, and whether a counsellor had taken it (the share who reached a human)."""
    runtime.metrics.chats.labels(reason=chat.close_reason or "", band=chat.band, reached="yes" if chat.assigned_at else "no").inc()


def english_of(chat: Chat) -> bool:
    """Whether the person reads English (they chose the foreign-language topic)."""
    return bool(chat.intake.get("english"))


def priority_of(chat: Chat, *, arriving: datetime | None = None) -> int:
    """Return a waiting chat's priority in its window's queue, from its band and when it first arrived (or arrives now)."""
    arrived = chat.arrived_at or arriving or chat.opened_at
    return chat_priority(chat.band, int(arrived.timestamp() * 1000))


@dataclass(frozen=True, slots=True)
class _Where:
    """What the live state says about a chat whose questions are done: where it goes, its place there, the phones open now.

    `own_opens`: when the person's own topic's windows open, when it waits at a general window
    instead because none of those is open (None otherwise).
    """

    placement: Placement
    next_openings: tuple[NextOpening, ...]
    phones: list[tuple[str, str]]
    position: int = 0  # its place in the window's queue (1: next), when it queues
    own_opens: datetime | None = None


async def _where(runtime: Runtime, hub: ChatHub, chat: Chat, intake: Intake, now: datetime) -> _Where:
    """Ask the live state where a chat whose questions are done can wait (Redis only: called before the first write)."""
    snapshot = runtime.snapshot
    assert snapshot is not None  # the service runs only with a snapshot loaded
    contact = Contact(topic=intake.topic or "general", channel="sns", municipality=intake.municipality, prefecture=intake.prefecture)
    widened = await runtime.switchboard.look_widened(snapshot, contact, now)  # their topic's windows, or the general lines'
    decision = widened.decision
    waiting = await hub.queues.lengths([c.service_id for c in decision.candidates] + list(decision.full))
    placement = place_chat(decision, snapshot, waiting=waiting, tried=chat.tried)
    reached = replace(contact, topic=widened.via or contact.topic)
    phones = phones_open_now(snapshot, reached, now, runtime.settings.policy_for(reached.topic))
    position = 0
    if placement.kind == "queue" and placement.window is not None:
        position = await hub.queues.ahead(placement.window.id, priority_of(chat, arriving=now)) + 1
    own_opens = min((o.at for o in widened.own.next_openings), default=None) if widened.via else None
    return _Where(placement, widened.openings, phones, position, own_opens)


def _place(chat: Chat, intake: Intake, where: _Where, now: datetime, out: Outbound) -> list[Ask]:
    """The questions are done: put the chat where it waits (or close it, pointing elsewhere) and say so."""
    chat.topic, chat.prefecture, chat.lgcode, chat.age_band = intake.topic, intake.prefecture, intake.lgcode, intake.age_band
    placement, phones = where.placement, where.phones
    if placement.kind == "queue" and placement.window is not None:
        window = placement.window
        chat.status, chat.service_id, chat.org_id = "waiting", window.id, window.organization_id
        chat.arrived_at, chat.window_since = chat.arrived_at or now, now
        out.enqueue, out.desk_event = (window.id, priority_of(chat)), "waiting"
        minutes = likely_wait_minutes(where.position, window.capacity.get("sns", 1), minutes_per_contact=AVERAGE_CHAT_MINUTES)
        waiting = wording.waiting(where.position, minutes, phones, english=intake.english)
        if where.own_opens is not None and intake.topic is not None:
            waiting = f"{wording.topic_opens(intake.topic, where.own_opens, english=intake.english)}\n\n{waiting}"
        return [Ask(waiting)]
    chat.status, chat.closed_at = "closed", now
    out.desk_event, out.ended = "closed", True
    if placement.kind == "link":
        chat.close_reason = "own_sns"
        first = placement.links[0]
        return [Ask(wording.own_sns(first.name, first.sns_url, phones, english=intake.english))]
    chat.close_reason = "nothing_open"
    return [Ask(wording.closed(where.next_openings, phones, english=intake.english))]


async def settle(runtime: Runtime, hub: ChatHub, out: Outbound, *, reply_token: str | None = None) -> None:
    """After the commit: join, move in or leave the queue, tell the window's desk, and send the person what they are told.

    A reply token the answer does not use (the person wrote while waiting or talking) is kept for
    the counsellor's next message.
    """
    chat = out.chat
    if out.ended:
        count_end(runtime, chat)
    if out.leave is not None:
        await hub.queues.let_go(out.leave[0], chat.id, out.leave[1])
    if out.enqueue is not None:
        await hub.queues.enqueue(out.enqueue[0], chat.id, out.enqueue[1])
    if out.reprioritise is not None:
        await hub.queues.reprioritise(out.reprioritise[0], chat.id, out.reprioritise[1])
    await announce(runtime, chat, out.desk_event or "message")
    if out.messages:
        await deliver(runtime, hub, chat, out.messages, reply_token=reply_token, announced=True)
    elif reply_token is not None and chat.medium == "line" and chat.status != "closed":
        await stash_reply_token(runtime, chat.id, reply_token)
