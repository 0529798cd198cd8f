"""A live transfer: the call on the line now goes to a window of the next tier, through Twilio's REST API.

Unlike the rest of the case service, it runs its own two short transactions: the referral is
committed before Twilio is asked to move the call (a round trip to a remote API must not hold
the database's write lock, which every window answering a call needs too), and a transfer
Twilio refuses is recorded in a second one.

A request Twilio did not answer in time is called off the same way, though Twilio may still carry
it out: then the call comes to /transfer with its state back at the first window, whose line it
still holds, and is put through to that window again. No line is claimed twice, and the person
never hears silence.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import NoReturn, cast

import structlog
from twilio.base.exceptions import TwilioRestException

from referral_directory.errors import Conflict, UpstreamFailed
from referral_directory.hours import is_open_at
from referral_directory.staff.access import Action
from referral_directory.staff.accounts import Staff
from referral_directory.storage import db
from routing.cases.events import referral_changes, tell_after_commit
from routing.cases.handoff import Status
from routing.cases.models import Referral
from routing.cases.rules import audit_case, case_for
from routing.cases.schemas import ReferralIn, ReferralOut
from routing.cases.service import new_referral, referral_out, target_service
from routing.live.keys import live_call_key
from routing.runtime import Runtime
from routing.telephony.callbacks import twilio_client
from routing.telephony.calls import Attempt, CallState, load_call, save_call
from routing.telephony.case_webhooks import TRANSFER_URL

log = structlog.get_logger("tsunagu.cases")
ANSWER_MINUTES = 2  # the transfer's referral falls due when the next window has not picked up by then


async def transfer_call(runtime: Runtime, staff: Staff, case_id: str, body: ReferralIn) -> ReferralOut:
    """Transfer the call on the line now to a window of the next tier, through Twilio's REST API.

    The next window's line is claimed through the switchboard (so its capacity holds), the
    transfer's referral is committed, and only then is Twilio asked to move the call. If Twilio
    does not take it, the call stays where it is and the referral ends as expired (audited).
    """
    now = runtime.clock.now()
    if not runtime.settings.twilio_account_sid:
        raise Conflict("live transfers need Twilio's REST API: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    target = target_service(runtime, body.to_service)
    assert runtime.snapshot is not None
    if not is_open_at(target.hours, now, runtime.snapshot.holidays) or not target.phones:
        raise Conflict(f"{target.name} is not open now: refer the case for follow-up instead")
    sid = cast(str | None, await runtime.redis.get(live_call_key(case_id)))  # the client decodes every reply to str
    state = await load_call(runtime.redis, sid) if sid else None
    current = state.ringing if state is not None else None
    async with db.transaction(runtime.sessions) as session:
        case, referrals = await case_for(session, staff, case_id, Action.REFER)
        here = runtime.snapshot.services.get(current.service_id) if current is not None else None
        if sid is None or state is None or current is None or here is None or here.organization_id != staff.organization_id:
            raise Conflict("this case's call is not connected to your organisation now")
        if not await runtime.switchboard.claim(target, holder=sid, channel="voice"):
            raise Conflict(f"every line of {target.name} is busy: try another window, or refer the case for follow-up")
        try:
            referral = await new_referral(
                session,
                runtime,
                staff,
                case,
                referrals,
                body,
                target=target,
                kind="transfer",
                deadline=now + timedelta(minutes=ANSWER_MINUTES),
            )
        except BaseException:
            await runtime.switchboard.release(target.id, holder=sid)
            raise
    # The call's state says where it goes first: Twilio may fetch /transfer before update() returns.
    current.outcome = "completed"  # this window spoke with the person, and hands them on
    state.attempts.append(Attempt(target.id, target.tier))
    await save_call(runtime.redis, sid, state, event={"step": "transferring", "case": case_id, "service_id": target.id})
    try:
        client = twilio_client(runtime.settings)
        await asyncio.to_thread(client.calls(sid).update, url=runtime.settings.public_url.rstrip("/") + TRANSFER_URL, method="POST")
    except Exception as error:
        await _transfer_failed(runtime, staff, sid, state, current, referral, error)
    await runtime.switchboard.release(current.service_id, holder=sid)
    return referral_out(referral)


async def _transfer_failed(
    runtime: Runtime, staff: Staff, sid: str, state: CallState, current: Attempt, referral: Referral, error: Exception
) -> NoReturn:
    """Twilio did not take the redirect: the call stays where it is, and the transfer's referral ends as expired (audited)."""
    state.attempts.pop()
    current.outcome = "ringing"  # as before: the first window still has the person on the line, and holds its slot
    await save_call(runtime.redis, sid, state)
    await runtime.switchboard.release(referral.to_service, holder=sid)
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        row = await session.get(Referral, referral.id)
        if row is not None:  # it was committed a moment ago; only a purge could have taken it since
            row.status, row.answered_at = Status.EXPIRED.value, now
            tell_after_commit(session, runtime, referral_changes(row))
        await audit_case(
            session, staff, "referral.transfer_failed", referral.case_id, {"referral": referral.id, "error": type(error).__name__}, now
        )
    log.warning("transfer_not_placed", referral=referral.id, error=type(error).__name__)
    if not isinstance(error, TwilioRestException):  # no answer: Twilio may still move the call, back to this window
        raise UpstreamFailed(
            "Twilio did not answer in time, so the transfer was called off and the call is still with you; should it drop all the "
            "same, the person is put through to your window again: try again, or refer the case for follow-up"
        )
    raise UpstreamFailed("Twilio did not take the transfer, so the call is still with you: try again, or refer the case for follow-up")
