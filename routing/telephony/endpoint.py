"""Twilio's webhooks as a plain ASGI layer in front of FastAPI: the path that answers callers, kept short.

FastAPI's router, its dependency solving and the multipart form parser cost more than everything
a webhook itself does (measured: about 1.1 ms per /incoming through FastAPI, against 0.4 ms
here). Twilio only ever POSTs small url-encoded forms to a handful of fixed paths, so this layer
matches the path exactly, reads the body, checks the signature and calls the webhook's function.
Everything else goes on to the FastAPI app.

A caller-facing webhook runs under a guard: if Redis, the database or any code fails, or the
work takes longer than the budget, the caller still gets valid TwiML that dials the fallback
number. Status callbacks answer 204 and are not guarded (Twilio retries them).

Twilio retries a webhook it got no answer from, and a signed request can be sent again by anyone
who saw it, so every webhook is written to be replayed: one step of a call runs at a time (a
second request for the same call waits for the first, then sees what it changed), and what a
step creates is keyed so that it exists once (see `calls.one_step_at_a_time`, the unique keys of
routing/telephony/records.py). A request missing a field Twilio always sends (a CallSid in
Twilio's form, `To`, ...) gets the webhook's defined answer: the fallback number for a caller,
204 for a status callback.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from routing.request_limits import answer, read_body
from routing.runtime import Runtime
from routing.telephony import twiml
from routing.telephony.calls import CallState, load_call, one_step_at_a_time
from routing.telephony.signature import signature_valid, webhook_url

log = structlog.get_logger("tsunagu.voice")

MAX_BODY_BYTES = 64 * 1024  # Twilio's forms are well under 4 KB
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")  # Twilio's call ids: CA and 32 hexadecimal digits
STATUS_TURN_SECONDS = 30.0  # a status callback holds its call's turn at most this long (it is not under the budget)
# A status callback that failed (Redis or the database away) is run again every second while it is this young;
# past that (or once this many wait), the reconciler ends the call from Twilio's word (routing/contacts/reconciler.py).
LATE_RETRY_SECONDS = 1.0
LATE_KEEP_SECONDS = 900.0
LATE_MAX = 10_000


class CallUnknown(Exception):
    """The call's state is gone (long over, or it never reached us): the caller is put through to a human at the fallback number."""


