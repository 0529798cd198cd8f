"""Twilio voice webhooks: the IVR, dialling with slot claims, roll-over, and the status callback.

Each is served by routing/telephony/endpoint.py, which checks the signature and answers under a
guard: if Redis, the database or any code fails, or the work takes longer than the budget, the
caller still gets valid TwiML that dials the fallback number. URLs given to Twilio carry no
personal data: only the step.

Any request may come twice (Twilio retries one it got no answer to; a signed request can be sent
again). Steps of one call run one at a time (the endpoint holds the call's turn), and a step the
call is already past answers with what the call is doing now (`_resume`), claiming no line and
writing nothing; a request for a call whose status callback came starts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from redis.exceptions import RedisError

from referral_directory.hours import JST
from referral_directory.records import TOPICS
from referral_directory.regions import PostalMatch
from routing.contacts.place import place_of, prefectures_of
from routing.contacts.rules import NOBODY_NOW, likely_wait_minutes, lines_open, queue_name, wider_topic
from routing.engine import Contact, Decision
from routing.live.keys import CALL_EVENTS_CHANNEL, call_state_key, live_call_key
from routing.live.state import stage_leave_queue, stage_waiting
from routing.privacy.confidentiality import caller_pseudonym, reference
from routing.runtime import Runtime
from routing.telephony import prompts, record_log, twiml
from routing.telephony.calls import (
    DIAL_ANSWERED,
    FINAL_CALL_STATUSES,
    Attempt,
    CallState,
    call_ended,
    event_id,
    load_call,
    mark_call_ended,
    save_call,
    stage_call_ended,
    start_call,
)
from routing.telephony.endpoint import CallUnknown, Hook, webhook
from routing.telephony.records import CallRecord

log = structlog.get_logger("tsunagu.voice")

TOPIC_URL = "/twilio/voice/topic"
POSTAL_URL = "/twilio/voice/postal"
PREFECTURE_URL = "/twilio/voice/prefecture"
ANY_LINE_URL = "/twilio/voice/any-line"
ANSWERED_URL = "/twilio/voice/answered"  # a window answered: the case opens, and they hear its number
DIALLED_URL = "/twilio/voice/dialled"
WAIT_URL = "/twilio/voice/wait"
CALLBACK_URL = "/twilio/voice/callback"
WAIT_SECONDS = 20
MAX_WAITS = 9  # about three minutes of waiting before the fallback line
AVERAGE_CALL_MINUTES = 12  # for the spoken estimate of the wait
DIRECT_WRITE_SECONDS = 2.0  # Redis failed at a call's end: the database gets this long to take its record, then the spool


def _shed_incoming(_hook: Hook) -> str:
    """The menu as ever: the topic step starts the call's state when this one was spared it."""
    return twiml.topic_menu(TOPIC_URL, greeting=True, then=TOPIC_URL)


def _shed_topic(hook: Hook) -> str | None:
    """The topic asked again; a caller who chose the crisis lines is always worked (None)."""
    if topic_from_input(hook.form.get("Digits", ""), hook.form.get("SpeechResult", "")) == "crisis":
        return None
    return twiml.topic_menu(TOPIC_URL, greeting=False, then=TOPIC_URL, busy=True)


def _shed_postal(_hook: Hook) -> str:
    """The postal code asked again."""
    return twiml.postal_prompt(POSTAL_URL, again=False, english=False, before=[prompts.BUSY])


def _shed_wait(hook: Hook) -> str | None:
    """The caller keeps their place and waits another round, with the callback offer; the round after a shed one is always
    worked (its URL says so), so that shedding at most doubles a wait's rounds and MAX_WAITS still ends it."""
    if hook.query.get("shed"):
        return None
    return twiml.wait_for_line([prompts.BUSY_WAIT], seconds=WAIT_SECONDS, then=WAIT_URL + "?shed=1", offer=CALLBACK_URL)


