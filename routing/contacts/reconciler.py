"""The slot reconciler: frees leases whose call (or chat) is over, and renews those of calls that go on.

A lease expires on its own after TSUNAGU_SLOT_LEASE_SECONDS, so that a lost status callback
cannot hold a line for ever. A conversation may last longer than that, so once a lease has used
half its time the reconciler asks whether the call still goes on: Twilio's REST API when an
account is configured (the call's own status), else the call's state in Redis (which expires
six hours after the call last moved). A call that goes on keeps its slot; one that is over frees
it now, so a lost callback costs a minute, not the lease's hours. A call Twilio says is over is
ended as its status callback would have ended it (its record written once), since that callback
may have reached a worker that died. A chat's lease lives while the
chat is in progress in the database; the chat keeper renews it (routing/chats/keeper.py).

A lease younger than a reconciler round is left alone: its holder claims the line first and
records itself after (a callback is marked calling, a chat talking, once the line is theirs), so
a round that came in between would free a line in use and let another contact take it too. A call
whose status callback has come is over for good (nothing claims a line for it again), so its
leases are freed whatever their age: a line claimed by a step that then failed, which the call's
state never learnt of, is back within one round (TSUNAGU_RECONCILE_SECONDS) of the call's end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlmodel import col
from twilio.rest import Client

from routing.chats.models import Chat
from routing.live.keys import CALL_STATE_SECONDS, call_state_key, callback_request_of, chat_of, is_callback_lease, is_chat_lease
from routing.live.state import Lease
from routing.runtime import Runtime
from routing.telephony.calls import FINAL_CALL_STATUSES, call_ended
from routing.telephony.endpoint import run_status_callback
from routing.telephony.records import CallbackRequest

log = structlog.get_logger("tsunagu.reconciler")
STATUS_URL = "/twilio/voice/status"


@dataclass
class Reconciled:
    released: int = 0
    renewed: int = 0


async def reconcile_once(runtime: Runtime, twilio: Client | None = None, *, young_ms: float | None = None) -> Reconciled:
    """Release every slot held by a contact that has ended, and renew the half-used leases of contacts that go on.

    `young_ms`: leases claimed (or renewed) less than this long ago are not judged (default one round,
    TSUNAGU_RECONCILE_SECONDS, at most half a lease).
    """
    done = Reconciled()
    live, lease_ms = runtime.live, runtime.switchboard.lease_ms
    young = min(runtime.settings.reconcile_seconds * 1000, lease_ms / 2) if young_ms is None else young_ms
    now_ms = await live.server_time_ms()
    async for lease in live.leases():
        if lease_ms - (lease.expires_ms - now_ms) < young and not await _call_over(runtime, lease.holder):
            continue  # just claimed: its holder may not have recorded itself yet
        if not await _still_live(runtime, lease.holder):
            done.released += await live.drop_lease(lease)
        elif lease.expires_ms - now_ms < lease_ms / 2 and not is_chat_lease(lease.holder):
            ended = None if twilio is None or is_callback_lease(lease.holder) else await _ended_at_twilio(twilio, lease.holder)
            if ended is not None:  # its status callback never came (the worker it reached died): end the call as it would have
                await run_status_callback(runtime, STATUS_URL, ended)
                await live.drop_lease(lease)
                done.released += 1
            elif await live.renew_lease(lease, ttl_ms=lease_ms):
                await _keep_call_state(runtime, lease)
                done.renewed += 1
    if done.released:
        log.warning("slots_reconciled", released=done.released)
    if done.renewed:
        log.info("leases_renewed", renewed=done.renewed)
    return done


async def _still_live(runtime: Runtime, holder: str) -> bool:
    if is_chat_lease(holder):
        async with runtime.sessions() as session:
            status = (await session.execute(select(col(Chat.status)).where(col(Chat.id) == chat_of(holder)))).scalar_one_or_none()
        return status == "talking"
    if is_callback_lease(holder):
        request_id = callback_request_of(holder)
        async with runtime.sessions() as session:
            status = (
                await session.execute(select(col(CallbackRequest.status)).where(col(CallbackRequest.id) == request_id))
            ).scalar_one_or_none()
        return status == "calling"
    return bool(await runtime.redis.exists(call_state_key(holder)))


async def _call_over(runtime: Runtime, holder: str) -> bool:
    """Whether the lease is a call's whose status callback came (a callback's or a chat's lease is never one)."""
    return not (is_chat_lease(holder) or is_callback_lease(holder)) and await call_ended(runtime.redis, holder)


async def _keep_call_state(runtime: Runtime, lease: Lease) -> None:
    """A call that goes on keeps its state as long as its slot (a callback keeps its own in the database)."""
    if not is_callback_lease(lease.holder):
        await runtime.redis.expire(call_state_key(lease.holder), CALL_STATE_SECONDS)


async def _ended_at_twilio(twilio: Client, call_sid: str) -> dict[str, str] | None:
    """The status callback Twilio sent when the call ended, rebuilt from what it says now; None while the call goes on,
    or when Twilio cannot be asked."""
    try:
        call = await asyncio.to_thread(twilio.calls(call_sid).fetch)
    except Exception as error:
        log.warning("call_status_unknown", error=type(error).__name__)
        return None
    if call.status not in FINAL_CALL_STATUSES:
        return None
    return {"CallSid": call_sid, "CallStatus": str(call.status), "From": call._from or "", "CallDuration": call.duration or "0"}
