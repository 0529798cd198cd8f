"""The switchboard: one contact's life against live state, the same for every channel.

A contact (a call, a callback, a live transfer; chats next) is offered a line — the live load
of the services that match it, the routing engine's decision, then a slot claimed on the first
candidate that has one, first come first served — or it waits in its queue, holds its slot while
it talks (a lease the reconciler renews), and frees it when it ends. The channels decide what to
say and where to go next; the rules they share are here and in routing/contacts/rules.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

from referral_directory.snapshot import ServiceEntry, Snapshot
from routing.contacts.rules import fitting, may_take_a_line, waiting_ahead, wider_topic
from routing.engine import Candidate, Contact, Decision, Load, NextOpening, decide_route, matching_services
from routing.live.state import LiveState, QueueView
from routing.settings import Settings

NOT_QUEUED = QueueView(place=None, waiting=0)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a contact was offered: the engine's decision, the line it now holds (None: none), and its view of its queue."""

    decision: Decision
    line: Candidate | None
    queue: QueueView


@dataclass(frozen=True, slots=True)
class Widened:
    """Who can take a person now: their own topic's windows, or, when none of those is open, the general lines'.

    `decision`: the windows that take them (the general lines' when `via` is set); `own`: their
    own topic's decision, whose next openings they are told.
    """

    decision: Decision
    own: Decision
    via: str | None = None

    @property
    def openings(self) -> tuple[NextOpening, ...]:
        """When help opens next, as the person is told it: their own topic's windows first, else the lines tried instead."""
        return self.own.next_openings or self.decision.next_openings


class Switchboard:
    """Offers contacts lines on live state: load, decide, claim first come first served; queues, releases."""

    def __init__(self, live: LiveState, settings: Settings) -> None:
        self.live = live
        self.settings = settings
        self._rotation = 0

    @property
    def lease_ms(self) -> int:
        """How long a claimed slot is held before it expires on its own (the reconciler renews it while the contact goes on)."""
        return self.settings.slot_lease_seconds * 1000

    def _next_rotation(self) -> int:
        self._rotation += 1
        return self._rotation

    async def look(
        self,
        snapshot: Snapshot,
        contact: Contact,
        now: datetime,
        *,
        tried: Collection[str] = (),
        holder: str = "",
        queue: str | None = None,
        rotate: bool = True,
    ) -> tuple[Decision, QueueView]:
        """Return the engine's decision for a contact under the live load, and its view of a queue, in one round trip to Redis.

        `tried`: services left out (tried since the contact last waited). `rotate`: advance the fair
        rotation between equals (a preview does not, so that it shows what the next contact would get).
        """
        ids = [reach.entry.id for reach in matching_services(snapshot, contact) if reach.entry.id not in tried]
        if queue is None:
            in_use, view = await self.live.slots_in_use(ids, contact.channel), NOT_QUEUED
        else:
            in_use, view = await self.live.slots_and_queue(ids, contact.channel, queue, holder)
        load = Load(in_use=in_use, rotation=self._next_rotation() if rotate else 0)
        return decide_route(snapshot, contact, now, load, self.settings.policy_for(contact.topic)), view

    async def look_widened(self, snapshot: Snapshot, contact: Contact, now: datetime, *, rotate: bool = True) -> Widened:
        """Return who can take a contact now: its topic's windows, or the general lines when none of those is open (rules.wider_topic)."""
        own, _ = await self.look(snapshot, contact, now, rotate=rotate)
        via = wider_topic(contact.topic, own.outcome)
        if via is None:
            return Widened(own, own)
        wider, _ = await self.look(snapshot, replace(contact, topic=via), now, rotate=rotate)
        return Widened(wider, own, via)

    async def offer(
        self,
        snapshot: Snapshot,
        contact: Contact,
        now: datetime,
        *,
        holder: str,
        queue: str | None,
        tried: Collection[str] = (),
        yields: bool = False,
    ) -> Offer:
        """Claim a slot for `holder` on the first fitting candidate, unless the contacts ahead of it in `queue` need every free line.

        `yields`: a contact not in the queue lets everyone waiting in it go first (a callback does; a
        new call does not yet wait anywhere).
        """
        decision, view = await self.look(snapshot, contact, now, tried=tried, holder=holder, queue=queue)
        candidates = fitting(decision.candidates, tried=tried, channel=contact.channel)
        ahead = waiting_ahead(view.place, view.waiting, yields=yields)
        if candidates and may_take_a_line(ahead=ahead, free=sum(c.free_slots for c in candidates)):
            for candidate in candidates:
                claimed = await self.live.claim_slot(
                    candidate.service_id, lease=holder, capacity=candidate.capacity, ttl_ms=self.lease_ms, channel=contact.channel
                )
                if claimed:
                    return Offer(decision, candidate, view)
        return Offer(decision, None, view)

    async def claim(self, entry: ServiceEntry, *, holder: str, channel: str) -> bool:
        """Claim a slot on one chosen service (a live transfer's target); False when every line of it is taken."""
        capacity = entry.capacity.get(channel, 0)
        return await self.live.claim_slot(entry.id, lease=holder, capacity=capacity, ttl_ms=self.lease_ms, channel=channel)

    async def release(self, service_id: str, *, holder: str, channel: str = "voice") -> bool:
        """Free the slot a contact holds on a service; False when it was already free."""
        return await self.live.release_slot(service_id, lease=holder, channel=channel)

    async def join_queue(self, queue: str, *, holder: str, since: float) -> int:
        """Put a contact in its queue (its place is kept when it is already there) and return its 1-based position."""
        return await self.live.join_queue(queue, holder, since) + 1
