"""The audit log: append-only and hash-chained, so a row changed or removed afterwards is found.

Every read and change of a case and every directory change appends one event inside the
caller's transaction, so the event commits or rolls back with what it records. An event
says who (`actor`) did what (`action`) to which resource, when, plus a small `detail` of
ids, field names and reason codes: never personal data (no phone numbers, names, note
text; docs/design.md, "Confidentiality").

The chain. Event n stores `prev_hash`, the `hash` of event n-1 (event 1: GENESIS_HASH),
and its own `hash` over a canonical JSON of all its other fields, `seq` and `prev_hash`
included. A changed row no longer matches its hash; a removed row leaves a gap in `seq`; a
moved or replaced row breaks the next row's `prev_hash`. One more row, the chain head
(`audit_head`), holds the newest link: every append locks it first, so two transactions
can never take the same seq or fork the chain, and `verify` compares it with the log's
last row to notice the newest events being cut off.

Why an HMAC rather than a plain SHA-256. A plain hash chain catches accidents and partial
edits, but whoever can write the table can recompute every hash after their edit and
leave a chain that verifies. Here the hash is an HMAC-SHA256 under a key derived from
TSUNAGU_SECRET_KEY, so rewriting the log needs the secret as well as the database: a
database backup, a database administrator or an SQL injection alone cannot forge it. Each
row stores the id of the key that made it (a fingerprint, not the key), so after the
secret is changed `verify` says "made with another key" rather than "changed".

The key reaches appends through the session factory (`bind_key`, called where the factory
is built). A session without a bound key chains with a plain SHA-256 (key id "none");
`verify` accepts such events only before the first keyed one, so a keyed chain can be
neither continued nor rewritten without the key.

Limits: someone holding both the database and the secret key can rewrite the whole log;
and deleting the newest events while also rolling the chain head back is caught only by
comparing the head hash that `tsunagu audit verify` prints with one recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from sqlalchemy import DateTime, Dialect, Row, String, Text, cast, insert, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import TypeDecorator

from referral_directory.errors import TsunaguError
from referral_directory.models import AuditEvent, AuditHead, utcnow
from referral_directory.storage.db import table_of

GENESIS_HASH = "0" * 64  # the prev_hash of event 1 (migration 0004 seeds the chain head with it)
UNKEYED = "none"  # key id of an event hashed with a plain SHA-256
PAGE_SIZE = 1000  # rows per query when verifying: memory stays flat however long the log
ONE_STATEMENT_ROWS = 100  # events appended with the head's move in one statement on PostgreSQL (10 parameters each)
MAX_DETAIL_TEXT = 64  # detail holds ASCII codes and ids; a longer or Japanese string is likely free text, which never belongs here
_KEY_INFO = "tsunagu.audit_key"
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_PHONE_SHAPED = re.compile(r"\+?\d[\d ()-]{8,}\d")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditHead)


class Action(StrEnum):
    """Actions known so far; any dotted lower-case name is accepted, these are the ones in use."""

    ORGANIZATION_CREATE = "directory.organization.create"
    ORGANIZATION_UPDATE = "directory.organization.update"
    ORGANIZATION_DELETE = "directory.organization.delete"
    SERVICE_CREATE = "directory.service.create"
    SERVICE_UPDATE = "directory.service.update"
    SERVICE_DELETE = "directory.service.delete"
    CASE_READ = "case.read"
    CASE_UPDATE = "case.update"
    REFERRAL_CREATE = "referral.create"
    CONSENT_EXCEPTION = "consent.exception"


class AuditError(TsunaguError):
    """The audit log cannot be appended to; the change it would record is refused with it."""

    status_code = 500


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The chain's HMAC key and its public id."""

    id: str
    secret: bytes = field(repr=False)


class Link(NamedTuple):
    """A position in the chain: an event's seq and hash."""

    seq: int
    hash: str