class MalformedRequest(Exception):
    """A field Twilio always sends is missing or is not what Twilio sends: the webhook gives its defined answer."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class Hook:
    """One webhook request, checked: the runtime, Twilio's form fields and the URL's query."""

    runtime: Runtime
    form: dict[str, str]
    query: dict[str, str]
    step: str = ""  # the webhook's metrics label

    @property
    def call_sid(self) -> str:
        """The CallSid Twilio names the call by (every voice webhook carries one); MalformedRequest when it is missing or malformed."""
        sid = self.form.get("CallSid", "")
        if not CALL_SID.fullmatch(sid):
            raise MalformedRequest("CallSid")
        return sid

    @property
    def turn_sid(self) -> str:
        """The call whose turn this request takes: the caller's call (a window's leg names it ParentCallSid), else this call."""
        parent = self.form.get("ParentCallSid", "")
        return parent if CALL_SID.fullmatch(parent) else self.call_sid

    def required(self, name: str) -> str:
        """Return a form field Twilio always sends (such as `To`); MalformedRequest when it is missing or empty."""
        value = self.form.get(name, "")
        if not value:
            raise MalformedRequest(name)
        return value

    async def call(self) -> CallState | None:
        """Return the state of the call this request is about, or None when it is unknown (or long over)."""
        return await load_call(self.runtime.redis, self.call_sid)

    async def known_call(self, *, with_topic: bool = False) -> CallState:
        """Return the state of the call this request is about; raise CallUnknown when there is none (or, `with_topic`, no topic yet)."""
        state = await self.call()
        if state is None or (with_topic and state.topic is None):
            raise CallUnknown
        return state

    def fallback(self) -> str:
        """Return TwiML that puts the caller through to a human at the fallback number."""
        return twiml.fallback(self.runtime.settings.fallback_number)


@dataclass(frozen=True)
class Webhook:
    path: str
    step: str  # the metrics label
    summary: str
    handle: Callable[[Hook], Awaitable[str | None]]
    caller_facing: bool  # answers TwiML under the fallback guard; else a status callback answering 204
    on_failure: Callable[[Runtime], str] | None = None  # the TwiML when the work fails; None: dial the fallback number
    in_turn: bool = True  # runs in its call's turn (one step of a call at a time); False: its one write is atomic by itself
    on_shed: Callable[[Hook], str | None] | None = None  # the answer without the work when the worker is behind; None: never shed


WEBHOOKS: dict[str, Webhook] = {}


@dataclass
class Load:
    """The caller-facing webhooks under way in this worker now."""

    in_flight: int = 0


def webhook(
    path: str,
    summary: str,
    *,
    caller_facing: bool = True,
    on_failure: Callable[[Runtime], str] | None = None,
    in_turn: bool = True,
    on_shed: Callable[[Hook], str | None] | None = None,
) -> Callable:
    """Register a Twilio webhook: the function takes a Hook and returns TwiML (or None for 204).

    `on_failure` replaces the fallback dial for a webhook whose TwiML is not played to the caller
    (the whisper to an answering window: on failure it bridges without one). `in_turn=False` spares
    the call's turn (two round trips to Redis) to a webhook whose only write is atomic by itself.
    `on_shed` answers without the work when the worker is behind (`_shed`); it may return None to work a request all the same.
    """

    def register(handle: Callable[[Hook], Awaitable[str | None]]) -> Callable[[Hook], Awaitable[str | None]]:
        WEBHOOKS[path] = Webhook(path, path.rsplit("/", 1)[-1], summary, handle, caller_facing, on_failure, in_turn, on_shed)
        return handle

    return register


class TwilioWebhooks:
    """ASGI layer: POSTs to a registered webhook path are answered here; everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.late: dict[str, tuple[Webhook, Hook, float]] = {}  # CallSid → a status callback that failed, and when it came
        self._retrying: asyncio.Task | None = None
        self.load = Load()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = WEBHOOKS.get(scope["path"]) if scope["type"] == "http" else None
        if hook is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await answer(send, 405, b"Twilio webhooks take POST", b"text/plain; charset=utf-8", [(b"allow", b"POST")])
            return
        message = await read_body(receive, MAX_BODY_BYTES)
        body = None if message is None else message.get("body", b"") if message["type"] == "http.request" else b""
        if body is None:
            await answer(send, 413, b"request body too large", b"text/plain; charset=utf-8")
            return
        runtime: Runtime = scope["app"].state.runtime
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        query = scope["query_string"].decode("latin-1")
        if runtime.settings.verify_twilio_signatures:
            headers = dict(scope["headers"])
            url = webhook_url(runtime.settings.public_url, scope["path"], query)
            signature = headers.get(b"x-twilio-signature", b"").decode("latin-1")
            settings_header = headers.get(b"x-twilio-webhooks-signature-settings", b"").decode("latin-1")
            if not signature_valid(runtime.twilio_token, url, pairs, signature, settings_header):
                log.warning("twilio_signature_refused", path=scope["path"])
                await answer(send, 403, b"invalid Twilio signature", b"text/plain; charset=utf-8")
                return
        request = Hook(runtime, dict(pairs), dict(parse_qsl(query)) if query else {}, hook.step)
        if hook.caller_facing:
            shed = _shed(hook, request, self.load)
            if shed is not None:
                await answer(send, 200, shed.encode(), b"application/xml")
                return
            self.load.in_flight += 1
            try:
                twiml_answer = await _guarded(hook, request)
            finally:
                self.load.in_flight -= 1
            await answer(send, 200, twiml_answer.encode(), b"application/xml")
        else:
            try:
                await _status_callback(hook, request)
            except Exception as error:  # Twilio does not send it again: this worker does, once what failed is back
                log.error("status_callback_failed", step=hook.step, error=type(error).__name__)
                self._keep_for_later(hook, request)
            await answer(send, 204, b"", None)

    def _keep_for_later(self, hook: Webhook, request: Hook) -> None:
        """Run a failed status callback again every second until it succeeds (the end of the call and its record)."""
        if len(self.late) >= LATE_MAX:
            return
        self.late[request.form.get("CallSid", "") + hook.path] = (hook, request, time.monotonic())
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry(request.runtime), name="late-status-callbacks")

    async def _retry(self, runtime: Runtime) -> None:
        while self.late and not runtime.stopping:
            await asyncio.sleep(LATE_RETRY_SECONDS)
            for key, (hook, request, since) in list(self.late.items()):
                try:
                    await _status_callback(hook, request)
                except Exception:
                    if time.monotonic() - since > LATE_KEEP_SECONDS:
                        del self.late[key]
                        log.warning("status_callback_given_up", step=hook.step)
                    continue
                del self.late[key]
                log.info("status_callback_recovered", step=hook.step)


