"""Server-sent events from Redis pub/sub: the console and the person's page follow their chats live.

An event carries ids, a status, a band and a message count, never a text: the page then asks
for what it may read (the staff API audits that read). A comment every few seconds keeps proxies
from closing an idle stream and lets the server notice a client that left.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse

from routing.runtime import Runtime

KEEPALIVE_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx: pass each event on at once


def event_stream(
    request: Request, runtime: Runtime, channels: Sequence[str], *, keep: Callable[[dict], bool] = lambda _event: True
) -> StreamingResponse:
    """Return a text/event-stream response that forwards the events published on `channels` that `keep` accepts."""
    return StreamingResponse(_events(request, runtime, channels, keep), media_type="text/event-stream", headers=HEADERS)


async def _events(request: Request, runtime: Runtime, channels: Sequence[str], keep: Callable[[dict], bool]) -> AsyncIterator[str]:
    pubsub = runtime.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(*channels)
    try:
        yield "retry: 3000\n\n"  # a browser reconnects after 3 s when the stream breaks
        while not runtime.stopping and not await request.is_disconnected():
            message = await pubsub.get_message(timeout=KEEPALIVE_SECONDS)
            if message is None:
                yield ": keep-alive\n\n"
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if keep(event):
                yield f"event: {event.get('event', 'message')}\ndata: {json.dumps(event)}\n\n"
    finally:
        await pubsub.aclose()
