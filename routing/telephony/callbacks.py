"""Callbacks: a waiting caller who consents is called back through Twilio's REST API when a line frees.

The number is kept only sealed, used once to place the call, and emptied when the request ends.
Live callers in the queue come first: a callback takes a line only when nobody waits for it.

Each change of a request's status is one conditional UPDATE (pending → calling, calling → its
end), so however many dispatchers or reports meet one request, each try is placed once and ended
once: a dispatcher holding a stale list, or a replayed report of an earlier try, changes nothing.

A try Twilio did not answer in time may have been placed all the same, so it is not tried again at
once (the person would be called twice): it stays calling, holding its line, until Twilio reports
on it (the bridge, the window's leg, the call's status) or TSUNAGU_CALLBACK_CONFIRM_SECONDS pass
without a word, and only then goes back in line.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from referral_directory.snapshot import Snapshot
from referral_directory.storage import db
from routing.contacts.rules import queue_name, wider_topic
from routing.contacts.switchboard import Offer
from routing.engine import Contact
from routing.live.keys import CALLBACK_DISPATCHER_LOCK, CALLBACKS_UNCONFIRMED, callback_lease
from routing.live.leader import leading
from routing.privacy.confidentiality import try_unseal
from routing.runtime import Runtime
from routing.settings import Settings
from routing.telephony.records import CallbackRequest

log = structlog.get_logger("tsunagu.callbacks")
MAX_TRIES = 3
BRIDGE_URL = "/twilio/voice/callback-bridge"
CALLBACK_STATUS_URL = "/twilio/voice/callback-status"


def twilio_client(settings: Settings) -> Client:
    """Return Twilio's REST client for the configured account (and API address, which tests point at a local server)."""
    # Without a timeout the client waits for ever; a counsellor's transfer or a callback waits at most this long.
    token = settings.twilio_auth_token.get_secret_value()
    client = Client(settings.twilio_account_sid, token, http_client=TwilioHttpClient(timeout=settings.twilio_timeout_seconds))
    client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


async def dispatch_once(runtime: Runtime, client: Client) -> int:
    """Match pending callbacks with free lines and place those calls; returns how many were placed. One worker at a time."""
    async with leading(runtime.redis, CALLBACK_DISPATCHER_LOCK, hold_ms=30_000) as leader:
        if not leader:
            return 0
        await _give_up_unconfirmed(runtime)
        async with runtime.sessions() as session:
            query = (
                select(CallbackRequest).where(col(CallbackRequest.status) == "pending").order_by(col(CallbackRequest.created_at)).limit(20)
            )
            pending = list((await session.execute(query)).scalars().all())
        placed = 0
        for request in pending:
            placed += await _try_to_place(runtime, client, request)
        return placed


