"""`POST /line/webhook`: LINE's webhook, checked on its raw body, acknowledged at once, worked on after the answer.

The signature (`X-Line-Signature`, HMAC-SHA256 of the exact bytes under the channel secret) is
checked with LINE's own SDK before anything is read; a request without one, or with a wrong
one, is refused with 403 and nothing of it is kept. LINE's "Verify" button (no events) gets 200.
Each event is accepted once (routing/chats/line/inbox.py) and the answer goes back before any
of them is worked on: LINE may stop delivering to a server that keeps it waiting.
"""

from __future__ import annotations

import json
import time

import structlog
from fastapi import APIRouter, Request, Response
from linebot.v3 import SignatureValidator
from starlette.background import BackgroundTask

from routing.chats.hub import ChatHub
from routing.chats.line.inbox import accept, drain
from routing.deps import HubDep, RuntimeDep
from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.line")
router = APIRouter()


class Refused(Exception):
    """A webhook request that is not LINE's, or not readable: its status and why."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def events_of(body: bytes, signature: str, secret: str) -> list[dict]:
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


@router.post(
    "/line/webhook",
    summary="LINE's webhook (signed by LINE)",
    responses={200: {"description": "accepted (or LINE's verify request)"}, 403: {"description": "not signed by LINE"}},
    tags=["sns"],
)
async def line_webhook(request: Request, runtime: RuntimeDep, hub: HubDep) -> Response:
    started = time.perf_counter()
    body = await request.body()
    try:
        events = events_of(body, request.headers.get("x-line-signature", ""), runtime.settings.line_channel_secret)
    except Refused as refused:
        log.warning("line_webhook_refused", status=refused.status, why=refused.why)
        return Response(json.dumps({"detail": refused.why}), status_code=refused.status, media_type="application/json")
    people = {person for event in events if (person := await accept(runtime, event)) is not None}
    runtime.metrics.line_webhook_seconds.observe(time.perf_counter() - started)
    task = BackgroundTask(_drain_all, runtime, hub, sorted(people)) if people else None
    return Response("{}", media_type="application/json", background=task)


async def _drain_all(runtime: Runtime, hub: ChatHub, people: list[str]) -> None:
    for person in people:
        try:
            await drain(runtime, hub, person)
        except Exception:
            log.exception("line_drain_failed")  # the keeper drains what is left
