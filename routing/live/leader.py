"""One worker at a time: locks in Redis for the periodic work.

`leads_round` is the lock every background loop takes (routing/jobs.py): one process in the whole
deployment runs each round of a loop, however many workers and `jobs` processes run it.
`leading` is the narrower lock some jobs also take inside (the callback dispatcher, the chat
keeper), so that a direct call (a test, a drill) never runs beside a round. Both locks expire on
their own, so a worker that dies mid-run stops nobody for longer than that.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from redis.asyncio import Redis

# Shorten the lock to the rest of its round, only if it is still ours (another may hold it once it expired).
_KEEP_FOR = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


def round_lock(name: str) -> str:
    """Return the Redis key of a background loop's round lock."""
    return f"tsunagu:loop:{name}"


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


async def leads_round(redis: Redis, name: str, work: Callable[[], Awaitable[object]], *, every: float, hold: float) -> bool:
    """Run one round of a loop if no other process ran it within `every` seconds (nor runs it now); return whether it ran here.

    The lock is held while the work runs (at most `hold` seconds, so a dead holder frees it) and kept
    after it until the round's period is over, so the round runs once in the deployment, not once per
    worker. A round that fails lets the lock go at once: the next check anywhere tries again.
    """
    key, token = round_lock(name), secrets.token_hex(8)
    every_ms = int(every * 1000)
    if not await redis.set(key, token, nx=True, px=max(every_ms, int(hold * 1000))):
        return False
    started = time.monotonic()
    try:
        await work()
    except BaseException:
        await redis.eval(_KEEP_FOR, 1, key, token, 0)
        raise
    # A little less than the period: the next check comes a period after this one ended, and must find the round due.
    left_ms = every_ms - int((time.monotonic() - started) * 1000) - int(every_ms * 0.1)
    await redis.eval(_KEEP_FOR, 1, key, token, left_ms)
    return True