async def _offer(runtime: Runtime, snapshot: Snapshot, contact: Contact, request: CallbackRequest) -> Offer:
    """Claim a line of the contact's topic for a callback; callers on the line waiting for those windows come first."""
    return await runtime.switchboard.offer(
        snapshot,
        contact,
        runtime.clock.now(),
        holder=callback_lease(request.id),
        queue=queue_name(contact.topic, contact.prefecture),
        yields=True,
    )


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
    offer = await _offer(runtime, snapshot, contact, request)
    via = wider_topic(contact.topic, offer.decision.outcome)
    if via is not None:  # every window of its topic is closed now: an open general line calls them back
        offer = await _offer(runtime, snapshot, replace(contact, topic=via), request)
    if offer.line is None:
        return 0
    service_id, attempt = offer.line.service_id, request.tries + 1
    # Marked "calling" before Twilio is asked: its call may reach /callback-bridge before create() returns. Only a
    # request still pending is: another dispatcher (this one's lock ran out while Twilio was slow) may have placed it.
    async with db.transaction(runtime.sessions) as session:
        claimed = await _update(
            session,
            request.id,
            status="pending",
            tries=request.tries,
            values={"status": "calling", "service_id": service_id, "tries": attempt},
        )
        holder_service = None if claimed else (await session.get(CallbackRequest, request.id) or request).service_id
    if not claimed:
        if holder_service != service_id:  # the line is this dispatcher's own claim, not the one the other try holds
            await runtime.switchboard.release(service_id, holder=callback_lease(request.id))
        log.info("callback_taken_elsewhere", request=request.id)
        return 0
    base = runtime.settings.public_url.rstrip("/")
    names = f"request={request.id}&try={attempt}"  # a report about this try cannot end another
    try:
        await asyncio.to_thread(
            client.calls.create,
            to=number,
            from_=request.dial_number,
            url=f"{base}{BRIDGE_URL}?{names}",
            method="POST",
            status_callback=f"{base}{CALLBACK_STATUS_URL}?{names}",
            status_callback_method="POST",
            timeout=30,
        )
    except TwilioRestException as error:  # Twilio answered: no call was placed
        log.warning("callback_not_placed", request=request.id, error=type(error).__name__)
        await finish_try(runtime, request.id, connected=False, try_number=attempt)  # frees the slot; the request goes back in line
        return 0
    except Exception as error:  # no answer in time: Twilio may have placed the call all the same
        log.warning("callback_unconfirmed", request=request.id, error=type(error).__name__)
        until = await runtime.live.server_time_ms() + runtime.settings.callback_confirm_seconds * 1000
        await runtime.redis.zadd(CALLBACKS_UNCONFIRMED, {f"{request.id}:{attempt}": until})
        return 0
    log.info("callback_placed", request=request.id, service_id=offer.line.service_id)
    return 1


async def _give_up_unconfirmed(runtime: Runtime) -> None:
    """Tries Twilio never confirmed (no answer to placing them, no report since) go back in line, their lines freed."""
    now = await runtime.live.server_time_ms()
    due = cast(list[str], await runtime.redis.zrangebyscore(CALLBACKS_UNCONFIRMED, "-inf", now))  # the client decodes to str
    for member in due:
        request_id, _, attempt = member.rpartition(":")
        if await finish_try(runtime, request_id, connected=False, try_number=int(attempt)):
            log.warning("callback_never_confirmed", request=request_id)
        await runtime.redis.zrem(CALLBACKS_UNCONFIRMED, member)


async def confirm_try(runtime: Runtime, request_id: str, try_number: int | None) -> None:
    """Twilio reported on a try (the person answered, or the call ended): it was placed, and is no longer waited for."""
    if try_number is not None:
        await runtime.redis.zrem(CALLBACKS_UNCONFIRMED, f"{request_id}:{try_number}")


async def finish_try(runtime: Runtime, request_id: str, *, connected: bool, try_number: int | None = None) -> bool:
    """Close the try of a callback that is calling: connected, or back in line (the number is emptied once it is no longer
    needed). Returns False when there was nothing to close: no try is calling, or the one calling is not `try_number`
    (a report about an earlier try, come late or again). None: whichever try is calling (URLs given before tries were named).
    """
    async with db.transaction(runtime.sessions) as session:
        row = await session.get(CallbackRequest, request_id)
        if row is None or row.status != "calling" or try_number not in (None, row.tries):
            return False
        if connected:
            values: dict[str, object] = {"status": "connected", "number_sealed": ""}
        elif row.tries >= MAX_TRIES:
            values = {"status": "failed", "number_sealed": ""}
        else:
            values = {"status": "pending"}
        if not await _update(session, request_id, status="calling", tries=row.tries, values=values):
            return False  # another report closed this try first
        service_id, tries = row.service_id, row.tries
    if service_id:
        await runtime.switchboard.release(service_id, holder=callback_lease(request_id))
    await confirm_try(runtime, request_id, tries)
    return True


async def _update(session: AsyncSession, request_id: str, *, status: str, tries: int, values: dict[str, object]) -> bool:
    """Change a request only if it is still in `status` at try `tries`; whether it was (one statement: the database decides)."""
    statement = (
        update(CallbackRequest)
        .where(col(CallbackRequest.id) == request_id, col(CallbackRequest.status) == status, col(CallbackRequest.tries) == tries)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # A DML statement executes to a CursorResult (which has rowcount); Session.execute is typed as returning a Result.
    return cast(CursorResult[Any], await session.execute(statement)).rowcount == 1
