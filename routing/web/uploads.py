"""An uploaded directory file, kept on the server between its preview and the staff member's confirmation.

The file is kept in Redis for UPLOAD_SECONDS under a random token, in a key that also carries the sign-in session's
key: the page sends back only the token, and a token from another session finds nothing. The file never travels in
a form field, so what is confirmed is exactly what was previewed. Confirming (or a new upload) forgets it.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from routing.web.sessions import WebSession

UPLOAD_PREFIX = "tsunagu:web:upload:"
UPLOAD_SECONDS = 30 * 60  # long enough to read a long preview; the file is kept no longer
TOKEN_FIELD = "upload"


@dataclass(frozen=True, slots=True)
class HeldFile:
    name: str  # the file's name as uploaded (it tells a sheet from HSDS JSON)
    data: bytes
    remove_absent: bool  # the uploader asked to remove their services absent from the file
    fingerprint: str  # what was stored when the preview was made (referral_directory.imports)


def _key(session: WebSession, token: str) -> str:
    return f"{UPLOAD_PREFIX}{session.key.rsplit(':', 1)[-1]}:{token}"


def _usable(token: str) -> bool:
    return 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()


async def hold_file(redis: Redis, session: WebSession, held: HeldFile, token: str | None = None) -> str:
    """Keep a file for the session (under a new token, or again under `token`); returns the token."""
    token = token if token is not None and _usable(token) else secrets.token_urlsafe(24)
    record = {
        "name": held.name,
        "data": base64.b64encode(held.data).decode("ascii"),  # the client reads text (decode_responses)
        "remove_absent": held.remove_absent,
        "fingerprint": held.fingerprint,
    }
    await redis.set(_key(session, token), json.dumps(record), ex=UPLOAD_SECONDS)
    return token


async def held_file(redis: Redis, session: WebSession, token: str) -> HeldFile | None:
    """Return the session's file kept under a token; None when there is none (expired, used, or another session's)."""
    if not _usable(token):
        return None
    raw = await redis.get(_key(session, token))
    if raw is None:
        return None
    record = json.loads(raw)
    return HeldFile(record["name"], base64.b64decode(record["data"]), bool(record["remove_absent"]), record["fingerprint"])


async def forget_file(redis: Redis, session: WebSession, token: str) -> None:
    """Forget a kept file (after it is stored)."""
    if _usable(token):
        await redis.delete(_key(session, token))
