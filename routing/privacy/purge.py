"""Retention: empty the identifying fields whose time is up; the rows, and the statistics they carry, stay.

What goes, and when (times from the service clock, so drills and tests can move it):

- a callback number, TSUNAGU_CALLBACK_RETENTION_DAYS (30) after the request was made, whatever
  became of it; a request still waiting by then can no longer be called back and is marked
  `expired`;
- a case's contact details, its notes and the reasons of its life-safety exceptions, once the
  case has been idle for TSUNAGU_NOTE_RETENTION_DAYS (90): measured from the case's last
  activity, the latest of its `updated_at`, its newest note and its newest exception. A case
  still being worked on keeps what its counsellors need; who recorded an exception, and when,
  stay for the audit report;
- callers' pseudonyms, TSUNAGU_PSEUDONYM_RETENTION_DAYS (365) after the call ended or the case
  was last active (the same measure as above). A year, because recognising a repeat caller
  matters across the seasons that bring people back (年末年始, anniversaries, the school year),
  and the yearly statistics count repeat callers; past that, the link serves nobody and is only
  a risk. Destroying an old pseudonym key (`tsunagu keys destroy`) cuts the link sooner.

- a chat's messages and the sealed LINE user id it was sent with, once the chat has been closed
  for TSUNAGU_NOTE_RETENTION_DAYS and its case (if it has one) is idle as long, as notes go; the
  person's pseudonym on the chat, TSUNAGU_PSEUDONYM_RETENTION_DAYS after it closed.

A case or a chat that lost anything gets `purged_at`. Running it again changes nothing (idempotent). Each
real run appends one audit event with the counts, in the same transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import ColumnElement, CursorResult, Table, Update, and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from referral_directory.staff import audit
from referral_directory.storage import db, sqlite_connection
from routing.cases.models import Case, CaseNote, SafetyException
from routing.chats.models import Chat, ChatMessage
from routing.live.keys import PURGE_LOCK
from routing.runtime import Runtime
from routing.settings import Settings
from routing.telephony.records import CallbackRequest, CallRecord

log = structlog.get_logger("tsunagu.purge")
CHECK_SECONDS = 60.0  # how often each worker asks whether a scheduled purge is due
ACTION = "retention.purge"

_CASE = db.table_of(Case)
_NOTE = db.table_of(CaseNote)
_EXCEPTION = db.table_of(SafetyException)
_CALL = db.table_of(CallRecord)
_CALLBACK = db.table_of(CallbackRequest)
_CHAT = db.table_of(Chat)
_MESSAGE = db.table_of(ChatMessage)


@dataclass(frozen=True)
class Retention:
    """How long each kind of identifying field is kept."""

    notes: timedelta
    callbacks: timedelta
    pseudonyms: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """Return the retention periods configured."""
        return cls(
            notes=timedelta(days=settings.note_retention_days),
            callbacks=timedelta(days=settings.callback_retention_days),
            pseudonyms=timedelta(days=settings.pseudonym_retention_days),
        )


@dataclass(frozen=True)
class Cutoffs:
    """The instants before which each kind of field is due."""

    notes: datetime
    callbacks: datetime
    pseudonyms: datetime


def cutoffs(now: datetime, retention: Retention) -> Cutoffs:
    """Return what is due at `now`: everything whose time lies before these instants."""
    return Cutoffs(notes=now - retention.notes, callbacks=now - retention.callbacks, pseudonyms=now - retention.pseudonyms)


@dataclass(frozen=True)
class Rule:
    """One identifying field: the rows where it is due, and what it becomes."""

    field: str  # `table.column`, as reported
    table: Table
    values: dict[str, Any]
    due: ColumnElement[bool]


def _idle_since(cutoff: datetime) -> ColumnElement[bool]:
    """True for a case (row of case_file) with no activity since the cutoff: no update, no note, no exception."""
    note, exception = _NOTE.alias("recent_note"), _EXCEPTION.alias("recent_exception")
    recent_note = select(literal(1)).where(note.c.case_id == _CASE.c.id, note.c.at >= cutoff).correlate(_CASE).exists()
    recent_exception = select(literal(1)).where(exception.c.case_id == _CASE.c.id, exception.c.at >= cutoff).correlate(_CASE).exists()
    return and_(_CASE.c.updated_at < cutoff, ~recent_note, ~recent_exception)


def _of_idle_case(table: Table, cutoff: datetime) -> ColumnElement[bool]:
    return table.c.case_id.in_(select(_CASE.c.id).where(_idle_since(cutoff)))


def _chat_done(cutoff: datetime) -> ColumnElement[bool]:
    """True for a chat (row of chat) closed before the cutoff whose case, if any, has been idle since."""
    idle_case = _CHAT.c.case_id.in_(select(_CASE.c.id).where(_idle_since(cutoff)))
    return and_(_CHAT.c.closed_at.is_not(None), _CHAT.c.closed_at < cutoff, or_(_CHAT.c.case_id.is_(None), idle_case))


def _chat_rules(cut: Cutoffs) -> tuple[Rule, ...]:
    done_chats = select(_CHAT.c.id).where(_chat_done(cut.notes))
    return (
        Rule(
            "chat_message.body_sealed",
            _MESSAGE,
            {"body_sealed": ""},
            and_(_MESSAGE.c.body_sealed != "", _MESSAGE.c.chat_id.in_(done_chats)),
        ),
        Rule("chat.address_sealed", _CHAT, {"address_sealed": ""}, and_(_CHAT.c.address_sealed != "", _chat_done(cut.notes))),
        Rule(
            "chat.person_ref",
            _CHAT,
            {"person_ref": None},
            and_(_CHAT.c.person_ref.is_not(None), _CHAT.c.closed_at.is_not(None), _CHAT.c.closed_at < cut.pseudonyms),
        ),
    )


def chats_losing_something(cut: Cutoffs) -> ColumnElement[bool]:
    """True for a chat that one of the rules takes something from: it gets `purged_at`."""
    message = _MESSAGE.alias("held_message")
    holds_text = select(literal(1)).where(message.c.chat_id == _CHAT.c.id, message.c.body_sealed != "").correlate(_CHAT).exists()
    return or_(
        and_(_chat_done(cut.notes), or_(_CHAT.c.address_sealed != "", holds_text)),
        and_(_CHAT.c.person_ref.is_not(None), _CHAT.c.closed_at.is_not(None), _CHAT.c.closed_at < cut.pseudonyms),
    )


def rules(cut: Cutoffs) -> tuple[Rule, ...]:
    """Return the purge rules at these cutoffs (SQL conditions only: nothing runs here)."""
    waiting = _CALLBACK.c.status.in_(("pending", "calling"))
    return (
        Rule(
            "callback_request.number_sealed",
            _CALLBACK,
            {"number_sealed": "", "status": case((waiting, "expired"), else_=_CALLBACK.c.status)},
            and_(_CALLBACK.c.number_sealed != "", _CALLBACK.c.created_at < cut.callbacks),
        ),
        Rule(
            "call_record.caller_pseudonym",
            _CALL,
            {"caller_pseudonym": ""},
            and_(_CALL.c.caller_pseudonym != "", _CALL.c.ended_at < cut.pseudonyms),
        ),
        Rule("case_file.contact_sealed", _CASE, {"contact_sealed": ""}, and_(_CASE.c.contact_sealed != "", _idle_since(cut.notes))),
        Rule("case_note.body_sealed", _NOTE, {"body_sealed": ""}, and_(_NOTE.c.body_sealed != "", _of_idle_case(_NOTE, cut.notes))),
        Rule(
            "safety_exception.why_sealed",
            _EXCEPTION,
            {"why_sealed": ""},
            and_(_EXCEPTION.c.why_sealed != "", _of_idle_case(_EXCEPTION, cut.notes)),
        ),
        Rule(
            "case_file.caller_pseudonym",
            _CASE,
            {"caller_pseudonym": None},
            and_(_CASE.c.caller_pseudonym.is_not(None), _CASE.c.caller_pseudonym != "", _idle_since(cut.pseudonyms)),
        ),
        *_chat_rules(cut),
    )


def cases_losing_something(cut: Cutoffs) -> ColumnElement[bool]:
    """True for a case that one of the rules takes something from: it gets `purged_at`."""
    note, exception = _NOTE.alias("held_note"), _EXCEPTION.alias("held_exception")
    holds_note = select(literal(1)).where(note.c.case_id == _CASE.c.id, note.c.body_sealed != "").correlate(_CASE).exists()
    holds_reason = select(literal(1)).where(exception.c.case_id == _CASE.c.id, exception.c.why_sealed != "").correlate(_CASE).exists()
    return or_(
        and_(_idle_since(cut.notes), or_(_CASE.c.contact_sealed != "", holds_note, holds_reason)),
        and_(_CASE.c.caller_pseudonym.is_not(None), _CASE.c.caller_pseudonym != "", _idle_since(cut.pseudonyms)),
    )


@dataclass(frozen=True)
class Purged:
    """What a purge run emptied (or, dry, would empty): counts per field, and cases marked purged."""

    at: datetime
    counts: dict[str, int]
    cases: int
    dry_run: bool = False
    chats: int = 0

    @property
    def total(self) -> int:
        """Return how many fields were (or would be) emptied."""
        return sum(self.counts.values())


async def purge(session: AsyncSession, *, now: datetime, retention: Retention, dry_run: bool = False) -> Purged:
    """Empty every identifying field that is due at `now` (count them only, when dry), in the session's transaction."""
    cut = cutoffs(now, retention)
    marked, chats_marked = cases_losing_something(cut), chats_losing_something(cut)
    if dry_run:
        cases, chats = await _count(session, _CASE, marked), await _count(session, _CHAT, chats_marked)
        counts = {rule.field: await _count(session, rule.table, rule.due) for rule in rules(cut)}
        return Purged(now, counts, cases, dry_run=True, chats=chats)
    # Before the rules empty what these look at.
    chats = await _updated(session, update(_CHAT).where(chats_marked).values(purged_at=now))
    cases = await _updated(session, update(_CASE).where(marked).values(purged_at=now))
    counts = {}
    for rule in rules(cut):
        counts[rule.field] = await _updated(session, update(rule.table).where(rule.due).values(rule.values))
    return Purged(now, counts, cases, chats=chats)


