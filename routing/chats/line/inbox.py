"""LINE's events between the webhook's answer and the chat: accepted once, kept sealed, processed in order, one worker per person.

The webhook accepts each event in one Redis step (its id remembered for a day, so a
redelivery is dropped; the event sealed into its person's inbox, ordered by LINE's timestamp)
and answers LINE at once. The same worker then drains the person's inbox after the answer,
holding the person's turn so that no other worker handles their events at the same time; a
worker that finds the turn taken leaves the events to its holder, which looks again before it
lets go. Should a worker die in between, the chat keeper drains every inbox left waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import structlog

from routing.chats.conversation import Incoming, on_person, settle
from routing.chats.hub import ChatHub
from routing.chats.intake import Said
from routing.live.keys import LINE_EVENT_SECONDS, LINE_PENDING_KEY, line_event_key, line_inbox_key, person_turn_key
from routing.privacy.confidentiality import person_pseudonym, seal, try_unseal
from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.line")
TURN_MS = 60_000  # a person's turn outlives the slowest event (two LINE calls at their timeout) many times over
MESSAGE_KINDS = {"text", "sticker", "image", "video", "audio", "file", "location"}


async def accept(runtime: Runtime, event: dict[str, Any]) -> str | None:
    """Accept one event of a verified webhook: return the person whose inbox it went to, or None when it is not for us.

    Not for us: standby mode (another channel answers), a group or room, an event without a user,
    or one seen before (a redelivery).
    """
    source = event.get("source") or {}
    user = source.get("userId") if isinstance(source, dict) else None
    event_id = event.get("webhookEventId")
    if event.get("mode") == "standby" or not isinstance(user, str) or not user or source.get("type") != "user":
        return None
    if not isinstance(event_id, str) or not event_id:
        return None
    person = person_pseudonym("line", user, keys=runtime.keys)
    timestamp = event.get("timestamp")
    stamp = int(timestamp) if isinstance(timestamp, int | float) else int(time.time() * 1000)
    now_ms = int(time.time() * 1000)
    kept = json.dumps({"received_ms": now_ms, "event": event}, ensure_ascii=False)
    accepted = await runtime.live.batched(
        "line_accept",
        [line_event_key(event_id), line_inbox_key(person), LINE_PENDING_KEY],
        [seal(kept, keys=runtime.keys), stamp, person, now_ms, LINE_EVENT_SECONDS],
    )
    return person if accepted else None


async def drain(runtime: Runtime, hub: ChatHub, person: str) -> int:
    """Process a person's waiting events in timestamp order, holding their turn; return how many were processed here.

    Two round trips to Redis per batch: the turn taken with the events read, and the processed
    events dropped with the turn given up (and the inbox looked at again).
    """
    done = 0
    keys = [person_turn_key(person), line_inbox_key(person)]
    while True:
        token = uuid.uuid4().hex
        batch = await runtime.live.batched("line_take", keys, [token, TURN_MS])
        if batch is None:
            return done  # another worker has the turn, and looks again before it lets go
        processed: list[str] = []
        refreshed = time.monotonic()
        try:
            for sealed in cast(list[str], batch):
                if time.monotonic() - refreshed > TURN_MS / 3000:
                    await runtime.redis.pexpire(keys[0], TURN_MS)
                    refreshed = time.monotonic()
                try:
                    await process(runtime, hub, person, sealed)
                except Exception:
                    log.exception("line_event_failed")  # the event is dropped, not retried for ever: the person can write again
                processed.append(sealed)
        finally:
            left = await runtime.live.batched("line_release", [*keys, LINE_PENDING_KEY], [token, person, *processed])
        done += len(processed)
        if not int(cast(int, left)):
            return done


class Drainer:
    """A few tasks per worker that drain the inboxes the webhook accepted events into, after it answered.

    The webhook answers LINE at once and only names the people to drain; under a burst, answering
    goes first and processing follows as fast as these tasks go (the events wait sealed in Redis,
    and the keeper drains whatever a dead worker left). Each person is drained by one task at a
    time, however many of their events came meanwhile.
    """

    # Processing an event mostly waits (on SQL, and on LINE's API for the reply: 100-300 ms from Japan), so
    # a worker's throughput is about TASKS / LINE's latency: 4 tasks held a surge drill to ~20 events/s per
    # worker and people waited seconds for the first answer. The webhook's own answers are not among them.
    TASKS = 32

    def __init__(self, runtime: Runtime, hub: ChatHub) -> None:
        self.runtime, self.hub = runtime, hub
        self._people: dict[str, None] = {}  # waiting to be drained, in order, each once
        self._wake = asyncio.Event()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"line-drainer-{i}") for i in range(self.TASKS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def want(self, people: Iterable[str]) -> None:
        """Ask for these people's inboxes to be drained."""
        for person in people:
            self._people[person] = None
        if self._people:
            self._idle.clear()
            self._wake.set()

    async def idle(self) -> None:
        """Wait until every inbox asked for has been drained (tests, and a graceful shutdown)."""
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            if not self._people:
                if self._busy == 0:
                    self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            person = next(iter(self._people))
            del self._people[person]
            self._busy += 1
            try:
                await drain(self.runtime, self.hub, person)
            except Exception:
                log.exception("line_drain_failed")  # the keeper drains what is left
            finally:
                self._busy -= 1


