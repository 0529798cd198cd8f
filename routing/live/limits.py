"""Rate limits in Redis: at most so many of something per window, counted across every worker (a fixed window)."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from routing.live.keys import rate_key


def scope_of(kind: str, identity: str) -> str:
    """Return a limit's scope for an identity that must not be stored as it is (a client address, a token): a hash."""
    return f"{kind}:{hashlib.sha256(identity.encode()).hexdigest()[:32]}"


async def within(redis: Redis, scope: str, *, limit: int, window_seconds: int) -> bool:
    """Count one more in the scope's current window; False when that is over the limit (the caller refuses it)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(rate_key(scope), 0, ex=window_seconds, nx=True)  # the window starts at the first (Redis 6.2 has no EXPIRE NX)
        pipe.incr(rate_key(scope))
        _, count = await pipe.execute()
    return int(count) <= limit
