"""Web sign-in sessions: a random id in a cookie; the staff id and CSRF token in Redis under the id's hash.

The cookie holds nothing but the id (256 bits from `secrets`); Redis holds it only hashed, so
someone reading Redis cannot sign in as anyone. A session ends after `session_idle_seconds`
without a request (the key's expiry, renewed by every request) and after
`session_absolute_seconds` in any case (a deadline stored with it). Each staff member's
sessions are indexed, so a new password signs them out everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from routing.settings import Settings

SESSION_PREFIX = "tsunagu:web:session:"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ID_LENGTH = 128  # a longer cookie is not ours: refuse it before hashing


@dataclass(frozen=True, slots=True)
class WebSession:
    key: str  # the Redis key: the id's hash, never the id
    staff_id: str
    csrf: str
    deadline: float  # epoch seconds: the absolute end


def cookies_secure(settings: Settings) -> bool:
    """Return whether cookies get the Secure flag: when the service is reached over HTTPS."""
    return settings.public_url.lower().startswith("https://")


def cookie_name(settings: Settings, base: str = "tsunagu_session") -> str:
    """Return a cookie's name; over HTTPS it carries the __Host- prefix (Secure, path /, no Domain: no subdomain can set it)."""
    return f"__Host-{base}" if cookies_secure(settings) else base


def session_key(session_id: str) -> str:
    """Return the Redis key of a session id (its SHA-256)."""
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _staff_index_key(staff_id: str) -> str:
    return f"tsunagu:web:staff-sessions:{staff_id}"


async def start_session(redis: Redis, settings: Settings, *, staff_id: str) -> tuple[str, WebSession]:
    """Open a session for a staff member; returns the new id (for the cookie alone) and the session."""
    session_id = secrets.token_urlsafe(32)
    session = WebSession(
        key=session_key(session_id),
        staff_id=staff_id,
        csrf=secrets.token_urlsafe(32),
        deadline=time.time() + settings.session_absolute_seconds,
    )
    record = json.dumps({"staff": session.staff_id, "csrf": session.csrf, "deadline": session.deadline})
    index = _staff_index_key(staff_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(session.key, record, ex=_idle_seconds(settings))
        pipe.sadd(index, session.key)
        pipe.expire(index, settings.session_absolute_seconds + _idle_seconds(settings))
        await pipe.execute()
    return session_id, session


async def load_session(redis: Redis, settings: Settings, session_id: str) -> WebSession | None:
    """Return the live session an id names, renewing its idle expiry; None when unknown or past its deadline."""
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return None
    key = session_key(session_id)
    raw = await redis.getex(key, ex=_idle_seconds(settings))
    if raw is None:
        return None
    record = json.loads(raw)
    session = WebSession(key=key, staff_id=record["staff"], csrf=record["csrf"], deadline=float(record["deadline"]))
    if time.time() >= session.deadline:
        await end_session(redis, session)
        return None
    return session


async def session_alive(redis: Redis, session: WebSession) -> bool:
    """Return whether a session still holds, without renewing its idle expiry (an open event stream is not activity)."""
    return time.time() < session.deadline and bool(await redis.exists(session.key))


async def end_session(redis: Redis, session: WebSession) -> None:
    """Delete a session on the server: its cookie signs in to nothing from now on."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(session.key)
        pipe.srem(_staff_index_key(session.staff_id), session.key)
        await pipe.execute()


async def end_all_sessions(redis: Redis, staff_id: str) -> int:
    """Delete every session of a staff member (after a password change); returns how many were live."""
    index = _staff_index_key(staff_id)
    keys = list(await redis.smembers(index))
    ended = await redis.delete(*keys) if keys else 0
    await redis.delete(index)
    return int(ended)


def csrf_matches(session: WebSession, submitted: str | None) -> bool:
    """Return whether a submitted CSRF token is the session's (compared in constant time)."""
    return hmac.compare_digest(session.csrf.encode(), (submitted or "").encode())


def _idle_seconds(settings: Settings) -> int:
    return max(1, min(settings.session_idle_seconds, settings.session_absolute_seconds))
