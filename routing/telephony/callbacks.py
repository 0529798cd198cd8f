"""Callbacks: a waiting caller who consents is called back through Twilio's REST API when a line frees.

The number is kept only sealed, used once to place the call, and emptied when the request ends.
Live callers in the queue come first: a callback takes a line only when nobody waits for it.
"""

from __future__ import annotations

import asyncio
import secrets

import structlog
from sqlalchemy import select
from sqlmodel import col
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from referral_directory.storage import db
from routing.contacts.rules import queue_name
from routing.engine import Contact
from routing.live.keys import CALLBACK_DISPATCHER_LOCK, callback_lease
from routing.privacy.confidentiality import try_unseal
from routing.runtime import Runtime
from routing.settings import Settings
from routing.telephony.records import CallbackRequest

log = structlog.get_logger("tsunagu.callbacks")
MAX_TRIES = 3
TWILIO_TIMEOUT_SECONDS = 10.0
BRIDGE_URL = "/twilio/voice/callback-bridge"
CALLBACK_STATUS_URL = "/twilio/voice/callback-status"


def twilio_client(settings: Settings) -> Client:
    """Return Twilio's REST client for the configured account (and API address, which tests point at a local server)."""
    # Without a timeout the client waits for ever; a counsellor's transfer or a callback waits at most this long.
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS))
    client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


async def dispatch_once(runtime: Runtime, client: Client) -> int:
    """Match pending callbacks with free lines and place those calls; returns how many were placed. One worker at a time."""
    token = secrets.token_hex(8)
    if not await runtime.redis.set(CALLBACK_DISPATCHER_LOCK, token, nx=True, px=30_000):
        return 0
    try:
        async with runtime.sessions() as session:
            query = (
                select(CallbackRequest).where(col(CallbackRequest.status) == "pending").order_by(col(CallbackRequest.created_at)).limit(20)
            )
            pending = list((await session.execute(query)).scalars().all())
        placed = 0
        for request in pending:
            placed += await _try_to_place(runtime, client, request)
        return placed
    finally:
        if await runtime.redis.get(CALLBACK_DISPATCHER_LOCK) == token:
            await runtime.redis.delete(CALLBACK_DISPATCHER_LOCK)


async def _try_to_place(runtime: Runtime, client: Client, request: CallbackRequest) -> int:
    number = try_unseal(request.number_sealed, keys=runtime.keys)
    if number is None:  # purged, or its key destroyed: nobody can be called back any more
        async with db.transaction(runtime.sessions) as session:
            row = await session.get(CallbackRequest, request.id)
            if row is not None:
                row.status, row.number_sealed = "failed", ""
        log.warning("callback_number_gone", request=request.id)
        return 0
    snapshot = runtime.snapshot
    assert snapshot is not None
    contact = Contact(topic=request.topic, channel="voice", municipality=request.municipality, prefecture=request.prefecture)
    # Callers on the line waiting for these windows come first: the callback yields to their queue.
    offer = await runtime.switchboard.offer(
        snapshot,
        contact,
        runtime.clock.now(),
        holder=callback_lease(request.id),
        queue=queue_name(request.topic, request.prefecture),
        yields=True,
    )
    if offer.line is None:
        return 0
    # Marked "calling" before Twilio is asked: its call may reach /callback-bridge before create() returns.
    async with db.transaction(runtime.sessions) as session:
        row = await session.get(CallbackRequest, request.id)
        if row is not None:
            row.status, row.service_id, row.tries = "calling", offer.line.service_id, row.tries + 1
    if row is None:  # requests are never deleted, but should one go: nobody to call, and the line is freed
        await runtime.switchboard.release(offer.line.service_id, holder=callback_lease(request.id))
        return 0
    base = runtime.settings.public_url.rstrip("/")
    try:
        await asyncio.to_thread(
            client.calls.create,
            to=number,
            from_=request.dial_number,
            url=f"{base}{BRIDGE_URL}?request={request.id}",
            method="POST",
            status_callback=f"{base}{CALLBACK_STATUS_URL}?request={request.id}",
            status_callback_method="POST",
            timeout=30,
        )
    except Exception as error:
        log.warning("callback_not_placed", request=request.id, error=type(error).__name__)
        await finish_try(runtime, request.id, connected=False)  # frees the slot; the request goes back in line
        return 0
    log.info("callback_placed", request=request.id, service_id=offer.line.service_id)
    return 1


async def finish_try(runtime: Runtime, request_id: str, *, connected: bool) -> CallbackRequest | None:
    """Close one try of a callback: connected, or back in line (the number is emptied once it is no longer needed)."""
    async with db.transaction(runtime.sessions) as session:
        row = await session.get(CallbackRequest, request_id)
        if row is None or row.status in ("connected", "failed"):
            return row
        if row.service_id:
            await runtime.switchboard.release(row.service_id, holder=callback_lease(request_id))
        if connected:
            row.status, row.number_sealed = "connected", ""
        elif row.tries >= MAX_TRIES:
            row.status, row.number_sealed = "failed", ""
        else:
            row.status = "pending"
        return row