@webhook(
    "/twilio/voice/incoming", "The number's voice URL: greeting and topic menu", in_turn=False, on_shed=_shed_incoming
)  # start_call is one SET NX
async def incoming(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    # The caller's pseudonym is made once, here, and carried: the case and the call record both use this one.
    state = CallState(started=runtime.clock.now().timestamp(), pseudonym=caller_pseudonym(form.get("From", ""), keys=runtime.keys))
    await start_call(runtime.redis, hook.call_sid, state)  # a retry or a replay keeps the state the call has (or had)
    return twiml.topic_menu(TOPIC_URL, greeting=True, then=TOPIC_URL)


@webhook("/twilio/voice/topic", "The topic chosen (digit or speech); crisis goes straight to the 24-hour lines", on_shed=_shed_topic)
async def topic(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await _state_or_new(hook)
    if state.topic is not None:
        return _resume(hook, state)  # the topic was chosen already
    state.pseudonym = state.pseudonym or caller_pseudonym(form.get("From", ""), keys=runtime.keys)
    chosen = topic_from_input(form.get("Digits", ""), form.get("SpeechResult", ""))
    state.topic_tries += 1
    if chosen is None and (form.get("Digits") or form.get("SpeechResult")) and state.topic_tries < 2:
        await save_call(runtime.redis, sid, state)
        return twiml.topic_menu(TOPIC_URL, greeting=False, then=TOPIC_URL)
    state.topic = chosen or "general"  # no input, or a second miss: the general window
    state.english = state.topic == "foreign"
    if state.topic == "crisis":
        return await _route(runtime, sid, hook.required("To"), state, [prompts.CRISIS], [prompts.CRISIS_CONNECTING])
    await save_call(runtime.redis, sid, state)
    return twiml.postal_prompt(POSTAL_URL, again=False, english=state.english)


@webhook("/twilio/voice/postal", "The postal code keyed (or # / silence for unknown); then dial", on_shed=_shed_postal)
async def postal(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await _state_or_new(hook, topic="general")
    if state.attempts or state.queue or state.outcome or state.postal_choices:
        return _resume(hook, state)  # routed already (or asked which prefecture)
    digits = form.get("Digits", "").strip("#")
    state.postal_tries += 1
    lines: list[str] = []
    if digits:
        match = _postal_match(runtime, digits)
        if match is None and state.postal_tries < 2:
            await save_call(runtime.redis, sid, state)
            return twiml.postal_prompt(POSTAL_URL, again=True, english=state.english)
        if match is not None and match.prefecture is None and not state.english:
            state.postal_choices = list(match.municipalities)  # several prefectures share it: ask which
            await save_call(runtime.redis, sid, state)
            names = [runtime.regions.name_of(code) for code in prefectures_of(state.postal_choices)]
            return twiml.ask(prompts.which_prefecture(names), action=PREFECTURE_URL, then=PREFECTURE_URL)
        if match is not None and match.prefecture is not None:
            _settle_place(runtime, state, match.municipalities)
            if not state.english:
                lines.append(prompts.read_back(match.label))
    return await _route(runtime, sid, hook.required("To"), state, lines, _connecting(state))


@webhook("/twilio/voice/prefecture", "The prefecture chosen for a postal code that several prefectures share")
async def prefecture(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await hook.known_call(with_topic=True)
    if not state.postal_choices:
        return _resume(hook, state)  # the prefecture was settled already
    choices = prefectures_of(state.postal_choices)
    digit = form.get("Digits", "")
    lines: list[str] = []
    if digit in {str(n) for n in range(1, len(choices) + 1)}:
        chosen = choices[int(digit) - 1]
        _settle_place(runtime, state, [m for m in state.postal_choices if m.startswith(chosen)])
        lines.append(prompts.read_back(runtime.regions.name_of(chosen)))
    state.postal_choices = []
    return await _route(runtime, sid, hook.required("To"), state, lines, _connecting(state))


@webhook("/twilio/voice/dialled", "A window's dial ended: done when answered, else the next window")
async def dialled(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await hook.known_call()
    attempt = state.ringing
    leg = form.get("DialCallSid")
    reported = next((a for a in state.attempts if leg and a.leg == leg), None)
    if reported is not None and reported is not attempt:
        if reported.outcome == "completed" and attempt is not None:
            return twiml.silence()  # the leg a transfer handed on: Twilio reports it, and runs nothing we answer
        return _resume(hook, state)  # this leg's end was handled already: a retry or a replay ends nothing more
    if attempt is None:
        return _resume(hook, state)  # no dial is going on (a repeated report of one that ended): nothing to redo
    status = form.get("DialCallStatus", "failed")
    attempt.outcome = "completed" if status in DIAL_ANSWERED else status
    attempt.leg = attempt.leg or leg  # so that this report, come again, is known
    await runtime.switchboard.release(attempt.service_id, holder=sid)
    if attempt.outcome == "completed":
        state.outcome = "connected"
        await save_call(runtime.redis, sid, state)
        return twiml.tell_and_hang_up([prompts.EN_GOODBYE if state.english else prompts.GOODBYE], state.english)
    not_answered, next_window = (
        (prompts.EN_NOT_ANSWERED, prompts.EN_NEXT_WINDOW) if state.english else (prompts.NOT_ANSWERED, prompts.NEXT_WINDOW)
    )
    return await _route(runtime, sid, hook.required("To"), state, [not_answered], [next_window])


@webhook("/twilio/voice/wait", "Waiting for a free line: try again", on_shed=_shed_wait)
async def wait(hook: Hook) -> str:
    sid, state = hook.call_sid, await hook.known_call()
    if state.queue is None:
        return _resume(hook, state)  # not waiting (any more): a line was claimed, or the wait is over
    return await _route(hook.runtime, sid, hook.required("To"), state, [])


async def _route(
    runtime: Runtime,
    sid: str,
    dialled_number: str,
    state: CallState,
    lines: list[str],
    on_ring: Iterable[str] = (),
    *,
    own: Decision | None = None,
) -> str:
    """Claim a slot on the first free candidate not tried yet and dial it; else wait, or say when help opens.

    `lines` are said whatever happens; `on_ring` only when a window is about to ring (a caller is
    promised a connection only when one is coming). When no window of the caller's topic can take
    them, the general lines are tried at once (rules.wider_topic), `own` being the topic's decision:
    the caller hears, in one sentence, when their topic's windows open, and is put through. Only
    when nothing at all is open are they told when help opens, and offered the 24-hour line.
    """
    snapshot = runtime.snapshot
    assert snapshot is not None and state.topic is not None
    assert state.ringing is None, "a call holding a line is never offered another"  # each step checks it first (_resume)
    topic = state.via or state.topic
    contact = Contact(topic=topic, channel="voice", municipality=state.municipality, prefecture=state.prefecture)
    offer = await runtime.switchboard.offer(snapshot, contact, runtime.clock.now(), holder=sid, queue=state.queue, tried=state.tried)
    decision, line = offer.decision, offer.line
    opens = _own_topic_opens(own, state)
    if line is not None:
        left, state.queue = state.queue, None
        state.attempts.append(Attempt(line.service_id, line.tier))
        event = {"step": "dialling", "topic": state.topic, "lgcode": state.lgcode, "service_id": line.service_id}
        await save_call(runtime.redis, sid, state, event=event, left_queue=left)
        before = [*lines, *opens, *([prompts.EN_TO_GENERAL if state.english else prompts.TO_GENERAL] if opens else on_ring)]
        return twiml.dial(
            line.phones[0], action=DIALLED_URL, caller_id=dialled_number, before=before, english=state.english, whisper=ANSWERED_URL
        )
    if decision.outcome in NOBODY_NOW and not state.attempts:
        via = wider_topic(topic, decision.outcome, via=state.via)
        if via is not None:
            state.via = via
            return await _route(runtime, sid, dialled_number, state, lines, on_ring, own=decision)
        told = own if own is not None and own.outcome == "all_closed" else decision
        if told.outcome != "all_closed":  # no window in the directory serves them at all: the 24-hour line itself
            return await _to_24_hour_line(runtime, sid, state, lines)
        state.outcome = "no_service_open"  # nothing open for them now, the general lines included
        await save_call(runtime.redis, sid, state)
        said = [*lines, *_when_help_opens(told)]
        any_line_offer = prompts.EN_OFFER_24H if state.english else prompts.OFFER_24H
        return twiml.offer_or_hang_up(said, offer=any_line_offer, action=ANY_LINE_URL, closing=_in_danger(state), english=state.english)
    return await _wait(runtime, sid, state, [*lines, *opens], lines_open(decision, snapshot, "voice"))


async def _wait(runtime: Runtime, sid: str, state: CallState, lines: list[str], open_lines: int) -> str:
    """Hold the caller in the queue for their topic and prefecture, telling them their place and the likely wait."""
    waits = sum(1 for a in state.attempts if a.outcome == "waited")
    if waits >= MAX_WAITS:
        left, state.queue = state.queue, None
        state.outcome = "fallback"
        await save_call(runtime.redis, sid, state, left_queue=left)
        sorry = prompts.EN_LONG_WAIT if state.english else prompts.LONG_WAIT
        return twiml.last_offer([sorry], offer=CALLBACK_URL, fallback_number=runtime.settings.fallback_number, english=state.english)
    now = runtime.clock.now().timestamp()
    state.queue = state.queue or queue_name(state.via or state.topic or "general", state.prefecture)
    position = await runtime.switchboard.join_queue(state.queue, holder=sid, since=now)
    minutes = likely_wait_minutes(position, open_lines, minutes_per_contact=AVERAGE_CALL_MINUTES)
    state.attempts.append(Attempt("", "", "waited"))
    event = {"step": "waiting", "topic": state.topic, "lgcode": state.lgcode, "position": position}
    await save_call(runtime.redis, sid, state, event=event, waiting_since=now)
    if waits == 0:  # the first round: the apology, once
        said = [*lines, prompts.EN_ALL_BUSY if state.english else prompts.ALL_BUSY]
        said.append(prompts.en_queue_place(position, minutes) if state.english else prompts.queue_place(position, minutes))
    else:
        said = [*lines, prompts.en_queue_still(position, minutes) if state.english else prompts.queue_still(position, minutes)]
    return twiml.wait_for_line(said, seconds=WAIT_SECONDS, then=WAIT_URL, offer=CALLBACK_URL, english=state.english)


@webhook("/twilio/voice/any-line", "Nothing was open for the caller, the general lines included; they asked for the 24-hour line")
async def any_line(hook: Hook) -> str:
    runtime, form = hook.runtime, hook.form
    sid, state = hook.call_sid, await hook.known_call(with_topic=True)
    if form.get("Digits") != "1":
        return twiml.tell_and_hang_up([*_in_danger(state), prompts.EN_GOODBYE if state.english else prompts.GOODBYE], state.english)
    if state.outcome != "no_service_open":
        return _resume(hook, state)  # the 24-hour line was asked for already
    return await _to_24_hour_line(runtime, sid, state, [])  # the general lines were tried before the offer


async def _state_or_new(hook: Hook, *, topic: str | None = None) -> CallState:
    """Return the call's state, or a new one when Redis lost it (the caller goes on); CallUnknown when the call is over."""
    state = await hook.call()
    if state is not None:
        return state
    if await call_ended(hook.runtime.redis, hook.call_sid):
        raise CallUnknown  # a replay after the call ended: nothing starts again for it
    return CallState(started=hook.runtime.clock.now().timestamp(), topic=topic)


def _resume(hook: Hook, state: CallState) -> str:
    """Answer a step the call is already past (Twilio's retry, or a replay) with what the call is doing now, changing nothing.

    A retry whose first answer was lost gets the TwiML that carries the call on from where it is:
    the line it holds is dialled again (no second line is claimed), a waiting caller goes on
    waiting, a finished one hears goodbye.
    """
    runtime = hook.runtime
    ringing = state.ringing
    if ringing is not None:
        entry = runtime.snapshot.services.get(ringing.service_id) if runtime.snapshot else None
        if entry is None or not entry.phones:
            return _nothing_to_resume(hook)
        return twiml.dial(entry.phones[0], action=DIALLED_URL, caller_id=hook.required("To"), english=state.english, whisper=ANSWERED_URL)
    if state.queue is not None:
        return twiml.redirect(WAIT_URL)
    if state.postal_choices:
        names = [runtime.regions.name_of(code) for code in prefectures_of(state.postal_choices)]
        return twiml.ask(prompts.which_prefecture(names), action=PREFECTURE_URL, then=PREFECTURE_URL)
    if state.outcome == "connected":
        return twiml.tell_and_hang_up([])  # the goodbye was said when the conversation ended
    if state.outcome == "callback_booked":
        booked = prompts.EN_CALLBACK_BOOKED if state.english else prompts.CALLBACK_BOOKED
        return twiml.tell_and_hang_up([booked, *_in_danger(state)], state.english)
    if state.topic is not None and not state.attempts and state.outcome is None:
        return twiml.postal_prompt(POSTAL_URL, again=False, english=state.english)
    if state.outcome == "fallback":  # put through to the 24-hour line already (the longest wait, no window at all): again, told so
        return twiml.to_24_hour_line([], runtime.settings.fallback_number, english=state.english)
    return _nothing_to_resume(hook)


def _nothing_to_resume(hook: Hook) -> str:
    """The fallback number, counted: a step came for a call whose state says nothing to carry on with."""
    hook.runtime.metrics.fallbacks.labels(hook.step, "nothing_to_resume").inc()
    return hook.fallback()


async def _to_24_hour_line(runtime: Runtime, sid: str, state: CallState, lines: list[str]) -> str:
    state.outcome = "fallback"
    await save_call(runtime.redis, sid, state)
    return twiml.to_24_hour_line(lines, runtime.settings.fallback_number, english=state.english)


def _when_help_opens(decision: Decision) -> list[str]:
    lines = []
    for opening in decision.next_openings[:2]:
        when = opening.at.astimezone(JST)
        lines.append(prompts.opens_next(opening.name, f"{when.month}月{when.day}日の{when.hour}時{when.minute:02d}分"))
    return lines


def _own_topic_opens(own: Decision | None, state: CallState) -> list[str]:
    """The one sentence on when the caller's own topic's windows open, said before another line is tried (none: nothing to say)."""
    if own is None or own.outcome != "all_closed" or not own.next_openings or state.topic is None:
        return []
    when = min(opening.at for opening in own.next_openings).astimezone(JST)
    if state.english:
        return [prompts.en_topic_opens(f"{when:%B} {when.day} at {when.hour}:{when.minute:02d}")]
    return [prompts.topic_opens(state.topic, f"{when.month}月{when.day}日の{when.hour}時{when.minute:02d}分")]


def _in_danger(state: CallState) -> list[str]:
    return [prompts.EN_IN_DANGER if state.english else prompts.IN_DANGER]


def topic_from_input(digits: str, speech: str) -> str | None:
    """Return the topic a key press (1–9) or spoken words chose, or None when they chose nothing we know."""
    digits = digits.strip("#*")
    if len(digits) == 1 and digits in "123456789":
        return TOPICS[int(digits) - 1]
    for topic, words in prompts.TOPIC_WORDS.items():
        if any(word.lower() in speech.lower() for word in words):
            return topic
    return None


def _postal_match(runtime: Runtime, digits: str) -> PostalMatch | None:
    """Return what a keyed postal code matches, or None when it is not one we know."""
    try:
        return runtime.regions.postal(digits)
    except ValueError:
        return None


def _settle_place(runtime: Runtime, state: CallState, municipalities: Iterable[str]) -> None:
    """Set the caller's prefecture, and their municipality when the codes resolve to one (wards of one city do)."""
    place = place_of(runtime.regions, municipalities)
    state.prefecture, state.municipality, state.lgcode = place.prefecture, place.municipality, place.lgcode


def _connecting(state: CallState) -> list[str]:
    """What a caller hears just before the first window rings: to whom they are being put through."""
    if state.prefecture is None:
        return [prompts.EN_POSTAL_UNKNOWN if state.english else prompts.POSTAL_UNKNOWN]
    return [prompts.EN_CONNECTING if state.english else prompts.CONNECTING]


@webhook(
    "/twilio/voice/status", "The number's status callback: free every slot, queue the anonymised record (stored once)", caller_facing=False
)
async def status(hook: Hook) -> None:
    runtime, form = hook.runtime, hook.form
    sid = hook.call_sid  # the endpoint answered 204 already when it is missing or malformed
    if form.get("CallStatus") not in FINAL_CALL_STATUSES:
        return  # an in-progress notice: nothing ends yet
    state = await load_call(runtime.redis, sid)
    stateless = state is None
    if state is None:
        # Already finished (a retry: its end is marked), or its state was never made (its first step was shed and the
        # caller hung up before the next) or was lost: marked over, and recorded as abandoned, once (the mark is a SET NX).
        if not await mark_call_ended(runtime.redis, sid):
            return
        state = CallState(started=runtime.clock.now().timestamp() - _seconds(form.get("CallDuration")))
    ringing = state.ringing
    if ringing is not None:
        ringing.outcome = "canceled"  # the caller hung up while a window was ringing
        await runtime.switchboard.release(ringing.service_id, holder=sid)
    record = call_record(runtime, sid, form, state)
    # The call's traces in Redis go, and its record is queued for SQL (routing/telephony/record_log.py), in one round trip:
    # the callback never waits for the database.
    pipe = runtime.redis.pipeline(transaction=False)
    pipe.delete(call_state_key(sid), *([live_call_key(state.case_id)] if state.case_id else []))
    record_log.stage_record(pipe, record)
    stage_call_ended(pipe, sid)
    stage_waiting(pipe, sid, None)
    if state.queue is not None:
        stage_leave_queue(pipe, state.queue, sid)
    pipe.publish(CALL_EVENTS_CHANNEL, json.dumps({"call": event_id(sid), "step": "ended", "outcome": record.outcome}))
    try:
        # A second callback racing this one queues the same record, stored once, and does not count it again.
        deleted = (await pipe.execute())[0]
        ended_here = stateless or deleted > 0
    except RedisError as error:
        log.error("call_record_not_queued", error=type(error).__name__)
        kept = await record_log.keep_without_redis(runtime.engine, runtime.settings.var_dir, record, timeout=DIRECT_WRITE_SECONDS)
        runtime.metrics.records_kept.labels(kept).inc()
        ended_here = True
    else:
        runtime.metrics.records_kept.labels("stream").inc()
    if not ended_here:
        return  # counted by the callback that ended it
    runtime.metrics.calls.labels(record.outcome, record.topic or "none").inc()
    if record.wait_seconds:
        runtime.metrics.wait_seconds.observe(record.wait_seconds)


def _seconds(text: str | None) -> float:
    """Twilio's CallDuration (whole seconds), or 0 when it is missing or not a number."""
    return float(text) if text and text.isdigit() else 0.0


def call_record(runtime: Runtime, sid: str, form: dict[str, str], state: CallState) -> CallRecord:
    """Return the call's anonymised record (its call_ref, a keyed hash of the CallSid, is unique: it is stored once)."""
    attempts = [a for a in state.attempts if a.service_id]
    answered = next((a.service_id for a in attempts if a.outcome == "completed"), None)
    waited = [a for a in state.attempts if a.outcome == "waited"]
    outcome = state.outcome or ("connected" if answered else "abandoned_in_queue" if waited else "abandoned")
    return CallRecord(
        call_ref=reference(sid, keys=runtime.keys),
        caller_pseudonym=state.pseudonym or caller_pseudonym(form.get("From", ""), keys=runtime.keys),
        topic=state.topic,
        lgcode=state.lgcode,
        english=state.english,
        started_at=datetime.fromtimestamp(state.started, UTC),
        ended_at=runtime.clock.now(),
        wait_seconds=len(waited) * WAIT_SECONDS,
        attempts=[{"service_id": a.service_id, "tier": a.tier, "outcome": a.outcome} for a in attempts],
        answered_service_id=answered,
        outcome=outcome,
    )
