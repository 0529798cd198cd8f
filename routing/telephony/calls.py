"""A call's progress through the IVR, kept in Redis under its CallSid (no number, no name: only choices and outcomes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from routing.live.keys import CALL_EVENTS_CHANNEL, CALL_STATE_SECONDS, call_ended_key, call_state_key, call_turn_key
from routing.live.state import stage_leave_queue, stage_waiting

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # Twilio's: the call (or leg) is over
UNANSWERED_STATUSES = FINAL_CALL_STATUSES - {"completed"}  # over without anyone answering
DIAL_ANSWERED = frozenset({"completed", "answered"})  # a <Dial>'s DialCallStatus when the window picked up
TURN_POLL_SECONDS = 0.005  # how often a request waiting for its call's turn looks again


@dataclass
class Attempt:
    service_id: str
    tier: str
    outcome: str = "ringing"  # ringing, completed, busy, no-answer, failed, canceled
    leg: str | None = None  # the CallSid of the window's leg, once it answered (a Dial action names it as DialCallSid)


@dataclass
class CallState:
    started: float  # epoch seconds of the service clock
    topic: str | None = None
    english: bool = False
    municipality: str | None = None
    prefecture: str | None = None
    lgcode: str | None = None
    topic_tries: int = 0
    postal_tries: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str | None = None  # set once the call has a final outcome
    queue: str | None = None  # the routing key of the queue the caller waits in
    postal_choices: list[str] = field(default_factory=list)  # municipalities of a postal code several prefectures share
    via: str | None = None  # the topic whose lines were tried instead, when nothing was open for the caller's own
    pseudonym: str | None = None  # the caller's keyed pseudonym (never the number), for the case a window opens
    case_id: str | None = None  # the case opened when a window answered

    @property
    def tried(self) -> set[str]:
        """Services tried since the caller last waited: after a wait, every window may be tried again."""
        tried: set[str] = set()
        for attempt in reversed(self.attempts):
            if attempt.outcome == "waited":
                break
            tried.add(attempt.service_id)
        return tried

    @property
    def ringing(self) -> Attempt | None:
        """The attempt whose dial has not reported back yet (it holds a slot)."""
        return next((a for a in reversed(self.attempts) if a.outcome == "ringing"), None)

    def dumps(self) -> str:
        # Not dataclasses.asdict: its deep copy was a tenth of a webhook's time.
        return json.dumps({**vars(self), "attempts": [vars(a) for a in self.attempts]}, ensure_ascii=False)

    @classmethod
    def loads(cls, text: str | bytes) -> CallState:
        data = json.loads(text)
        data["attempts"] = [Attempt(**a) for a in data.get("attempts", [])]
        return cls(**data)


async def load_call(redis: Redis, call_sid: str) -> CallState | None:
    """Return a call's state, or None when it is unknown (or long over)."""
    text = await redis.get(call_state_key(call_sid))
    return CallState.loads(text) if text else None


# KEYS: the call's state, its "ended" marker; ARGV: the state, its lifetime in seconds. 1: stored; 0: the call
# had begun already; -1: it has ended (nothing is stored).
_START_CALL = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 1 end
return 0
"""


async def start_call(redis: Redis, call_sid: str, state: CallState) -> bool:
    """Store a new call's state, in one round trip; False when the call had begun already (a retry or a replay of its
    first request: its state is kept as it is) or has ended (a replay after its status callback: nothing is stored)."""
    # One command, not a pipeline: this is the first webhook of every call, and a pipeline's Python costs more.
    started = await redis.eval(_START_CALL, 2, call_state_key(call_sid), call_ended_key(call_sid), state.dumps(), CALL_STATE_SECONDS)
    return started == 1


async def call_ended(redis: Redis, call_sid: str) -> bool:
    """Whether the call's status callback said it is over (a request for it now is a replay: it starts nothing)."""
    return bool(await redis.exists(call_ended_key(call_sid)))


async def mark_call_ended(redis: Redis, call_sid: str) -> bool:
    """Mark the call as over (see `stage_call_ended`); False when it was marked already."""
    return bool(await redis.set(call_ended_key(call_sid), "1", ex=CALL_STATE_SECONDS, nx=True))


def stage_call_ended(pipe: Pipeline, call_sid: str) -> None:
    """Add to a pipeline: mark the call as over, for as long as any replay of its requests could matter."""
    pipe.set(call_ended_key(call_sid), "1", ex=CALL_STATE_SECONDS)


@asynccontextmanager
async def one_step_at_a_time(redis: Redis, call_sid: str, *, hold_seconds: float, wait_seconds: float) -> AsyncIterator[bool]:
    """Hold the call's turn while one request handles a step of it; yields False when the turn was not had in `wait_seconds`.

    Twilio asks one step of a call at a time, so two requests for the same call at once are a retry
    or a replay: the second waits until the first is done, then sees the state it left (a line
    already claimed, a callback already booked) instead of doing the same work again. The turn is
    an atomic SET NX that expires after `hold_seconds`, so a request that died cannot hold it.
    """
    key = call_turn_key(call_sid)
    deadline = time.monotonic() + wait_seconds
    while not await redis.set(key, "1", nx=True, px=max(1, int(hold_seconds * 1000))):
        if time.monotonic() >= deadline:
            yield False
            return
        await asyncio.sleep(TURN_POLL_SECONDS)
    taken = time.monotonic()
    try:
        yield True
    finally:
        if time.monotonic() - taken < hold_seconds * 0.8:  # still ours: near or past its expiry another request may hold it
            await redis.delete(key)


async def save_call(
    redis: Redis,
    call_sid: str,
    state: CallState,
    *,
    event: dict | None = None,
    waiting_since: float | None = None,
    left_queue: str | None = None,
) -> None:
    """Store a call's state with an expiry in one round trip, with its waiting mark, its event for the dashboard and,
    when the call has just taken a line, its removal from the queue `left_queue`."""
    pipe = redis.pipeline(transaction=False)
    stage_call(pipe, call_sid, state, event=event, waiting_since=waiting_since)
    if left_queue is not None:
        stage_leave_queue(pipe, left_queue, call_sid)
    await pipe.execute()


def stage_call(pipe: Pipeline, call_sid: str, state: CallState, *, event: dict | None = None, waiting_since: float | None = None) -> None:
    """Add what `save_call` stores to a pipeline, for a webhook that sends more in the same round trip."""
    pipe.set(call_state_key(call_sid), state.dumps(), ex=CALL_STATE_SECONDS)
    stage_waiting(pipe, call_sid, waiting_since)
    if event is not None:
        pipe.publish(CALL_EVENTS_CHANNEL, json.dumps({"call": event_id(call_sid), **event}, ensure_ascii=False))


def event_id(call_sid: str) -> str:
    """Return the id the dashboard knows a call by (not the CallSid itself, which Twilio's logs tie to the number)."""
    return hashlib.sha256(f"tsunagu-call-event:{call_sid}".encode()).hexdigest()[:16]