GENESIS = Link(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class Entry:
    """What a caller appends: who did what to which resource, when, with ids and codes as detail."""

    actor: str
    action: str
    resource_kind: str
    resource_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if not self.actor or not self.resource_id or len(self.resource_id) > 64:
            raise ValueError("an audit entry needs an actor and a resource id of at most 64 characters")
        for name, value, limit in (("action", self.action, 64), ("resource_kind", self.resource_kind, 32)):
            if not _NAME.fullmatch(value) or len(value) > limit:
                raise ValueError(f"audit {name} {value!r} must be a dotted lower-case name of at most {limit} characters")
        if self.at.utcoffset() is None:
            raise ValueError("an audit entry's time must be aware (UTC)")
        object.__setattr__(self, "action", str(self.action))  # a plain string, also when given an Action
        object.__setattr__(self, "detail", _checked_detail(self.detail))
        object.__setattr__(self, "at", self.at.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Event:
    """One stored link of the chain: an entry with its seq, key id and hashes."""

    seq: int
    at: datetime
    actor: str
    action: str
    resource_kind: str
    resource_id: str
    detail: Any  # a dict as written; whatever the column holds when read back
    key_id: str
    prev_hash: str
    hash: str


BreakKind = Literal[
    "changed", "missing", "relinked", "out_of_order", "unknown_key", "unkeyed", "truncated", "beyond_head", "head_changed", "head_missing"
]


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken link: the seq where the chain stops holding, and what is wrong there."""

    seq: int
    action: str | None  # the action stored at that seq; None when that row is gone
    kind: BreakKind
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    """How far the chain holds: events checked, the last good link, and the first break if any."""

    events: int = 0
    last_seq: int = 0
    head_hash: str = GENESIS_HASH
    unkeyed: int = 0
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


# --- pure: keys, hashes, chaining, checking -------------------------------------------------------


def key_from_secret(secret_key: str) -> AuditKey:
    """Return the audit key derived from TSUNAGU_SECRET_KEY, with a fingerprint as its id."""
    secret = hmac.new(secret_key.encode(), b"audit-chain", hashlib.sha256).digest()
    return AuditKey(id=hmac.new(secret, b"audit-key-id", hashlib.sha256).hexdigest()[:12], secret=secret)


def canonical(event: Event) -> bytes:
    """Return the bytes an event's hash covers: every field but the hash, as sorted, compact ASCII JSON."""
    covered = {f.name: getattr(event, f.name) for f in fields(Event) if f.name != "hash"}
    covered["at"] = event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def event_hash(event: Event, key: AuditKey | None) -> str:
    """Return the event's hash: HMAC-SHA256 under the key, or plain SHA-256 without one."""
    data = canonical(event)
    return hmac.new(key.secret, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


def chain(entries: Iterable[Entry], *, after: Link, key: AuditKey | None) -> list[Event]:
    """Return the entries as events linked one after another, the first after `after`."""
    events: list[Event] = []
    seq, prev_hash = after
    for entry in entries:
        seq += 1
        unsealed = Event(
            seq=seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            resource_kind=entry.resource_kind,
            resource_id=entry.resource_id,
            detail=dict(entry.detail),
            key_id=key.id if key else UNKEYED,
            prev_hash=prev_hash,
            hash="",
        )
        events.append(replace(unsealed, hash=event_hash(unsealed, key)))
        prev_hash = events[-1].hash
    return events


def check_event(state: Verification, event: Event, keys: Mapping[str, AuditKey]) -> Verification:
    """Return the state after one more event: advanced when it links on, with `broken` set when not."""

    def broken(kind: BreakKind, message: str) -> Verification:
        return replace(state, broken=Break(event.seq, event.action, kind, message))

    if malformed := _malformed(event):
        action = event.action if isinstance(event.action, str) else None
        return replace(state, broken=Break(event.seq, action, "changed", f"{malformed}: the row was changed after it was written"))
    expected = state.last_seq + 1
    if event.seq < expected:
        return broken("out_of_order", f"it comes after seq {state.last_seq}: the log is out of order")
    if event.seq > expected:
        gone = event.seq - expected
        which = f"seq {expected} is" if gone == 1 else f"seq {expected}–{event.seq - 1} are"
        return broken("missing", f"{which} missing: {gone} event(s) before it were removed")
    key = None if event.key_id == UNKEYED else keys.get(event.key_id)
    if event.key_id == UNKEYED and state.events > state.unkeyed:
        return broken("unkeyed", "it carries a plain hash after keyed events: it was rewritten by someone without the audit key")
    if event.key_id != UNKEYED and key is None:
        known = ", ".join(keys) or "none"
        return broken(
            "unknown_key",
            f"its hash was made with audit key {event.key_id}, not with the configured key ({known}): "
            "was TSUNAGU_SECRET_KEY changed, or was the row forged?",
        )
    try:
        matches = hmac.compare_digest(event_hash(event, key), event.hash)
    except ValueError:  # a detail no event holds (NaN, 1e999): it cannot even be hashed
        matches = False
    if not matches:
        return broken("changed", "its content does not match its hash: the row was changed after it was written")
    if not hmac.compare_digest(event.prev_hash, state.head_hash):
        return broken(
            "relinked",
            f"its prev_hash is not the hash of seq {state.last_seq}: seq {state.last_seq} was replaced, "
            "or events were removed or inserted before it",
        )
    return replace(state, events=state.events + 1, last_seq=event.seq, head_hash=event.hash, unkeyed=state.unkeyed + (key is None))


_TEXT_FIELDS = ("actor", "action", "resource_kind", "resource_id", "key_id", "prev_hash", "hash")


def _malformed(event: Event) -> str:
    """Return what no appended event can hold, as read back (a value of the wrong type, such as an `at` that is no time); '' if none."""
    if not isinstance(event.at, datetime):
        return f"its at is {_shown(event.at)}, not a time"
    wrong = next((name for name in _TEXT_FIELDS if not isinstance(getattr(event, name), str)), None)
    return f"its {wrong} is {_shown(getattr(event, wrong))}, not a text" if wrong else ""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_chain(events: Iterable[Event], *, keys: Mapping[str, AuditKey], start: Verification = Verification()) -> Verification:
    """Return the state after checking the events in order from `start`, stopping at the first break."""
    state = start
    for event in events:
        state = check_event(state, event, keys)
        if state.broken:
            break
    return state


def check_head(state: Verification, head: Link | None) -> Verification:
    """Return the state after comparing the chain head row with the last event checked."""
    last = state.last_seq
    if head is None:
        problem = Break(last + 1, None, "head_missing", "the chain head row is missing: appends fail until it is restored")
    elif not (isinstance(head.seq, int) and isinstance(head.hash, str)):
        problem = Break(
            last, None, "head_changed", f"the chain head holds seq {_shown(head.seq)} and hash {_shown(head.hash)}: the head was rewritten"
        )
    elif head.seq > last:
        problem = Break(
            last + 1,
            None,
            "truncated",
            f"the chain head records seq {head.seq}, but the log ends at seq {last}: the newest {head.seq - last} event(s) were removed",
        )
    elif head.seq < last:
        problem = Break(
            head.seq + 1,
            None,
            "beyond_head",
            f"the chain head records seq {head.seq}, but the log goes on to seq {last}: "
            "rows were added outside the audit log, or the head was rolled back",
        )
    elif not hmac.compare_digest(head.hash, state.head_hash):
        problem = Break(last, None, "head_changed", f"the chain head's hash is not that of seq {last}: the head or that row was rewritten")
    else:
        return state
    return replace(state, broken=problem)


def _checked_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Return the detail as a plain dict; refuse what is not a flat map of short codes, ids and whole numbers."""

    def scalar(value: object) -> bool:
        if isinstance(value, str):
            phone_shaped = _PHONE_SHAPED.fullmatch(value) and not _UUID.fullmatch(value)
            return value.isascii() and len(value) <= MAX_DETAIL_TEXT and not phone_shaped
        return value is None or isinstance(value, (bool, int))

    for name, value in detail.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if not (isinstance(name, str) and _NAME.fullmatch(name) and all(scalar(v) for v in values)):
            raise ValueError(
                f"audit detail {name!r} must be a code, id, whole number or a list of them (ASCII strings of at most "
                f"{MAX_DETAIL_TEXT} characters): never free text, phone numbers or other personal data"
            )
    return {name: list(value) if isinstance(value, tuple) else value for name, value in detail.items()}


# --- I/O: appending and verifying inside a session -------------------------------------------------


def bind_key(sessions: async_sessionmaker[AsyncSession], key: AuditKey) -> None:
    """Make every session from this factory chain its appends under the key; call it where the factory is built."""
    sessions.configure(info={**sessions.kw.get("info", {}), _KEY_INFO: key})


def bound_key(session: AsyncSession) -> AuditKey | None:
    """Return the audit key bound to the session's factory, if any."""
    return session.info.get(_KEY_INFO)


async def append(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    resource_kind: str,
    resource_id: str,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one event in the session's transaction; it commits or rolls back with the caller's change."""
    entry = Entry(actor=actor, action=action, resource_kind=resource_kind, resource_id=resource_id, detail=detail or {}, at=at or utcnow())
    return (await append_many(session, [entry]))[0]


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> list[Event]:
    """Append events in order in the session's transaction, taking the chain head's lock once for all of them.

    The lock (an UPDATE of the head row) is held until the caller's transaction ends, so
    concurrent appenders queue behind it: on PostgreSQL the row lock, under the default
    READ COMMITTED, after which the head's newest committed value is returned; on SQLite
    the database's single write lock. On PostgreSQL a few events and the head's move go in one
    statement (a writable CTE), one round trip fewer while other appenders wait; a directory
    import's thousands go as a batch, since one statement takes at most 32,767 parameters.
    """
    if not entries:
        return []
    events = chain(entries, after=await _lock_head(session), key=bound_key(session))
    rows = [{f.name: getattr(e, f.name) for f in fields(Event)} for e in events]
    move_head = update(_HEAD).where(_HEAD.c.id == 1).values(seq=events[-1].seq, hash=events[-1].hash)
    if session.get_bind().dialect.name == "postgresql" and len(rows) <= ONE_STATEMENT_ROWS:
        appended = insert(_EVENTS).values(rows[0] if len(rows) == 1 else rows)  # one row's statement is compiled once and cached
        await session.execute(move_head.add_cte(appended.cte("appended")))
    else:  # SQLite has no writable CTE (its statements run inline while the write lock is held: sqlite_connection.py)
        await session.execute(insert(_EVENTS), rows)
        await session.execute(move_head)
    return events


async def verify(session: AsyncSession, *, keys: Iterable[AuditKey] = (), page_size: int = PAGE_SIZE) -> Verification:
    """Check the whole log in seq order, a page at a time, then the chain head; return how far it holds."""
    bound = bound_key(session)
    ring = {key.id: key for key in (*keys, *([bound] if bound else []))}
    state = Verification()
    while not state.broken:
        page = await _events_after(session, state.last_seq, page_size)
        if page:
            state = check_chain(page, keys=ring, start=state)
            continue
        head = await _head(session)
        if head is not None and isinstance(head.seq, int) and head.seq > state.last_seq and await _events_after(session, state.last_seq, 1):
            continue  # appended while we were reading: the head and its event commit together
        return check_head(state, head)
    return state


async def _lock_head(session: AsyncSession) -> Link:
    locked = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq).returning(_HEAD.c.seq, _HEAD.c.hash)
    row = (await session.execute(locked)).one_or_none()
    if row is None:
        raise AuditError("the audit log's chain head is missing, so nothing can be recorded; run `tsunagu audit verify` and restore it")
    return Link(row.seq, row.hash)


async def _head(session: AsyncSession) -> Link | None:
    row = (await session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1))).one_or_none()
    return Link(row.seq, row.hash) if row else None


async def _events_after(session: AsyncSession, seq: int, limit: int) -> list[Event]:
    # Every column is read as stored, whatever it holds: the detail as its text (not even JSON is then a mismatch), `at` as
    # a time when it reads as one; a tampered value of the wrong type is then a broken link, never a crash.
    columns = [_as_stored(c) for c in _EVENTS.columns]
    query = select(*columns).where(_EVENTS.c.seq > seq).order_by(_EVENTS.c.seq).limit(limit)
    return [_event(row) for row in (await session.execute(query)).all()]


class _StoredInstant(TypeDecorator[Any]):
    """A time column read as the dialect reads DateTime, or, when that fails (a tampered value), as the raw value."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        read = DateTime().dialect_impl(dialect).result_processor(dialect, None)
        try:
            return read(value) if read else value
        except (ValueError, TypeError):
            return value


def _as_stored(column: Any) -> Any:
    if column.name == "detail":
        return cast(column, Text).label(column.name)
    if column.name == "at":
        return type_coerce(column, _StoredInstant()).label(column.name)
    return column


def _event(row: Row[Any]) -> Event:
    values = row._asdict()
    try:
        values["detail"] = json.loads(values["detail"])
    except (ValueError, TypeError, RecursionError):
        pass  # kept as stored: its hash will not match
    return Event(**values)
