"""The slot reconciler: frees leases whose call is over but whose end never reached us (lost callbacks).

Leases also expire on their own; this makes a lost callback cost seconds, not the lease's hours.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import select

from routing.call_records import CallbackRequest
from routing.runtime import Runtime
from routing.telephony.calls import state_key

log = structlog.get_logger("tsunagu.reconciler")
EVERY_SECONDS = 60.0
CALLBACK_LEASE = "callback:"


async def reconcile_once(runtime: Runtime) -> int:
    """Release every slot held by a call that has ended; returns how many were released."""
    released = 0
    async for key in runtime.redis.scan_iter(match="tsunagu:slots:*", count=500):
        for lease in await runtime.redis.zrange(key, 0, -1):
            if not await _still_live(runtime, lease):
                released += await runtime.redis.zrem(key, lease)
    if released:
        log.warning("slots_reconciled", released=released)
    return released


async def _still_live(runtime: Runtime, lease: str) -> bool:
    if lease.startswith(CALLBACK_LEASE):
        request_id = lease.removeprefix(CALLBACK_LEASE)
        async with runtime.sessions() as session:
            status = (await session.execute(select(CallbackRequest.status).where(CallbackRequest.id == request_id))).scalar_one_or_none()
        return status == "calling"
    return bool(await runtime.redis.exists(state_key(lease)))


async def run_reconciler(runtime: Runtime) -> None:
    """Reconcile every minute until the runtime stops."""
    while not runtime.stopping:
        try:
            await reconcile_once(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("reconcile_failed", error=type(error).__name__)
        await asyncio.sleep(EVERY_SECONDS)

