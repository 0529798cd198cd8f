"""A window answers: its case opens and the counsellor hears the case number; a counsellor transfers the live call on.

`<Number url>` makes Twilio fetch /answered when the window picks up, before the two sides are
bridged: the moment to open the case at the answering organisation and whisper its number.
A transfer (POST /api/cases/{id}/transfer) redirects the live call through Twilio's REST API
to /transfer, which dials the receiving window with the same whisper, marked as transferred.
"""

from __future__ import annotations

import json

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from referral_directory.staff import audit
from referral_directory.storage import db
from routing.cases.events import case_changes, referral_changes, tell_after_commit
from routing.cases.handoff import Status
from routing.cases.models import Case, Referral
from routing.live.keys import CALL_EVENTS_CHANNEL, CALL_STATE_SECONDS, live_call_key
from routing.privacy.confidentiality import reference
from routing.runtime import Runtime
from routing.telephony import prompts, twiml
from routing.telephony.calls import CallState, event_id, load_call, stage_call
from routing.telephony.endpoint import Hook, webhook
from routing.telephony.webhooks import ANSWERED_URL, DIALLED_URL

log = structlog.get_logger("tsunagu.voice")
TRANSFER_URL = "/twilio/voice/transfer"


@webhook(
    ANSWERED_URL, "A window answered: open the case at its organisation and whisper the case number", on_failure=lambda _r: twiml.silence()
)
async def answered(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid = form.get("ParentCallSid", "")
    state = await load_call(runtime.redis, sid)
    attempt = state.ringing if state is not None else None
    entry = runtime.snapshot.services.get(attempt.service_id) if attempt is not None and runtime.snapshot else None
    if state is None or attempt is None or entry is None:
        return twiml.silence()  # nothing to tell the window: put them through
    case, transferred = await _case_for_answer(runtime, sid, state, entry.organization_id, entry.tier, entry.id)
    pipe = runtime.redis.pipeline(transaction=False)  # one round trip: the window is waiting to hear the case number
    pipe.set(live_call_key(case.id), sid, ex=CALL_STATE_SECONDS)
    if (state.case_id, attempt.leg) != (case.id, form.get("CallSid")):
        state.case_id, attempt.leg = case.id, form.get("CallSid")
        stage_call(pipe, sid, state)
    event = {"call": event_id(sid), "step": "answered", "case": case.id, "org": entry.organization_id, "service_id": entry.id}
    pipe.publish(CALL_EVENTS_CHANNEL, json.dumps(event))
    await pipe.execute()
    topic = prompts.TOPIC_NAMES.get(state.via or state.topic or "general", "")
    return twiml.whisper([prompts.whisper(case.id, topic, transferred=transferred)])


async def _case_for_answer(runtime: Runtime, sid: str, state: CallState, org: str, tier: str, service_id: str) -> tuple[Case, bool]:
    """Return the call's case, opening it at the answering organisation, and whether this answer is a transfer.

    The first answer of a call (no case in its state yet) inserts the case without looking for it
    first, one round trip fewer while the window waits. Should the case exist all the same (Twilio
    retried a request whose first try opened the case but ran out of time before the call's state
    was stored), the unique call_ref refuses the insert and the second try finds the case.
    """
    call_ref = reference(sid, keys=runtime.keys)
    now = runtime.clock.now()
    opened = state.case_id is not None
    for _ in range(2):
        try:
            async with db.transaction(runtime.sessions) as session:
                case = (await session.execute(select(Case).where(col(Case.call_ref) == call_ref))).scalar_one_or_none() if opened else None
                if case is None:
                    case = Case(
                        channel="voice",
                        call_ref=call_ref,
                        topic=state.topic,
                        topics=[state.topic] if state.topic else [],
                        lgcode=state.lgcode,
                        prefecture=state.prefecture,
                        holder_org=org,
                        holder_service=service_id,
                        holder_tier=tier,
                        caller_pseudonym=state.pseudonym,
                        opened_at=now,
                        updated_at=now,
                    )
                    session.add(case)
                    await session.flush()
                    await audit.append(
                        session,
                        actor="system:voice",
                        action="case.open",
                        resource_kind="case",
                        resource_id=case.id,
                        detail={"channel": "voice", "org": org},
                        at=now,
                    )
                    tell_after_commit(session, runtime, case_changes(case))
                    return case, False
                transfer = (
                    await session.execute(
                        select(Referral).where(
                            col(Referral.case_id) == case.id,
                            col(Referral.kind) == "transfer",
                            col(Referral.to_service) == service_id,
                            col(Referral.status) == Status.PROPOSED.value,
                        )
                    )
                ).scalar_one_or_none()
                if transfer is not None:
                    transfer.status, transfer.accepted_at, transfer.answered_at = Status.ACCEPTED.value, now, now
                    await audit.append(
                        session,
                        actor="system:voice",
                        action="referral.accepted",
                        resource_kind="case",
                        resource_id=case.id,
                        detail={"referral": transfer.id, "kind": "transfer"},
                        at=now,
                    )
                    tell_after_commit(session, runtime, referral_changes(transfer))
                return case, transfer is not None or case.holder_org != org
        except IntegrityError:
            log.info("case_open_raced")
            opened = True
    raise RuntimeError("the call's case could not be opened")


@webhook(TRANSFER_URL, "A counsellor transferred the live call: ring the receiving window")
async def transfer(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    state = await hook.call()
    attempt = state.ringing if state is not None else None
    entry = runtime.snapshot.services.get(attempt.service_id) if attempt is not None and runtime.snapshot else None
    if state is None or entry is None or not entry.phones:
        return hook.fallback()
    line = prompts.EN_CONNECTING if state.english else prompts.TRANSFERRING
    return twiml.dial(entry.phones[0], action=DIALLED_URL, caller_id=form["To"], before=[line], english=state.english, whisper=ANSWERED_URL)
