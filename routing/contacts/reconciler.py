"""The slot reconciler: frees leases whose call is over, and renews those of calls that go on.

A lease expires on its own after TSUNAGU_SLOT_LEASE_SECONDS, so that a lost status callback
cannot hold a line for ever. A conversation may last longer than that, so once a lease has used
half its time the reconciler asks whether the call still goes on: Twilio's REST API when an
account is configured (the call's own status), else the call's state in Redis (which expires
six hours after the call last moved). A call that goes on keeps its slot; one that is over frees
it now, so a lost callback costs a minute, not the lease's hours.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from twilio.rest import Client

from routing.telephony.records import CallbackRequest
from routing.runtime import Runtime
from routing.telephony.calls import STATE_SECONDS, state_key

log = structlog.get_logger("tsunagu.reconciler")
EVERY_SECONDS = 60.0
CALLBACK_LEASE = "callback:"
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}  # Twilio's final call statuses


@dataclass
class Reconciled:
    released: int = 0
    renewed: int = 0


async def reconcile_once(runtime: Runtime, twilio: Client | None = None) -> Reconciled:
    """Release every slot held by a call that has ended, and renew the half-used leases of calls that go on."""
    done = Reconciled()
    lease_ms = runtime.settings.slot_lease_seconds * 1000
    seconds, micros = await runtime.redis.time()
    now_ms = seconds * 1000 + micros // 1000
    async for key in runtime.redis.scan_iter(match="tsunagu:slots:*", count=500):
        for lease, expiry in await runtime.redis.zrange(key, 0, -1, withscores=True):
            if not await _still_live(runtime, lease):
                done.released += await runtime.redis.zrem(key, lease)
            elif expiry - now_ms < lease_ms / 2:
                if twilio is not None and not lease.startswith(CALLBACK_LEASE) and await _ended_at_twilio(twilio, lease):
                    done.released += await runtime.redis.zrem(key, lease)
                elif await runtime.live.renew_slot_key(key, lease=lease, ttl_ms=lease_ms):
                    if not lease.startswith(CALLBACK_LEASE):
                        await runtime.redis.expire(state_key(lease), STATE_SECONDS)
                    done.renewed += 1
    if done.released:
        log.warning("slots_reconciled", released=done.released)
    if done.renewed:
        log.info("leases_renewed", renewed=done.renewed)
    return done


async def _still_live(runtime: Runtime, lease: str) -> bool:
    if lease.startswith(CALLBACK_LEASE):
        request_id = lease.removeprefix(CALLBACK_LEASE)
        async with runtime.sessions() as session:
            status = (await session.execute(select(CallbackRequest.status).where(CallbackRequest.id == request_id))).scalar_one_or_none()
        return status == "calling"
    return bool(await runtime.redis.exists(state_key(lease)))


async def _ended_at_twilio(twilio: Client, call_sid: str) -> bool:
    """Whether Twilio says the call is over; when Twilio cannot be asked, the call is taken to go on."""
    try:
        call = await asyncio.to_thread(twilio.calls(call_sid).fetch)
    except Exception as error:
        log.warning("call_status_unknown", error=type(error).__name__)
        return False
    return call.status in ENDED


async def run_reconciler(runtime: Runtime, twilio: Client | None = None) -> None:
    """Reconcile every minute until the runtime stops."""
    while not runtime.stopping:
        try:
            await reconcile_once(runtime, twilio)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("reconcile_failed", error=type(error).__name__)
        await asyncio.sleep(EVERY_SECONDS)
