"""Bounds on what a request may bring, and on what an error sends back: one body limit, one 422 answer.

Every field a staff member sends is bounded in its model (routing/cases/schemas.py,
referral_directory/api_models.py); this module bounds the request as a whole, before anything
reads it, and keeps a refusal small:

- a body larger than MAX_BODY_BYTES is answered 413 with a JSON message, whether it says its
  length up front or streams it in chunks; nothing of it reaches an endpoint. Twilio's webhooks
  are bounded by their own, smaller limit before they get here (routing/telephony/endpoint.py);
- a JSON body holding text that is not text (a lone UTF-16 surrogate, which JSON can smuggle
  in as an escape such as "\\ud800", and which neither the database nor an answer can
  write) is answered 422, naming where it is, before an endpoint sees it;
- a 422 from FastAPI's request validation lists the problems without echoing the input: each
  offending value is shown as a short preview at most, at most MAX_ERRORS problems are listed
  (the rest counted), and whatever is shown back is written as UTF-8 whatever was sent.

`install(app)` wires this in; it is the one line routing/app.py needs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: a service with every area of Japan is about 25 KB
TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB ({MAX_BODY_BYTES} bytes), the most this API takes"
MAX_ERRORS = 20  # problems listed in one 422; the rest are counted
PREVIEW_CHARS = 80  # characters of an offending value shown back
LOC_CHARS = 80  # characters of one part of a problem's location (a key the client sent may be long)
MSG_CHARS = 300  # characters of one problem's message
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # how JSON writes half of a UTF-16 pair
NOT_TEXT = "this text holds a lone UTF-16 surrogate (such as \\ud800), which is not a character: send the text as it should read"


FormRefusal = Callable[[Scope], Response]  # the page a signed-in browser gets when its form is too large


def install(app: FastAPI, form_refusal: FormRefusal | None = None) -> None:
    """Bound every request body the app reads, and answer 422s without echoing the input.

    `form_refusal`: the page for a browser's form (a file chosen on a page with its script off) that is too large;
    every other client gets the JSON answer.
    """
    app.add_middleware(BoundedBody, form_refusal=form_refusal)
    app.add_exception_handler(RequestValidationError, validation_failed)  # type: ignore[arg-type]  # Starlette types handlers for any Exception


class BoundedBody:
    """ASGI layer: a body over MAX_BODY_BYTES is refused with 413 before the app reads any of it.

    A declared Content-Length over the limit is refused at once. Any other body is read here, up
    to the limit, and handed to the app whole: a chunked body that turns out too large is refused
    before the app has seen a byte. A JSON body holding a lone surrogate is refused (422) here too.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, form_refusal: FormRefusal | None = None) -> None:
        self.app = app
        self.limit = limit
        self.form_refusal = form_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        message = await read_body(receive, self.limit)
        if message is None:
            await self._too_large(scope, receive, send)
            return
        where = not_text_in(message.get("body", b""))
        if where is not None:
            problem = {"loc": [_part(p) for p in where], "msg": NOT_TEXT, "type": "string_unicode"}
            await JSONResponse({"detail": [problem]}, status_code=422)(scope, receive, send)
            return
        await self.app(scope, _replay(message, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.form_refusal is not None and is_page_form(scope):
            response = self.form_refusal(scope)
        else:
            response = JSONResponse({"detail": TOO_LARGE}, status_code=413)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


async def read_body(receive: Receive, limit: int) -> Message | None:
    """Return the whole body as one ASGI message, or None when it is larger than `limit` (the webhooks read theirs so too)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message  # the client went away: let the app see that
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


async def answer(send: Send, status: int, body: bytes, content_type: bytes | None, extra: list | None = None) -> None:
    """Send a whole answer from a plain ASGI layer (the webhooks' own endpoints answer so)."""
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def not_text_in(body: bytes) -> list[str | int] | None:
    """Where a JSON body holds a string with a lone surrogate (["body", field, ...]), or None.

    Only a `\\uD800`-`\\uDFFF` escape can bring one in (raw bytes of one are not UTF-8, and the
    body is refused as undecodable), so a body without such an escape is not parsed here at all.
    A body that is not JSON is left to the endpoint, which refuses it in its own words.
    """
    if not SURROGATE_ESCAPE.search(body):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[object, list[str | int]]] = [(data, ["body"])]
    while stack:  # not recursive: the body may nest as deep as JSON allows
        value, where = stack.pop()
        if isinstance(value, str) and not _writable(value):
            return where
        if isinstance(value, dict):
            for key, item in value.items():
                if not _writable(key):
                    return [*where, key]
                stack.append((item, [*where, key]))
        elif isinstance(value, list):
            stack.extend((item, [*where, index]) for index, item in enumerate(value))
    return None


def _writable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that gives the body read already, then whatever the connection says next (its end)."""
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def is_page_form(scope: Scope) -> bool:
    """Whether a request is a form a staff page sent (not the API, whose clients read JSON)."""
    headers = dict(scope["headers"])
    kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return kind in (b"multipart/form-data", b"application/x-www-form-urlencoded") and not scope["path"].startswith("/api/")


async def validation_failed(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for a request that does not fit its model, without the input sent back."""
    problems = error.errors()
    detail = [_brief(problem) for problem in problems[:MAX_ERRORS]]
    if len(problems) > MAX_ERRORS:
        more = len(problems) - MAX_ERRORS
        detail.append({"loc": [], "msg": f"and {more} more problem(s) of the same request, not listed", "type": "too_many_errors"})
    return JSONResponse({"detail": detail}, status_code=422)


def _brief(problem: Mapping[str, Any]) -> dict[str, Any]:
    """One problem as FastAPI shows it (loc, msg, type), with the offending value as a short preview at most."""
    brief: dict[str, Any] = {
        "loc": [_part(part) for part in problem.get("loc", ())],
        "msg": _short(str(problem.get("msg", "")), MSG_CHARS),
        "type": _short(str(problem.get("type", "")), LOC_CHARS),
    }
    if "input" in problem:
        brief["input"] = preview(problem["input"])
    return brief


def _part(part: object) -> str | int:
    """One part of where a problem is: an index as it is, a key cut short and writable."""
    return part if isinstance(part, int) else _short(str(part), LOC_CHARS)


def preview(value: object) -> object:
    """A value as a client may see it back: numbers, booleans and None as they are; text cut short; lists and
    objects by their size only (their parts have problems of their own, listed by where they are)."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**18):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        return _short(value, PREVIEW_CHARS)
    if isinstance(value, Mapping):
        return f"(an object of {len(value)} field(s))"
    if isinstance(value, bytes | bytearray):
        return f"({len(value)} bytes)"
    if isinstance(value, Sized):
        return f"(a list of {len(value)} item(s))"
    return _short(repr(value), PREVIEW_CHARS)  # a huge number, NaN or infinity (JSON has no way to write those two)


def _short(text: str, limit: int) -> str:
    """Text cut to `limit` characters (with a note of how long it was), writable as UTF-8 whatever was sent."""
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text)} characters)"
    return text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes '?'
