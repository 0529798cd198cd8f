"""Webhooks of the callback path: the offer while waiting, consent, and the call placed back to the person."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from referral_directory import db
from routing.call_records import CallbackRequest
from routing.confidentiality import seal
from routing.runtime import Runtime
from routing.telephony import prompts, twiml
from routing.telephony.callbacks import finish_try
from routing.telephony.calls import load_call, save_call
from routing.telephony.signature import TwilioForm
from routing.telephony.webhooks import WAIT_URL, _answer, _in_danger

router = APIRouter(prefix="/twilio/voice", tags=["twilio"])
CONSENT_URL = "/twilio/voice/callback-consent"
BRIDGE_DIALLED_URL = "/twilio/voice/callback-dialled"


@router.post("/callback", summary="A waiting caller pressed a key: ask for consent to keep the number for a callback")
async def offer(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        state = await load_call(runtime.redis, form["CallSid"])
        if form.get("Digits") != "1" or state is None:
            return twiml.redirect(WAIT_URL)
        question = prompts.EN_CALLBACK_CONSENT if state.english else prompts.CALLBACK_CONSENT
        return twiml.ask(question, action=CONSENT_URL, then=WAIT_URL, english=state.english)

    return await _answer(request, "callback", work)


@router.post("/callback-consent", summary="Consent given: keep the number sealed, leave the line, and hang up kindly")
async def consent(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        sid = form["CallSid"]
        state = await load_call(runtime.redis, sid)
        if form.get("Digits") != "1" or state is None or state.topic is None:
            return twiml.redirect(WAIT_URL)
        settings = runtime.settings
        now = runtime.clock.now()
        async with db.transaction(runtime.sessions) as session:
            session.add(
                CallbackRequest(
                    topic=state.topic, municipality=state.municipality, prefecture=state.prefecture, lgcode=state.lgcode,
                    english=state.english, number_sealed=seal(form["From"], secret_key=settings.secret_key, key_id=settings.seal_key_id),
                    dial_number=form["To"], consent_at=now, created_at=now,
                )
            )
        if state.queue is not None:
            await runtime.live.leave_queue(state.queue, sid)
            state.queue = None
        state.outcome = "callback_booked"
        await save_call(runtime.redis, sid, state, event={"step": "callback_booked", "topic": state.topic, "lgcode": state.lgcode})
        booked = prompts.EN_CALLBACK_BOOKED if state.english else prompts.CALLBACK_BOOKED
        return twiml.tell_and_hang_up([booked, *_in_danger(state)], state.english)

    return await _answer(request, "callback-consent", work)


async def _request(runtime: Runtime, request_id: str) -> CallbackRequest | None:
    async with runtime.sessions() as session:
        return await session.get(CallbackRequest, request_id)


@router.post("/callback-bridge", summary="The person we call back answered: connect them to the window holding their line")
async def bridge(request: Request, form: TwilioForm) -> Response:
    request_id = request.query_params.get("request", "")

    async def work(runtime: Runtime) -> str:
        row = await _request(runtime, request_id)
        if row is None or row.status != "calling" or row.service_id is None:
            return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])
        entry = runtime.snapshot.services.get(row.service_id) if runtime.snapshot else None
        if entry is None or not entry.phones:
            await finish_try(runtime, request_id, connected=False)
            return twiml.tell_and_hang_up([prompts.CALLBACK_GONE])
        action = f"{BRIDGE_DIALLED_URL}?request={request_id}"
        return twiml.dial(entry.phones[0], action=action, caller_id=row.dial_number, before=[prompts.CALLBACK_GREETING])

    return await _answer(request, "callback-bridge", work)


@router.post("/callback-dialled", summary="The window's leg of a callback ended")
async def bridge_dialled(request: Request, form: TwilioForm) -> Response:
    request_id = request.query_params.get("request", "")

    async def work(runtime: Runtime) -> str:
        answered = form.get("DialCallStatus") in ("completed", "answered")
        await finish_try(runtime, request_id, connected=answered)
        return twiml.tell_and_hang_up([prompts.GOODBYE if answered else prompts.CALLBACK_GONE])

    return await _answer(request, "callback-dialled", work)


@router.post("/callback-status", summary="Status of a call placed back: when the person did not answer, the request goes back in line")
async def bridge_status(request: Request, form: TwilioForm) -> Response:
    runtime: Runtime = request.app.state.runtime
    if form.get("CallStatus") in ("busy", "no-answer", "failed", "canceled"):
        await finish_try(runtime, request.query_params.get("request", ""), connected=False)
    return Response(status_code=204)

