"""Webhooks of the callback path: the offer while waiting, consent, and the call placed back to the person.

One callback per call: the request keeps the call's keyed reference under a unique key, so a
consent that comes again (Twilio's retry, a replayed request, two at once) books nothing more and
the caller hears the same confirmation. The call placed back names its request and its try in
its URLs, so a report about an earlier try cannot end the one going on.
"""

from __future__ import annotations

import re

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from referral_directory.storage import db
from routing.privacy.confidentiality import reference, seal
from routing.runtime import Runtime
from routing.telephony import prompts, twiml
from routing.telephony.callbacks import confirm_try, finish_try
from routing.telephony.calls import DIAL_ANSWERED, UNANSWERED_STATUSES, CallState, save_call
from routing.telephony.endpoint import Hook, webhook
from routing.telephony.records import CallbackRequest
from routing.telephony.webhooks import WAIT_URL, _in_danger, _resume

log = structlog.get_logger("tsunagu.callbacks")

CONSENT_URL = "/twilio/voice/callback-consent"
BRIDGE_DIALLED_URL = "/twilio/voice/callback-dialled"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What Twilio gives as From when the caller's number is withheld or unknown (非通知, 公衆電話, ...).
WITHHELD = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})


def callable_back(number: str) -> bool:
    """Whether a caller's From is a number that can be called back (neither withheld nor malformed)."""
    return E164.fullmatch(number) is not None and number not in WITHHELD


def _no_number(state: CallState) -> str:
    """The caller's number is withheld: no callback can be promised, so they keep their place in the queue."""
    sorry = prompts.EN_CALLBACK_NO_NUMBER if state.english else prompts.CALLBACK_NO_NUMBER
    return twiml.say_and_redirect([sorry], to=WAIT_URL, english=state.english)


@webhook("/twilio/voice/callback", "A waiting caller pressed a key: ask for consent to keep the number for a callback")
async def offer(hook: Hook) -> str:
    state = await hook.call()
    if hook.form.get("Digits") != "1" or state is None:
        return twiml.redirect(WAIT_URL)
    if not callable_back(hook.form.get("From", "")):
        return _no_number(state)
    question = prompts.EN_CALLBACK_CONSENT if state.english else prompts.CALLBACK_CONSENT
    return twiml.ask(question, action=CONSENT_URL, then=WAIT_URL, english=state.english)


@webhook("/twilio/voice/callback-consent", "Consent given: keep the number sealed, leave the line, and hang up kindly")
async def consent(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await hook.call()
    if form.get("Digits") != "1":
        return twiml.redirect(WAIT_URL)
    call_ref = reference(sid, keys=runtime.keys)
    if state is None or state.topic is None:  # over, or never reached us: a replay hears its booking confirmed, or nothing is booked
        return _booked(await _booking(runtime, call_ref)) or twiml.redirect(WAIT_URL)
    if state.ringing is not None or state.outcome == "connected":
        return _resume(hook, state)  # a line was found for this call: nothing to book
    if not callable_back(form.get("From", "")):
        return _no_number(state)
    now = runtime.clock.now()
    try:
        async with db.transaction(runtime.sessions) as session:
            session.add(
                CallbackRequest(
                    call_ref=call_ref,
                    topic=state.topic,
                    municipality=state.municipality,
                    prefecture=state.prefecture,
                    lgcode=state.lgcode,
                    english=state.english,
                    number_sealed=seal(form["From"], keys=runtime.keys),
                    dial_number=hook.required("To"),
                    consent_at=now,
                    created_at=now,
                )
            )
    except IntegrityError:
        log.info("callback_already_booked")  # the consent came again: the call's one request stands
    left, state.queue = state.queue, None
    state.outcome = "callback_booked"
    event = {"step": "callback_booked", "topic": state.topic, "lgcode": state.lgcode}
    await save_call(runtime.redis, sid, state, event=event, left_queue=left)
    booked = prompts.EN_CALLBACK_BOOKED if state.english else prompts.CALLBACK_BOOKED
    return twiml.tell_and_hang_up([booked, *_in_danger(state)], state.english)


async def _booking(runtime: Runtime, call_ref: str) -> CallbackRequest | None:
    """Return the callback request a call booked, if any."""
    async with runtime.sessions() as session:
        return (await session.execute(select(CallbackRequest).where(col(CallbackRequest.call_ref) == call_ref))).scalar_one_or_none()


def _booked(request: CallbackRequest | None) -> str | None:
    """The confirmation a call that booked a callback heard (None when it booked none)."""
    if request is None:
        return None
    booked = prompts.EN_CALLBACK_BOOKED if request.english else prompts.CALLBACK_BOOKED
    return twiml.tell_and_hang_up([booked, prompts.EN_IN_DANGER if request.english else prompts.IN_DANGER], request.english)


async def _request(runtime: Runtime, request_id: str) -> CallbackRequest | None:
    async with runtime.sessions() as session:
        return await session.get(CallbackRequest, request_id)


@webhook("/twilio/voice/callback-bridge", "The person we call back answered: connect them to the window holding their line")
async def bridge(hook: Hook) -> str:
    runtime = hook.runtime
    request_id = hook.query.get("request", "")
    row = await _request(runtime, request_id)
    if row is None or row.status != "calling" or row.service_id is None or _try_number(hook) not in (None, row.tries):
        return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])  # a request about another try, or one long over
    await confirm_try(runtime, request_id, row.tries)  # placed after all, if Twilio had not said so in time
    entry = runtime.snapshot.services.get(row.service_id) if runtime.snapshot else None
    if entry is None or not entry.phones:
        await finish_try(runtime, request_id, connected=False, try_number=_try_number(hook))
        return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])
    action = f"{BRIDGE_DIALLED_URL}?request={request_id}&try={row.tries}"
    return twiml.dial(entry.phones[0], action=action, caller_id=row.dial_number, before=[prompts.CALLBACK_GREETING])


@webhook("/twilio/voice/callback-dialled", "The window's leg of a callback ended")
async def bridge_dialled(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    request_id = hook.query.get("request", "")
    answered = form.get("DialCallStatus") in DIAL_ANSWERED
    await finish_try(runtime, request_id, connected=answered, try_number=_try_number(hook))
    return twiml.tell_and_hang_up([prompts.GOODBYE if answered else prompts.CALLBACK_GONE])


@webhook(
    "/twilio/voice/callback-status",
    "Status of a call placed back: when the person did not answer, the request goes back in line",
    caller_facing=False,
)
async def bridge_status(hook: Hook) -> None:
    if hook.form.get("CallStatus") in UNANSWERED_STATUSES:
        await finish_try(hook.runtime, hook.query.get("request", ""), connected=False, try_number=_try_number(hook))


def _try_number(hook: Hook) -> int | None:
    """The try of the callback a request is about (named in its signed URL); None in URLs given before tries were named."""
    text = hook.query.get("try", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 4 else None