async def _status_callback(hook: Webhook, request: Hook) -> None:
    """Run a status callback in its call's turn (waiting for it no longer than a caller would); a malformed one is only logged.

    Twilio does not retry a status callback, so whatever it lacks and whatever fails, it gets 204: the
    callback's own work never waits for the database (its record is written behind); one that fails
    (Redis away) is raised for its worker to run again, and the slot reconciler frees what a lost one left.
    """
    try:
        sid = request.turn_sid
    except MalformedRequest as malformed:
        log.warning("webhook_malformed", step=hook.step, field=malformed.field)  # the field's name only, never its value
        return
    runtime = request.runtime
    started = time.perf_counter()
    try:
        async with one_step_at_a_time(
            runtime.redis, sid, hold_seconds=STATUS_TURN_SECONDS, wait_seconds=runtime.settings.webhook_budget_seconds
        ) as ours:
            if not ours:
                log.warning("call_turn_not_had", step=hook.step)  # a step stuck past the budget: record the end all the same
            await hook.handle(request)
    except Exception:  # Twilio sends a status callback once: counted, and the caller keeps it to run again
        runtime.metrics.status_failures.inc()
        raise
    finally:
        runtime.metrics.webhook_seconds.labels(hook.step).observe(time.perf_counter() - started)


async def run_status_callback(runtime: Runtime, path: str, form: dict[str, str]) -> None:
    """Run a status callback Twilio sent but nobody received (the worker it reached died), from what Twilio says now."""
    await _status_callback(WEBHOOKS[path], Hook(runtime, form, {}, WEBHOOKS[path].step))


async def _guarded(hook: Webhook, request: Hook) -> str:
    """Run a caller-facing webhook in its call's turn, under the budget; on any failure answer with the fallback number."""
    runtime = request.runtime
    budget = runtime.settings.webhook_budget_seconds
    started = time.perf_counter()
    try:
        async with asyncio.timeout(budget):
            if hook.in_turn:
                # Held at most a little past the budget: the guard gives up on the step by then.
                async with one_step_at_a_time(runtime.redis, request.turn_sid, hold_seconds=budget + 1.0, wait_seconds=budget) as ours:
                    if not ours:
                        raise TimeoutError("the call's turn was held past the budget")
                    answer = await hook.handle(request)
            else:
                answer = await hook.handle(request)
            assert answer is not None, f"{hook.path} answered no TwiML"
            return answer
    except CallUnknown:
        log.info("call_unknown", step=hook.step)
        runtime.metrics.fallbacks.labels(hook.step, "unknown_call").inc()
        return request.fallback()
    except MalformedRequest as malformed:
        log.warning("webhook_malformed", step=hook.step, field=malformed.field)  # the field's name only, never its value
        if hook.on_failure is not None:
            return hook.on_failure(runtime)
        runtime.metrics.fallbacks.labels(hook.step, "malformed").inc()
        return request.fallback()
    except Exception as error:  # the caller must never hear an error: anything at all falls back to a human
        log.error("voice_degraded", step=hook.step, error=type(error).__name__)
        if hook.on_failure is not None:
            return hook.on_failure(runtime)
        runtime.metrics.fallbacks.labels(hook.step, "timeout" if isinstance(error, TimeoutError) else "error").inc()
        return twiml.fallback(runtime.settings.fallback_number)
    finally:
        runtime.metrics.webhook_seconds.labels(hook.step).observe(time.perf_counter() - started)


def _shed(hook: Webhook, request: Hook, load: Load) -> str | None:
    """The answer that spares a worker that is behind this request's work, or None when the request is to be worked.

    A worker is behind when more caller-facing webhooks are under way in it than TSUNAGU_WEBHOOK_MAX_IN_FLIGHT:
    they all wait on one event loop, and a new one would only make each later. A step that has a
    cheap, valid answer without its work (the question asked again, the caller kept in the queue
    with the callback offer) gets it at once instead of timing out into the fallback number.
    """
    limit = request.runtime.settings.webhook_max_in_flight
    if hook.on_shed is None or limit <= 0 or load.in_flight < limit:
        return None
    answer = hook.on_shed(request)
    if answer is not None:
        request.runtime.metrics.sheds.labels(hook.step).inc()
    return answer


def openapi_paths() -> dict[str, Any]:
    """Describe the Twilio webhooks for /docs (they are served by this layer, not by FastAPI's router)."""
    paths: dict[str, Any] = {}
    for hook in WEBHOOKS.values():
        answers = (
            {"200": {"description": "TwiML", "content": {"application/xml": {}}}}
            if hook.caller_facing
            else {"204": {"description": "Recorded"}}
        )
        paths[hook.path] = {
            "post": {
                "tags": ["twilio"],
                "summary": hook.summary,
                "description": "Called by Twilio with a form signed in X-Twilio-Signature (checked against TSUNAGU_PUBLIC_URL).",
                "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
                "responses": {**answers, "403": {"description": "Missing or invalid Twilio signature"}},
            }
        }
    return paths
