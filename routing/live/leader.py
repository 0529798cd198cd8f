"""One worker at a time: locks in Redis for the periodic work.

`leads_round` is the lock every background loop takes (routing/jobs.py): one process in the whole
deployment runs each round of a loop, however many workers and `jobs` processes run it.
`leading` is the narrower lock some jobs also take inside (the callback dispatcher, the chat
keeper), so that a direct call (a test, a drill) never runs beside a round.

While a round runs, its lock lives only `LEASE_SECONDS` at a time and is renewed by its holder,
up to the round's `hold`. So a lock whose holder is gone stops nobody for long: not when the
process died mid-round, and not when Redis itself was killed mid-round and came back from its
append-only file with the lock in it (a lock set for the whole `hold`, 30 s to 10 min, would
then have stopped the call records' drainer or the reconciler for that long after the restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

LEASE_SECONDS = 5.0  # the longest a lock outlives its holder while a round runs (renewed every third of it)

# Set the lock's time to live (or delete it when ARGV[2] <= 0), only if it is still ours: another may hold it once it expired.
_KEEP_FOR = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


def round_lock(name: str) -> str:
    """Return the Redis key of a background loop's round lock."""
    return f"tsunagu:loop:{name}"


@asynccontextmanager
async def _renewed(redis: Redis, key: str, token: str, *, hold: float) -> AsyncIterator[None]:
    """Renew a lock we took (for `LEASE_SECONDS` at a time) while the block runs, for `hold` seconds at most."""

    async def renew() -> None:
        until, every = time.monotonic() + hold, LEASE_SECONDS / 3
        while time.monotonic() + every < until:
            await asyncio.sleep(every)
            try:
                if not await redis.eval(_KEEP_FOR, 1, key, token, int(LEASE_SECONDS * 1000)):
                    return  # no longer ours
            except RedisError:
                continue  # Redis away: the lock may be gone with it; try again next time

    renewing = asyncio.create_task(renew(), name=f"renew {key}")
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing


@asynccontextmanager
async def leading(redis: Redis, key: str, *, hold_ms: int) -> AsyncIterator[bool]:
    """Yield whether this worker leads this round (took the lock, held for `hold_ms` at most); let it go after the round."""
    token = secrets.token_hex(8)
    led = bool(await redis.set(key, token, nx=True, px=min(hold_ms, int(LEASE_SECONDS * 1000))))
    if not led:
        yield False
        return
    try:
        async with _renewed(redis, key, token, hold=hold_ms / 1000):
            yield True
    finally:
        await redis.eval(_KEEP_FOR, 1, key, token, 0)


async def leads_round(redis: Redis, name: str, work: Callable[[], Awaitable[object]], *, every: float, hold: float) -> bool:
    """Run one round of a loop if no other process ran it within `every` seconds (nor runs it now); return whether it ran here.

    The lock is held while the work runs (renewed up to `hold` seconds, so a stuck holder frees it) and
    kept after it until the round's period is over, so the round runs once in the deployment, not once
    per worker. A round that fails lets the lock go at once: the next check anywhere tries again.
    """
    key, token = round_lock(name), secrets.token_hex(8)
    every_ms = int(every * 1000)
    if not await redis.set(key, token, nx=True, px=max(every_ms, int(min(hold, LEASE_SECONDS) * 1000))):
        return False
    started = time.monotonic()
    try:
        async with _renewed(redis, key, token, hold=hold):
            await work()
    except BaseException:
        await redis.eval(_KEEP_FOR, 1, key, token, 0)
        raise
    # A little less than the period: the next check comes a period after this one ended, and must find the round due.
    left_ms = every_ms - int((time.monotonic() - started) * 1000) - int(every_ms * 0.1)
    await redis.eval(_KEEP_FOR, 1, key, token, left_ms)
    return True
