"""Sign-in rate limits, counted in Redis: per account name and per client address.

`login_max_failures` wrong passwords for one name within `login_window_seconds` lock that name
for `login_lockout_seconds`; the same from one address, with the higher
`login_max_failures_per_address` (a call centre signs in from one address). Names that do not
exist are counted and locked exactly like real ones, so a lock tells nothing about an account.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from routing.settings import Settings

_PREFIX = "tsunagu:web:login"


def _scopes(settings: Settings, *, name: str, address: str) -> tuple[tuple[str, int], ...]:
    return (
        ("account:" + _digest(name), settings.login_max_failures),
        ("address:" + _digest(address), settings.login_max_failures_per_address),
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _failures_key(scope: str) -> str:
    return f"{_PREFIX}:failures:{scope}"


def _lock_key(scope: str) -> str:
    return f"{_PREFIX}:locked:{scope}"


async def is_locked(redis: Redis, settings: Settings, *, name: str, address: str) -> bool:
    """Return whether sign-in is locked for this name or this address."""
    return bool(await redis.exists(*(_lock_key(scope) for scope, _ in _scopes(settings, name=name, address=address))))


async def record_failure(redis: Redis, settings: Settings, *, name: str, address: str) -> bool:
    """Count a failed sign-in for the name and the address; returns whether either is now locked."""
    scopes = _scopes(settings, name=name, address=address)
    async with redis.pipeline(transaction=True) as pipe:
        for scope, _ in scopes:
            pipe.set(_failures_key(scope), 0, ex=settings.login_window_seconds, nx=True)  # the window starts at the first failure
            pipe.incr(_failures_key(scope))
        counts = (await pipe.execute())[1::2]
    reached = [scope for (scope, limit), count in zip(scopes, counts, strict=True) if int(count) >= limit]
    if reached:
        async with redis.pipeline(transaction=True) as pipe:
            for scope in reached:
                pipe.set(_lock_key(scope), 1, ex=settings.login_lockout_seconds)
                pipe.delete(_failures_key(scope))
            await pipe.execute()
    return bool(reached)


async def record_success(redis: Redis, *, name: str) -> None:
    """Forget an account's failures after it signed in (the address keeps its count)."""
    await redis.delete(_failures_key("account:" + _digest(name)))


async def unlock_account(redis: Redis, *, name: str) -> None:
    """Lift an account's lock and forget its failures (after an operator sets a new password)."""
    scope = "account:" + _digest(name)
    await redis.delete(_failures_key(scope), _lock_key(scope))
