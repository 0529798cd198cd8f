"""Chats in Redis: each window's priority queue, and the chats each counsellor holds, with slots claimed in the same step.

The rules (priority by band with ageing, a counsellor's cap) are in routing/contacts/rules.py and
the chat desk; this module applies them atomically across every worker. Keys are named in
routing/live/keys.py. Members are chat ids (random), never anything about the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from routing.live.keys import CHAT_LEASE_PREFIX, chat_lease, chat_queue_key, counsellor_chats_key, slot_key
from routing.live.state import LiveState

SNS = "sns"
Taken = Literal["taken", "none_waiting", "at_cap", "windows_full"]
_TAKE_ANSWERS: dict[int, Taken] = {1: "taken", 0: "none_waiting", -1: "at_cap", -2: "windows_full"}
Held = Literal["held", "at_cap", "window_full"]
_HOLD_ANSWERS: dict[int, Held] = {1: "held", -1: "at_cap", -2: "window_full"}


@dataclass(frozen=True, slots=True)
class Window:
    """A window a counsellor answers chats for: its service id and how many chats it carries at once."""

    service_id: str
    capacity: int


@dataclass(frozen=True, slots=True)
class TakeResult:
    outcome: Taken
    chat_id: str | None = None
    service_id: str | None = None


class ChatQueues:
    """Window queues and counsellors' chats on the live state's Redis."""

    def __init__(self, live: LiveState, lease_ms: int) -> None:
        self.live = live
        self.redis = live.redis
        self.lease_ms = lease_ms

    async def enqueue(self, service_id: str, chat_id: str, priority: int) -> int:
        """Put a chat in a window's queue at its priority (or move it there) and return its 0-based place."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(chat_queue_key(service_id), {chat_id: priority})
        pipe.zrank(chat_queue_key(service_id), chat_id)
        _, rank = await pipe.execute()
        return int(rank)

    async def reprioritise(self, service_id: str, chat_id: str, priority: int) -> None:
        """Give a waiting chat a new priority (its band rose); nothing when it no longer waits there."""
        await self.redis.zadd(chat_queue_key(service_id), {chat_id: priority}, xx=True)

    async def leave(self, service_id: str, chat_id: str) -> bool:
        """Take a chat out of a window's queue; False when it was not in it."""
        return bool(await self.redis.zrem(chat_queue_key(service_id), chat_id))

    async def place(self, service_id: str, chat_id: str) -> tuple[int | None, int]:
        """Return a chat's 0-based place in a window's queue (None: not in it) and how many wait there."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrank(chat_queue_key(service_id), chat_id)
        pipe.zcard(chat_queue_key(service_id))
        rank, waiting = await pipe.execute()
        return (None if rank is None else int(rank)), int(waiting)

    async def ahead(self, service_id: str, priority: int) -> int:
        """Return how many chats wait at a window ahead of a given priority (a chat about to join is placed after them)."""
        return int(await self.redis.zcount(chat_queue_key(service_id), "-inf", priority))

    async def lengths(self, service_ids: Sequence[str]) -> dict[str, int]:
        """Return how many chats wait at each window, in one round trip."""
        if not service_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for service_id in service_ids:
            pipe.zcard(chat_queue_key(service_id))
        return {service_id: int(n) for service_id, n in zip(service_ids, await pipe.execute(), strict=True)}

    async def waiting(self, service_id: str) -> list[str]:
        """Return the chats waiting at a window, first to be taken first."""
        return cast(list[str], await self.redis.zrange(chat_queue_key(service_id), 0, -1))

    async def take(self, staff_id: str, windows: Sequence[Window], *, cap: int) -> TakeResult:
        """Give a counsellor the best-placed waiting chat of their windows whose window has a free line, within their cap."""
        if not windows:
            return TakeResult("none_waiting")
        keys = [counsellor_chats_key(staff_id)]
        for window in windows:
            keys += [chat_queue_key(window.service_id), slot_key(window.service_id, SNS)]
        args: list[int | str] = [cap, self.lease_ms, CHAT_LEASE_PREFIX, *(w.capacity for w in windows)]
        answer = await self.live.script("take_chat")(keys=keys, args=args)
        outcome = _TAKE_ANSWERS[int(answer[0])]
        if outcome != "taken":
            return TakeResult(outcome)
        return TakeResult(outcome, chat_id=str(answer[1]), service_id=windows[int(answer[2]) - 1].service_id)

    async def hold(self, staff_id: str, chat_id: str, window: Window, *, cap: int) -> Held:
        """Put a chat with a counsellor on a window in one step (a take-over): its slot and its place in their chats."""
        keys = [counsellor_chats_key(staff_id), slot_key(window.service_id, SNS), chat_queue_key(window.service_id)]
        args: list[int | str] = [chat_id, cap, self.lease_ms, chat_lease(chat_id), window.capacity]
        return _HOLD_ANSWERS[int(await self.live.script("hold_chat")(keys=keys, args=args))]

    async def let_go(self, staff_id: str | None, chat_id: str, service_id: str | None) -> None:
        """Free what a chat holds: its window's slot and its place in its counsellor's chats (closed, or moved on)."""
        pipe = self.redis.pipeline(transaction=True)
        if service_id:
            pipe.zrem(slot_key(service_id, SNS), chat_lease(chat_id))
            pipe.zrem(chat_queue_key(service_id), chat_id)
        if staff_id:
            pipe.zrem(counsellor_chats_key(staff_id), chat_id)
        await pipe.execute()

    async def renew(self, staff_id: str, chat_id: str, service_id: str) -> bool:
        """Extend a live chat's slot and its counsellor's hold; False when its slot was already gone."""
        renewed = await self.live.script("renew_slot")(keys=[slot_key(service_id, SNS)], args=[chat_lease(chat_id), self.lease_ms])
        if renewed:
            await self.live.script("renew_slot")(keys=[counsellor_chats_key(staff_id)], args=[chat_id, self.lease_ms])
        return bool(renewed)

    async def held_by(self, staff_id: str) -> list[str]:
        """Return the chats a counsellor holds now."""
        now = await self.live.server_time_ms()
        return cast(list[str], await self.redis.zrangebyscore(counsellor_chats_key(staff_id), f"({now}", "+inf"))