async def drain_stale(runtime: Runtime, hub: ChatHub, older_than_ms: int) -> int:
    """Drain the inbox of every person whose events have waited longer than a while (their worker died); return how many."""
    cutoff = int(time.time() * 1000) - older_than_ms
    people = cast(list[str], await runtime.redis.zrangebyscore(LINE_PENDING_KEY, "-inf", cutoff))
    return sum([await drain(runtime, hub, person) for person in people])


async def process(runtime: Runtime, hub: ChatHub, person: str, sealed: str) -> None:
    """Apply one accepted event to the person's chat, then send what they are told."""
    plain = try_unseal(sealed, keys=runtime.keys)
    if plain is None:
        return  # sealed under a key since destroyed: nothing can be done with it
    kept = json.loads(plain)
    raw = kept["event"]
    stages = runtime.metrics.line_event_seconds
    started = time.time()
    stages.labels(stage="waited").observe(max(0.0, started - kept["received_ms"] / 1000))
    incoming, reply_token = incoming_of(raw, runtime.clock.now())
    if incoming is None:
        return
    user = raw["source"]["userId"]
    out = await on_person(runtime, hub, medium="line", person_ref=person, address_sealed=seal(user, keys=runtime.keys), incoming=incoming)
    applied = time.time()
    stages.labels(stage="person").observe(applied - started)
    if out is not None:
        await settle(runtime, hub, out, reply_token=reply_token)
        stages.labels(stage="send").observe(time.time() - applied)
        if out.first_reply:
            runtime.metrics.chat_first_reply_seconds.observe(max(0.0, time.time() - kept["received_ms"] / 1000))


def incoming_of(raw: dict[str, Any], now: datetime) -> tuple[Incoming | None, str | None]:
    """Return what the person did, as the chat sees it, and the event's reply token; None for an event the chat ignores.

    Read from LINE's JSON as it is (the fields are LINE's, as its SDK's models name them): building
    the SDK's models cost a third of a millisecond per event, more than everything else here.
    """
    kind = raw.get("type")
    token = raw.get("replyToken")
    reply_token = token if isinstance(token, str) else None
    event_id = raw.get("webhookEventId") if isinstance(raw.get("webhookEventId"), str) else None
    if kind == "follow":
        return Incoming("start", now, event_id=event_id), reply_token
    if kind == "unfollow":
        return Incoming("leave", now, event_id=event_id), None
    if kind == "postback":
        data = (raw.get("postback") or {}).get("data")
        return Incoming("said", now, Said(choice=data if isinstance(data, str) else "", kind="postback"), event_id), reply_token
    if kind == "message":
        message = raw.get("message") or {}
        if message.get("type") == "text" and isinstance(message.get("text"), str):
            return Incoming("said", now, Said(text=message["text"]), event_id), reply_token
        other = message.get("type")
        return Incoming("said", now, Said(kind=other if other in MESSAGE_KINDS else "other"), event_id), reply_token
    return None, None
