"""Twilio voice webhooks: the IVR, dialling with slot claims, roll-over, and the status callback.

Every answer is built inside a guard: if Redis, the database or any code fails, or the work
takes longer than the budget, the caller still gets valid TwiML that dials the fallback number.
URLs given to Twilio carry no personal data: only the step.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import structlog
from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from referral_directory import db
from referral_directory.hours import JST
from referral_directory.records import TOPICS
from referral_directory.regions import lgcode6
from routing.call_records import CallRecord
from routing.confidentiality import caller_pseudonym, reference
from routing.live import CALL_EVENTS_CHANNEL, WAITING_KEY
from routing.engine import Contact, Load, decide_route, matching_services
from routing.preview import shared_municipality
from routing.runtime import Runtime
from routing.telephony import prompts, twiml
from routing.telephony.calls import STATE_SECONDS, Attempt, CallState, event_id, load_call, save_call, state_key
from routing.telephony.signature import TwilioForm

router = APIRouter(prefix="/twilio/voice", tags=["twilio"])
log = structlog.get_logger("tsunagu.voice")

TOPIC_URL = "/twilio/voice/topic"
POSTAL_URL = "/twilio/voice/postal"
DIALLED_URL = "/twilio/voice/dialled"
WAIT_URL = "/twilio/voice/wait"
CALLBACK_URL = "/twilio/voice/callback"
WAIT_SECONDS = 20
MAX_WAITS = 9  # about three minutes of waiting before the fallback line
AVERAGE_CALL_MINUTES = 12  # for the spoken estimate of the wait


def _xml(text: str) -> Response:
    return Response(text, media_type="application/xml")


async def _answer(request: Request, step: str, work: Callable[[Runtime], Awaitable[str]]) -> Response:
    """Run a webhook's work under the budget; on any failure answer with the fallback number."""
    runtime: Runtime = request.app.state.runtime
    started = time.perf_counter()
    try:
        async with asyncio.timeout(runtime.settings.webhook_budget_seconds):
            return _xml(await work(runtime))
    except Exception as error:  # the caller must never hear an error: anything at all falls back to a human
        log.error("voice_degraded", step=step, error=type(error).__name__)
        runtime.metrics.fallbacks.labels(step).inc()
        return _xml(twiml.fallback(runtime.settings.fallback_number))
    finally:
        runtime.metrics.webhook_seconds.labels(step).observe(time.perf_counter() - started)


