"""One worker at a time: a lock in Redis, held for one run of a periodic job (the callback dispatcher, the chat keeper).

Every worker runs the loop; the one that takes the lock does the work, the others skip that
round. The lock expires on its own, so a worker that dies mid-run stops nobody for longer than that.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis


@asynccontextmanager
async def leading(redis: Redis, key: str, *, hold_ms: int) -> AsyncIterator[bool]:
    """Yield whether this worker leads this round (took the lock); let the lock go after the round if it did."""
    token = secrets.token_hex(8)
    led = bool(await redis.set(key, token, nx=True, px=hold_ms))
    try:
        yield led
    finally:
        if led and await redis.get(key) == token:
            await redis.delete(key)
