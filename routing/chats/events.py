"""Server-sent events from Redis pub/sub: the console, the person's page and the dashboard follow changes live.

An event carries ids, a status, a band, a count or the names of lists, never a text: the page then
asks for what it may read (the staff API audits that read). A stream first says `ready`, once Redis
has confirmed every subscription, so nothing published after it is missed. A comment every few
seconds keeps proxies from closing an idle stream and lets the server notice a client that left; a
stream that follows a sign-in (`alive`) also checks at that pace that it still holds, and ends with
`ended` when it no longer does.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import StreamingResponse
from redis.asyncio.client import PubSub

from routing.runtime import Runtime

KEEPALIVE_SECONDS = 15.0
SUBSCRIBE_SECONDS = 5.0  # how long Redis may take to confirm the subscriptions before the stream goes on regardless
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx: pass each event on at once

Relay = Callable[[str, dict], dict | None]
"""Given the channel and the event published on it, return the event to send (named by its `event` field), or None."""


@dataclass(frozen=True)
class Following:
    """What a stream follows beyond its channels: the `ready` event's data, and whether the stream may go on."""

    ready: Callable[[], Awaitable[dict]] | None = None
    alive: Callable[[], Awaitable[bool]] | None = None
    keepalive: float = KEEPALIVE_SECONDS


def event_stream(
    request: Request,
    runtime: Runtime,
    channels: Sequence[str],
    *,
    relay: Relay = lambda _channel, event: event,
    following: Following = Following(),
) -> StreamingResponse:
    """Return a text/event-stream response that forwards what `relay` makes of the events published on `channels`."""
    return StreamingResponse(_events(request, runtime, channels, relay, following), media_type="text/event-stream", headers=HEADERS)


async def _events(request: Request, runtime: Runtime, channels: Sequence[str], relay: Relay, following: Following) -> AsyncIterator[str]:
    pubsub = runtime.redis.pubsub()
    try:
        early = await _subscribed(pubsub, channels)
        yield "retry: 3000\n\n"  # a browser reconnects after 3 s when the stream breaks
        yield _sse("ready", await following.ready() if following.ready else {})
        for message in early:
            if (event := _relayed(message, relay)) is not None:
                yield _sse(event.get("event", "message"), event)
        checked = time.monotonic()
        while not runtime.stopping and not await request.is_disconnected():
            message = await pubsub.get_message(timeout=following.keepalive)
            if following.alive is not None and time.monotonic() - checked >= following.keepalive:
                checked = time.monotonic()
                if not await following.alive():
                    yield _sse("ended", {})
                    return
            if message is None:
                yield ": keep-alive\n\n"
            elif (event := _relayed(message, relay)) is not None:
                yield _sse(event.get("event", "message"), event)
    finally:
        await pubsub.aclose()


async def _subscribed(pubsub: PubSub, channels: Sequence[str]) -> list[dict]:
    """Subscribe and wait until Redis confirms each channel; return the messages that came meanwhile."""
    await pubsub.subscribe(*channels)
    waiting, early = set(channels), []
    deadline = time.monotonic() + SUBSCRIBE_SECONDS
    while waiting and (left := deadline - time.monotonic()) > 0:
        message = await pubsub.get_message(timeout=left)
        if message is None:
            continue
        if message["type"] == "subscribe":
            waiting.discard(message["channel"])
        else:
            early.append(message)
    return early


def _relayed(message: dict, relay: Relay) -> dict | None:
    if message.get("type") != "message":
        return None
    try:
        event = json.loads(message["data"])
    except (TypeError, ValueError):
        return None
    return relay(message["channel"], event) if isinstance(event, dict) else None


def _sse(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