@router.post("/incoming", summary="The number's voice URL: greeting and topic menu")
async def incoming(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        # One plain SET: a new call cannot be waiting yet, so save_call's pipeline is not needed here.
        state = CallState(started=runtime.clock.now().timestamp())
        await runtime.redis.set(state_key(form["CallSid"]), state.dumps(), ex=STATE_SECONDS)
        return twiml.topic_menu(TOPIC_URL, greeting=True, then=TOPIC_URL)

    return await _answer(request, "incoming", work)


@router.post("/topic", summary="The topic chosen (digit or speech); crisis goes straight to the 24-hour lines")
async def topic(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        sid = form["CallSid"]
        state = await load_call(runtime.redis, sid) or CallState(started=runtime.clock.now().timestamp())
        chosen = topic_from_input(form.get("Digits", ""), form.get("SpeechResult", ""))
        state.topic_tries += 1
        if chosen is None and (form.get("Digits") or form.get("SpeechResult")) and state.topic_tries < 2:
            await save_call(runtime.redis, sid, state)
            return twiml.topic_menu(TOPIC_URL, greeting=False, then=TOPIC_URL)
        state.topic = chosen or "general"  # no input, or a second miss: the general window
        state.english = state.topic == "foreign"
        if state.topic == "crisis":
            return await _route(runtime, sid, form["To"], state, [prompts.CRISIS])
        await save_call(runtime.redis, sid, state)
        return twiml.postal_prompt(POSTAL_URL, again=False, english=state.english)

    return await _answer(request, "topic", work)


@router.post("/postal", summary="The postal code keyed (or # / silence for unknown); then dial")
async def postal(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        sid = form["CallSid"]
        state = await load_call(runtime.redis, sid) or CallState(started=runtime.clock.now().timestamp(), topic="general")
        digits = form.get("Digits", "").strip("#")
        state.postal_tries += 1
        lines: list[str] = []
        if digits:
            match = _postal_match(runtime, digits)
            if match is None and state.postal_tries < 2:
                await save_call(runtime.redis, sid, state)
                return twiml.postal_prompt(POSTAL_URL, again=True, english=state.english)
            if match is not None:
                state.municipality, state.prefecture, state.lgcode, place = match
                lines.append(prompts.read_back(place) if not state.english else prompts.EN_CONNECTING)
        if state.prefecture is None:
            lines.append(prompts.EN_POSTAL_UNKNOWN if state.english else prompts.POSTAL_UNKNOWN)
        elif not state.english:
            lines.append(prompts.CONNECTING)
        return await _route(runtime, sid, form["To"], state, lines)

    return await _answer(request, "postal", work)


@router.post("/dialled", summary="A window's dial ended: done when answered, else the next window")
async def dialled(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        sid = form["CallSid"]
        state = await load_call(runtime.redis, sid)
        if state is None:
            return twiml.fallback(runtime.settings.fallback_number)
        attempt = state.ringing
        if attempt is None and state.outcome == "connected":
            return twiml.tell_and_hang_up([])  # a repeated report of a dial that already ended: nothing to redo
        status = form.get("DialCallStatus", "failed")
        if attempt is not None:
            attempt.outcome = "completed" if status in ("completed", "answered") else status
            await runtime.live.release_slot(attempt.service_id, lease=sid)
        if attempt is not None and attempt.outcome == "completed":
            state.outcome = "connected"
            await save_call(runtime.redis, sid, state)
            return twiml.tell_and_hang_up([prompts.GOODBYE])
        next_line = prompts.EN_NEXT_WINDOW if state.english else prompts.NEXT_WINDOW
        return await _route(runtime, sid, form["To"], state, [next_line])

    return await _answer(request, "dialled", work)


@router.post("/wait", summary="Waiting for a free line: try again")
async def wait(request: Request, form: TwilioForm) -> Response:
    async def work(runtime: Runtime) -> str:
        sid = form["CallSid"]
        state = await load_call(runtime.redis, sid)
        if state is None:
            return twiml.fallback(runtime.settings.fallback_number)
        return await _route(runtime, sid, form["To"], state, [])

    return await _answer(request, "wait", work)


async def _route(runtime: Runtime, sid: str, dialled_number: str, state: CallState, lines: list[str]) -> str:
    """Claim a slot on the first free candidate not tried yet and dial it; else wait, or say when help opens."""
    snapshot = runtime.snapshot
    assert snapshot is not None and state.topic is not None
    now = runtime.clock.now()
    contact = Contact(topic=state.topic, channel="voice", municipality=state.municipality, prefecture=state.prefecture)
    untried = [r.entry.id for r in matching_services(snapshot, contact) if r.entry.id not in state.tried]
    load = Load(in_use=await runtime.live.slots_in_use(untried), rotation=runtime.next_rotation())
    decision = decide_route(snapshot, contact, now, load, runtime.settings.policy_for(state.topic))
    tried = state.tried
    candidates = [c for c in decision.candidates if c.service_id not in tried and c.phones]
    if state.queue is not None and candidates:
        # First come, first served across every worker: a waiting caller takes a line only when
        # fewer callers are ahead of them than there are free lines.
        ahead = await runtime.live.queue_position(state.queue, sid)
        if ahead is not None and ahead >= sum(c.free_slots for c in candidates):
            candidates = []
    for candidate in candidates:
        lease_ms = runtime.settings.slot_lease_seconds * 1000
        if await runtime.live.claim_slot(candidate.service_id, lease=sid, capacity=candidate.capacity, ttl_ms=lease_ms):
            if state.queue is not None:
                await runtime.live.leave_queue(state.queue, sid)
                state.queue = None
            state.attempts.append(Attempt(candidate.service_id, candidate.tier))
            event = {"step": "dialling", "topic": state.topic, "lgcode": state.lgcode, "service_id": candidate.service_id}
            await save_call(runtime.redis, sid, state, event=event)
            return twiml.dial(candidate.phones[0], action=DIALLED_URL, caller_id=dialled_number, before=lines, english=state.english)
    if decision.outcome == "all_closed" and not state.attempts:
        state.outcome = "no_service_open"
        await save_call(runtime.redis, sid, state)
        return twiml.tell_and_hang_up([*lines, *_when_help_opens(decision), *_in_danger(state)], state.english)
    lines_open = sum(c.capacity for c in decision.candidates) + sum(snapshot.services[i].capacity.get("voice", 0) for i in decision.full)
    return await _wait(runtime, sid, state, lines, lines_open)


async def _wait(runtime: Runtime, sid: str, state: CallState, lines: list[str], lines_open: int) -> str:
    """Hold the caller in the queue for their topic and prefecture, telling them their place and the likely wait."""
    waits = sum(1 for a in state.attempts if a.outcome == "waited")
    if waits >= MAX_WAITS:
        if state.queue is not None:
            await runtime.live.leave_queue(state.queue, sid)
        state.outcome = "fallback"
        await save_call(runtime.redis, sid, state)
        sorry = prompts.EN_LONG_WAIT if state.english else prompts.LONG_WAIT
        return twiml.last_offer([sorry], offer=CALLBACK_URL, fallback_number=runtime.settings.fallback_number, english=state.english)
    now = runtime.clock.now().timestamp()
    state.queue = state.queue or f"{state.topic}:{state.prefecture or '00'}"
    position = await runtime.live.join_queue(state.queue, sid, now) + 1
    minutes = max(1, math.ceil(position * AVERAGE_CALL_MINUTES / max(1, lines_open)))
    state.attempts.append(Attempt("", "", "waited"))
    event = {"step": "waiting", "topic": state.topic, "lgcode": state.lgcode, "position": position}
    await save_call(runtime.redis, sid, state, event=event, waiting_since=now)
    said = [*lines, prompts.EN_ALL_BUSY if state.english else prompts.ALL_BUSY]
    said.append(prompts.en_queue_place(position, minutes) if state.english else prompts.queue_place(position, minutes))
    return twiml.wait_for_line(said, seconds=WAIT_SECONDS, then=WAIT_URL, offer=CALLBACK_URL, english=state.english)


def _when_help_opens(decision) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for opening in decision.next_openings[:2]:
        when = opening.at.astimezone(JST)
        lines.append(prompts.opens_next(opening.name, f"{when.month}月{when.day}日の{when.hour}時{when.minute:02d}分"))
    return lines


def _in_danger(state: CallState) -> list[str]:
    return [prompts.EN_IN_DANGER if state.english else prompts.IN_DANGER]


def topic_from_input(digits: str, speech: str) -> str | None:
    """Return the topic a key press (1–9) or spoken words chose, or None when they chose nothing we know."""
    digits = digits.strip("#*")
    if len(digits) == 1 and digits.isdigit() and digits != "0":
        return TOPICS[int(digits) - 1]
    for topic, words in prompts.TOPIC_WORDS.items():
        if any(word.lower() in speech.lower() for word in words):
            return topic
    return None


def _postal_match(runtime: Runtime, digits: str) -> tuple[str | None, str | None, str | None, str] | None:
    """Return (municipality, prefecture, lgcode, place name) for a postal code, or None when it is not one we know."""
    try:
        match = runtime.regions.postal(digits)
    except ValueError:
        return None
    if match is None:
        return None
    municipality = shared_municipality(runtime.regions, match.municipalities)
    return municipality, match.prefecture, lgcode6(municipality) if municipality else None, match.label


@router.post("/status", summary="The number's status callback: free every slot, write the anonymised record (idempotent)")
async def status(request: Request, form: TwilioForm) -> Response:
    runtime: Runtime = request.app.state.runtime
    sid = form["CallSid"]
    if form.get("CallStatus") not in ("completed", "busy", "failed", "no-answer", "canceled"):
        return Response(status_code=204)  # an in-progress notice: nothing ends yet
    state = await load_call(runtime.redis, sid)
    if state is None:
        return Response(status_code=204)  # already finished (a retry), or never reached us
    ringing = state.ringing
    if ringing is not None:
        ringing.outcome = "canceled"  # the caller hung up while a window was ringing
        await runtime.live.release_slot(ringing.service_id, lease=sid)
    record = await _write_record(runtime, sid, form, state)
    await runtime.redis.delete(state_key(sid))
    await runtime.redis.zrem(WAITING_KEY, sid)
    if state.queue is not None:
        await runtime.live.leave_queue(state.queue, sid)
    await runtime.redis.publish(CALL_EVENTS_CHANNEL, json.dumps({"call": event_id(sid), "step": "ended", "outcome": record.outcome}))
    runtime.metrics.calls.labels(record.outcome, record.topic or "none").inc()
    if record.wait_seconds:
        runtime.metrics.wait_seconds.observe(record.wait_seconds)
    return Response(status_code=204)


async def _write_record(runtime: Runtime, sid: str, form: dict[str, str], state: CallState) -> CallRecord:
    settings = runtime.settings
    attempts = [a for a in state.attempts if a.service_id]
    answered = next((a.service_id for a in attempts if a.outcome == "completed"), None)
    waited = [a for a in state.attempts if a.outcome == "waited"]
    outcome = state.outcome or ("connected" if answered else "abandoned_in_queue" if waited else "abandoned")
    ended = runtime.clock.now()
    started = datetime.fromtimestamp(state.started, timezone.utc)
    record = CallRecord(
        call_ref=reference(sid, secret_key=settings.secret_key),
        caller_pseudonym=caller_pseudonym(form.get("From", ""), secret_key=settings.secret_key, key_id=settings.pseudonym_key_id),
        topic=state.topic,
        lgcode=state.lgcode,
        english=state.english,
        started_at=started,
        ended_at=ended,
        wait_seconds=len(waited) * WAIT_SECONDS,
        attempts=[{"service_id": a.service_id, "tier": a.tier, "outcome": a.outcome} for a in attempts],
        answered_service_id=answered,
        outcome=outcome,
    )
    try:
        async with db.transaction(runtime.sessions) as session:
            session.add(record)
    except IntegrityError:
        log.info("call_record_exists")  # a retried callback raced the first one: the record is already there
    return record

