"""`POST /line/webhook`: LINE's webhook, checked on its raw body, acknowledged at once, worked on after the answer.

A plain ASGI layer in front of FastAPI, like Twilio's webhooks (LINE waits for this answer, and
FastAPI's router costs more than the work itself). The signature (`X-Line-Signature`,
HMAC-SHA256 of the exact bytes under the channel secret) is checked with LINE's own SDK before
anything is read; a request without one, or with a wrong one, is refused with 403 and nothing of
it is kept. LINE's "Verify" button (no events) gets 200. Each event is accepted once
(routing/chats/line/inbox.py), the answer goes back, and only then are the people's inboxes
processed, by the worker's drainer: LINE may stop delivering to a server that keeps it waiting.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from linebot.v3 import SignatureValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from routing.chats.hub import ChatHub
from routing.chats.line.inbox import accept
from routing.request_limits import answer, read_body
from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.line")
PATH = "/line/webhook"
MAX_BODY_BYTES = 1024 * 1024  # LINE batches events; a webhook body is a few KB
JSON = b"application/json"


class Refused(Exception):
    """A webhook request that is not LINE's, or not readable: its status and why."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def events_of(body: bytes, signature: str, secret: str) -> list[dict[str, Any]]:
    """Return the events of a webhook body after checking its signature on the raw bytes; Refused when it is not LINE's."""
    if not secret:
        raise Refused(404, "LINE is not configured here (LINE_CHANNEL_SECRET is not set)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    if not signature or not SignatureValidator(secret).validate(text, signature):
        raise Refused(403, "the X-Line-Signature header does not match the body")
    try:
        payload = json.loads(text)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise Refused(400, "the body has no list of events")
    return events


class LineWebhook:
    """ASGI layer: POST /line/webhook is answered here; everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await answer(send, 405, b'{"detail": "LINE\'s webhook takes POST"}', JSON, [(b"allow", b"POST")])
            return
        started = time.perf_counter()
        message = await read_body(receive, MAX_BODY_BYTES)
        if message is None:
            await answer(send, 413, b'{"detail": "request body too large"}', JSON)
            return
        runtime: Runtime = scope["app"].state.runtime
        hub: ChatHub = scope["app"].state.chats
        signature = dict(scope["headers"]).get(b"x-line-signature", b"").decode("latin-1")
        try:
            events = events_of(message.get("body", b""), signature, runtime.settings.line_channel_secret.get_secret_value())
        except Refused as refused:
            log.warning("line_webhook_refused", status=refused.status, why=refused.why)
            await answer(send, refused.status, json.dumps({"detail": refused.why}).encode(), JSON)
            return
        people = [person for event in events if (person := await accept(runtime, event)) is not None]
        await answer(send, 200, b"{}", JSON)
        runtime.metrics.line_webhook_seconds.observe(time.perf_counter() - started)
        if people and hub.drainer is not None:
            hub.drainer.want(people)


def openapi_paths() -> dict[str, Any]:
    """Describe the LINE webhook for /docs (it is served by this layer, not by FastAPI's router)."""
    return {
        PATH: {
            "post": {
                "tags": ["sns"],
                "summary": "LINE's webhook (signed by LINE)",
                "description": "Called by LINE with events signed in X-Line-Signature (HMAC-SHA256 of the body under the channel secret).",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "accepted (or LINE's verify request)"},
                    "403": {"description": "missing or wrong X-Line-Signature"},
                    "404": {"description": "LINE is not configured (LINE_CHANNEL_SECRET)"},
                },
            }
        }
    }
