"""Webhooks of the callback path: the offer while waiting, consent, and the call placed back to the person."""

from __future__ import annotations

from referral_directory.storage import db
from routing.privacy.confidentiality import seal
from routing.runtime import Runtime
from routing.telephony import prompts, twiml
from routing.telephony.callbacks import finish_try
from routing.telephony.calls import DIAL_ANSWERED, UNANSWERED_STATUSES, save_call
from routing.telephony.endpoint import Hook, webhook
from routing.telephony.records import CallbackRequest
from routing.telephony.webhooks import WAIT_URL, _in_danger

CONSENT_URL = "/twilio/voice/callback-consent"
BRIDGE_DIALLED_URL = "/twilio/voice/callback-dialled"


@webhook("/twilio/voice/callback", "A waiting caller pressed a key: ask for consent to keep the number for a callback")
async def offer(hook: Hook) -> str:
    state = await hook.call()
    if hook.form.get("Digits") != "1" or state is None:
        return twiml.redirect(WAIT_URL)
    question = prompts.EN_CALLBACK_CONSENT if state.english else prompts.CALLBACK_CONSENT
    return twiml.ask(question, action=CONSENT_URL, then=WAIT_URL, english=state.english)


@webhook("/twilio/voice/callback-consent", "Consent given: keep the number sealed, leave the line, and hang up kindly")
async def consent(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await hook.call()
    if form.get("Digits") != "1" or state is None or state.topic is None:
        return twiml.redirect(WAIT_URL)
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        session.add(
            CallbackRequest(
                topic=state.topic,
                municipality=state.municipality,
                prefecture=state.prefecture,
                lgcode=state.lgcode,
                english=state.english,
                number_sealed=seal(form["From"], keys=runtime.keys),
                dial_number=form["To"],
                consent_at=now,
                created_at=now,
            )
        )
    left, state.queue = state.queue, None
    state.outcome = "callback_booked"
    event = {"step": "callback_booked", "topic": state.topic, "lgcode": state.lgcode}
    await save_call(runtime.redis, sid, state, event=event, left_queue=left)
    booked = prompts.EN_CALLBACK_BOOKED if state.english else prompts.CALLBACK_BOOKED
    return twiml.tell_and_hang_up([booked, *_in_danger(state)], state.english)


async def _request(runtime: Runtime, request_id: str) -> CallbackRequest | None:
    async with runtime.sessions() as session:
        return await session.get(CallbackRequest, request_id)


@webhook("/twilio/voice/callback-bridge", "The person we call back answered: connect them to the window holding their line")
async def bridge(hook: Hook) -> str:
    runtime = hook.runtime
    request_id = hook.query.get("request", "")
    row = await _request(runtime, request_id)
    if row is None or row.status != "calling" or row.service_id is None:
        return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])
    entry = runtime.snapshot.services.get(row.service_id) if runtime.snapshot else None
    if entry is None or not entry.phones:
        await finish_try(runtime, request_id, connected=False)
        return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])
    action = f"{BRIDGE_DIALLED_URL}?request={request_id}"
    return twiml.dial(entry.phones[0], action=action, caller_id=row.dial_number, before=[prompts.CALLBACK_GREETING])


@webhook("/twilio/voice/callback-dialled", "The window's leg of a callback ended")
async def bridge_dialled(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    request_id = hook.query.get("request", "")
    answered = form.get("DialCallStatus") in DIAL_ANSWERED
    await finish_try(runtime, request_id, connected=answered)
    return twiml.tell_and_hang_up([prompts.GOODBYE if answered else prompts.CALLBACK_GONE])


@webhook(
    "/twilio/voice/callback-status",
    "Status of a call placed back: when the person did not answer, the request goes back in line",
    caller_facing=False,
)
async def bridge_status(hook: Hook) -> None:
    if hook.form.get("CallStatus") in UNANSWERED_STATUSES:
        await finish_try(hook.runtime, hook.query.get("request", ""), connected=False)