async def _updated(session: AsyncSession, statement: Update) -> int:
    """Run an UPDATE and return how many rows it changed."""
    # An UPDATE executes to a CursorResult (which has rowcount); Session.execute is typed as returning a Result.
    return cast(CursorResult[Any], await session.execute(statement)).rowcount


async def _count(session: AsyncSession, table: Table, where: ColumnElement[bool]) -> int:
    return (await session.execute(select(func.count()).select_from(table).where(where))).scalar_one()


async def purge_now(
    sessions: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime, actor: str, dry_run: bool = False
) -> Purged:
    """Run one purge at `now` (the service clock's time) and, unless dry, append its audit event in the same transaction.

    On SQLite its statements run on the connection's thread: a purge of a large database is long, and
    the event loop that answers calls must not wait for it.
    """
    with sqlite_connection.on_its_thread():
        async with db.transaction(sessions) as session:
            result = await purge(session, now=now, retention=Retention.from_settings(settings), dry_run=dry_run)
            if not dry_run:
                await audit.append(
                    session,
                    actor=actor,
                    action=ACTION,
                    resource_kind="retention",
                    resource_id=str(uuid.uuid4()),
                    detail={**result.counts, "cases_marked": result.cases, "chats_marked": result.chats},
                    at=result.at,
                )
    return result


async def purge_if_due(runtime: Runtime) -> Purged | None:
    """Run the scheduled purge unless another worker ran it within TSUNAGU_PURGE_EVERY_SECONDS; None when not due here."""
    token = secrets.token_hex(8)
    every_ms = max(1, int(runtime.settings.purge_every_seconds * 1000))
    if not await runtime.redis.set(PURGE_LOCK, token, nx=True, px=every_ms):  # kept after the run: it marks the next one due
        return None
    try:
        result = await purge_now(runtime.sessions, settings=runtime.settings, now=runtime.clock.now(), actor="system:purge")
    except BaseException:
        if await runtime.redis.get(PURGE_LOCK) == token:
            await runtime.redis.delete(PURGE_LOCK)  # failed: let a worker try again at its next check
        raise
    log.info("purged", cases=result.cases, fields=result.total, **{name.replace(".", "_"): n for name, n in result.counts.items()})
    return result
