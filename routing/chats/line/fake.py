"""FakeLine: LINE's platform on 127.0.0.1, for tests, `tsunagu chat` and drills, the way the telephony simulator stands in for Twilio.

Two sides, as LINE has them:

- The Messaging API tsunagu calls (`/v2/bot/message/reply`, `/v2/bot/message/push`, `/v2/bot/chat/loading/start`),
  answering as LINE does: 401 for a wrong token, 400 for a bad body or a used, unknown or expired reply token,
  409 for a retry key already accepted, 429 when the monthly quota is spent, and a push to a person who blocked
  the account accepted but never delivered. Whatever is delivered lands in that person's inbox, readable here
  (`inbox`, `next_message`) and over HTTP for drills in other processes (`GET /_fake/users/{user_id}/messages`).
- The webhooks LINE sends tsunagu: `LinePerson` follows, writes, taps buttons and blocks; each event is built
  here (so its reply token is issued and registered), serialised as LINE does (UTF-8, non-ASCII kept) and
  signed over the exact bytes sent. Other processes build events with `POST /_fake/users/{user_id}/events`.

Faults for tests: `fail_next` (an error answer, before or after delivering) and `delay_next` (a late answer).
`duplicates` counts a message delivered again to someone who already had it from a request whose sender could
not know it got through (an injected failure after delivery, or a late answer), under another retry key or
none: a correct sender reuses the key, gets 409, and the count stays 0.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from routing.chats.line.messages import utf16_length

DEFAULT_ACCESS_TOKEN = "fake-line-channel-access-token"
DEFAULT_CHANNEL_SECRET = "fake-line-channel-secret-0123456"
USER_ID = re.compile(r"^U[0-9a-f]{32}$")
MESSAGE_TYPES = {"text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex"}
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

Json = dict[str, Any]


@dataclass(frozen=True)
class Received:
    """One message as the person sees it in their LINE chat: the text and the quick reply buttons under it."""

    text: str
    quick_labels: tuple[str, ...]
    quick_data: tuple[str, ...]
    via: Literal["reply", "push"]
    at: float  # seconds since the epoch, when LINE delivered it


@dataclass
class FakeLineStats:
    requests: int = 0  # Messaging API requests received
    replies: int = 0  # reply requests accepted
    pushes: int = 0  # push requests accepted (blocked recipients included)
    delivered: int = 0  # messages that reached an inbox
    undelivered_blocked: int = 0  # messages accepted for someone who blocked the account
    loading: int = 0  # typing indicators shown
    conflicts: int = 0  # 409: retry key already accepted
    quota_exceeded: int = 0  # 429
    invalid_reply_tokens: int = 0  # 400 on a reply's token
    unauthorized: int = 0  # 401
    bad_requests: int = 0  # 400 for the body
    injected_faults: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Fault:
    status: int
    delivered: bool


def new_user_id() -> str:
    """Return a LINE user id: "U" and 32 hex digits."""
    return "U" + secrets.token_hex(16)


def new_event_id(at_ms: int) -> str:
    """Return a ULID as LINE's webhookEventId is: 26 Crockford base32 characters, the time first."""
    value = (at_ms << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def line_signature(channel_secret: str, body: bytes) -> str:
    """Return X-Line-Signature for these exact body bytes: Base64 of HMAC-SHA256 keyed with the channel secret."""
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_body(destination: str, events: Sequence[Json]) -> bytes:
    """Return a webhook's body as LINE sends it: compact JSON, UTF-8 with Japanese and emoji as they are."""
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=False, separators=(",", ":")).encode()


def redelivery(event: Json) -> Json:
    """Return the event as LINE redelivers it: same id, same timestamp, same reply token, isRedelivery true."""
    again = copy.deepcopy(event)
    again["deliveryContext"] = {"isRedelivery": True}
    return again


def line_event(user_id: str, action: Mapping[str, Any], *, reply_token: str | None, at_ms: int) -> Json:
    """Return the webhook event for what a person did (action["type"]: follow, unfollow, text, sticker, image, location, postback)."""
    kind = action["type"]
    event: Json = {
        "type": "message" if kind in ("text", "sticker", "image", "location") else kind,
        "mode": action.get("mode", "active"),
        "timestamp": at_ms,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": new_event_id(at_ms),
        "deliveryContext": {"isRedelivery": False},
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    if kind == "follow":
        event["follow"] = {"isUnblocked": bool(action.get("unblocked", False))}
    elif kind == "postback":
        event["postback"] = {"data": action["data"]}
    elif event["type"] == "message":
        event["message"] = {"id": str(secrets.randbelow(9 * 10**17) + 10**17), "type": kind, **_content(action)}
    return event


def _content(action: Mapping[str, Any]) -> Json:
    quote = {"quoteToken": secrets.token_urlsafe(24)}
    match action["type"]:
        case "text":
            return {**quote, "text": action["text"]}
        case "sticker":
            ids = {"packageId": action.get("packageId", "446"), "stickerId": action.get("stickerId", "1988")}
            return {**quote, **ids, "stickerResourceType": "STATIC", "keywords": ["hello", "smile"]}
        case "image":
            return {**quote, "contentProvider": {"type": "line"}}
        case _:  # location
            return {
                "title": action.get("title", "現在地"),
                "address": action.get("address", "東京都千代田区"),
                "latitude": action.get("latitude", 35.6729),
                "longitude": action.get("longitude", 139.7444),
            }


def _takes_reply_token(action: Mapping[str, Any]) -> bool:
    # LINE gives no reply token for an unfollow, nor to a channel in standby (whose follow event still has one).
    if action["type"] == "follow":
        return True
    return action["type"] in ("text", "sticker", "image", "location", "postback") and action.get("mode", "active") == "active"


def received(message: Mapping[str, Any], via: Literal["reply", "push"], at: float) -> Received:
    """Return what the person sees of one message object."""
    items = [item.get("action", {}) for item in message.get("quickReply", {}).get("items", [])]
    text = message["text"] if message.get("type") == "text" else f"[{message.get('type')}]"
    return Received(text, tuple(a.get("label", "") for a in items), tuple(a.get("data", a.get("text", "")) for a in items), via, at)


def message_problems(messages: Any) -> list[Json]:
    """Return LINE's complaints about a request's messages (empty when LINE would take them)."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return [{"message": "Size must be between 1 and 5", "property": "messages"}]
    problems = []
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            problems.append({"message": "Must be one of the following values: " + ", ".join(sorted(MESSAGE_TYPES)), "property": where})
            continue
        if message["type"] == "text" and not (isinstance(message.get("text"), str) and 1 <= utf16_length(message["text"]) <= 5000):
            problems.append({"message": "Length must be between 1 and 5000", "property": f"{where}.text"})
        items = message.get("quickReply", {}).get("items", [])
        if "quickReply" in message and not 1 <= len(items) <= 13:
            problems.append({"message": "Size must be between 1 and 13", "property": f"{where}.quickReply.items"})
        for i, item in enumerate(items):
            action = item.get("action", {})
            if not 1 <= len(action.get("label", "")) <= 20:
                problems.append({"message": "Length must be between 1 and 20", "property": f"{where}.quickReply.items[{i}].action.label"})
            if action.get("type") == "postback" and not 1 <= len(action.get("data", "")) <= 300:
                problems.append({"message": "Length must be between 1 and 300", "property": f"{where}.quickReply.items[{i}].action.data"})
    return problems


class FakeLine:
    """LINE's Messaging API and webhooks on 127.0.0.1: `async with FakeLine() as fake`, or `fake.serve_in_thread()` for Locust."""

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        channel_secret: str = DEFAULT_CHANNEL_SECRET,
        bot_user_id: str | None = None,
        reply_token_seconds: float = 60.0,
        monthly_quota: int | None = None,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_token = access_token
        self.channel_secret = channel_secret
        self.bot_user_id = bot_user_id or new_user_id()
        self.reply_token_seconds = reply_token_seconds
        self.monthly_quota = monthly_quota  # pushes delivered this month; None: unlimited
        self.port = port  # 0: any free port
        self.url = ""
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = FakeLineStats()
        self._reply_tokens: dict[str, tuple[str, float]] = {}  # token → (user id, issued at)
        self._blocked: set[str] = set()
        self._accepted_keys: dict[str, str] = {}  # retry key → the request id that accepted it
        self._at_risk: dict[tuple[str, str], str | None] = {}  # (user id, messages) → retry key of a delivery its sender may not know of
        self._inboxes: dict[str, list[Received]] = {}
        self._read: dict[str, int] = {}  # what next_message has handed out, per user
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._faults: deque[_Fault] = deque()
        self._delays: deque[float] = deque()
        self._pushes_this_month = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeLine:
        await asyncio.to_thread(self.serve_in_thread)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.to_thread(self.stop)

    def serve_in_thread(self) -> str:
        """Serve on 127.0.0.1 (on `port`, or a free one) in a thread of its own; returns the base URL (LINE's API root)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(self._app(), log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]}, name="fake-line", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LINE server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving (answers still being delayed get a second)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    # --- faults and quota --------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, delivered: bool = False) -> None:
        """Answer the next n API requests with this status; with delivered=True, after handling them as usual (the answer is lost)."""
        with self._lock:
            self._faults.extend([_Fault(status, delivered)] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """Handle the next n API requests at once but answer them `seconds` late."""
        with self._lock:
            self._delays.extend([seconds] * n)

    # --- what the person sees ----------------------------------------------------------------

    def inbox(self, user_id: str) -> list[Received]:
        """Return every message delivered to this person, in order."""
        with self._lock:
            return list(self._inboxes.get(user_id, []))

    async def next_message(self, user_id: str, timeout: float = 5.0) -> Received:
        """Return the first message this person got that next_message has not returned yet, waiting for it up to timeout."""
        with self._lock:
            seen = self._read.get(user_id, 0)
        await self._wait_for(user_id, seen + 1, timeout)
        with self._lock:
            self._read[user_id] = seen + 1
            return self._inboxes[user_id][seen]

    def stats(self) -> FakeLineStats:
        """Return a copy of the counters."""
        with self._lock:
            return FakeLineStats(**self._stats.as_dict())

    async def _wait_for(self, user_id: str, count: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                if len(self._inboxes.get(user_id, [])) >= count:
                    return True
                arrived = asyncio.Event()
                self._waiters.setdefault(user_id, []).append((loop, arrived))
            try:
                await asyncio.wait_for(arrived.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                with self._lock:
                    waiting = self._waiters.get(user_id, [])
                    if (loop, arrived) in waiting:
                        waiting.remove((loop, arrived))
                raise TimeoutError(f"no LINE message arrived within {timeout} s") from None

    def _deliver(self, user_id: str, messages: list[Json], via: Literal["reply", "push"], retry_key: str | None) -> None:
        """Append to the inbox (unless blocked), under the lock; wakes whoever waits for this person."""
        if user_id in self._blocked:
            self._stats.undelivered_blocked += len(messages)
            return
        sent = (user_id, json.dumps(messages, sort_keys=True, ensure_ascii=False))
        if sent in self._at_risk and (retry_key is None or self._at_risk[sent] != retry_key):
            self._stats.duplicates += 1
        now = time.time()
        self._inboxes.setdefault(user_id, []).extend(received(message, via, now) for message in messages)
        self._stats.delivered += len(messages)
        for loop, arrived in self._waiters.pop(user_id, []):
            if not loop.is_closed():
                loop.call_soon_threadsafe(arrived.set)

    # --- the webhooks LINE sends ---------------------------------------------------------------

    def event(self, user_id: str, action: Mapping[str, Any]) -> Json:
        """Build the webhook event for what a person does, issuing its reply token; an unfollow blocks, a follow unblocks."""
        token = secrets.token_hex(16) if _takes_reply_token(action) else None
        at_ms = int(action.get("timestamp") or time.time() * 1000)
        with self._lock:
            if token is not None:
                self._reply_tokens[token] = (user_id, self._clock())
            if action["type"] == "unfollow":
                self._blocked.add(user_id)
            elif action["type"] == "follow":
                self._blocked.discard(user_id)
        return line_event(user_id, action, reply_token=token, at_ms=at_ms)

    def webhook_request(self, events: Sequence[Json], *, signature: str | None = None) -> tuple[bytes, dict[str, str]]:
        """Return a webhook's body and headers, signed with the channel secret unless a signature is given ("" for none)."""
        body = webhook_body(self.bot_user_id, events)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
        signature = line_signature(self.channel_secret, body) if signature is None else signature
        if signature:
            headers["X-Line-Signature"] = signature
        return body, headers

    async def send_events(self, client: httpx.AsyncClient, url: str, events: Sequence[Json], *, signature: str | None = None) -> int:
        """POST these events to a webhook URL in one request as LINE does; returns the HTTP status it answered (`[]`: LINE's verify)."""
        body, headers = self.webhook_request(events, signature=signature)
        response = await client.post(url, content=body, headers=headers)
        return response.status_code

    def person(self, client: httpx.AsyncClient, webhook_url: str, user_id: str | None = None) -> LinePerson:
        """Return a person on LINE who writes to the webhook at webhook_url through client."""
        return LinePerson(self, client, webhook_url, user_id or new_user_id())

    # --- the Messaging API ---------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/bot/message/reply", self._api, methods=["POST"]),
                Route("/v2/bot/message/push", self._api, methods=["POST"]),
                Route("/v2/bot/chat/loading/start", self._api, methods=["POST"]),
                Route("/_fake/users/{user_id}/messages", self._messages, methods=["GET"]),
                Route("/_fake/users/{user_id}/events", self._events, methods=["POST"]),
                Route("/_fake/stats", self._stats_endpoint, methods=["GET"]),
                Route("/_fake/channel", self._channel, methods=["GET"]),
            ]
        )

    async def _api(self, request: Request) -> Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]  # reply, push or start
        with self._lock:
            self._stats.requests += 1
            fault = self._faults.popleft() if self._faults else None
            delay = self._delays.popleft() if self._delays else 0.0
        response: Response
        delivered: tuple[str, str] | None
        if fault is not None and not fault.delivered:
            response, delivered = _error(fault.status, "Injected fault"), None
            self._count("injected_faults")
        elif request.headers.get("authorization") != f"Bearer {self.access_token}":
            response, delivered = _error(401, AUTH_FAILED), None
            self._count("unauthorized")
        else:
            response, delivered = self._handle(endpoint, await request.body(), request.headers.get("x-line-retry-key"))
            if fault is not None:
                response = _error(fault.status, "Injected fault")
                self._count("injected_faults")
        if delivered is not None and (delay or (fault is not None and fault.delivered)):
            with self._lock:
                self._at_risk[delivered] = request.headers.get("x-line-retry-key")
        if delay:
            await asyncio.sleep(delay)
        return response

    def _handle(self, endpoint: str, raw: bytes, retry_key: str | None) -> tuple[Response, tuple[str, str] | None]:
        """Answer one authenticated request; also returns (user, messages) when it delivered them."""
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._count("bad_requests")
            return _error(400, "The request body could not be parsed as JSON"), None
        if endpoint == "start":
            if not (isinstance(payload.get("chatId"), str) and payload.get("loadingSeconds", 20) in range(5, 61, 5)):
                self._count("bad_requests")
                return _error(400, "The request body has 1 error(s)"), None
            self._count("loading")
            return Response(status_code=202, headers=_request_id()), None
        try:
            problems = message_problems(payload.get("messages"))
        except (AttributeError, TypeError):  # a part that should be an object is not
            problems = [{"message": "The request body is malformed", "property": "messages"}]
        if problems:
            self._count("bad_requests")
            return JSONResponse({"message": f"The request body has {len(problems)} error(s)", "details": problems}, 400), None
        messages: list[Json] = payload["messages"]
        sent = json.dumps(messages, sort_keys=True, ensure_ascii=False)
        if endpoint == "reply":
            return self._reply(payload.get("replyToken"), messages, sent)
        return self._push(payload.get("to"), messages, sent, retry_key)

    def _reply(self, token: Any, messages: list[Json], sent: str) -> tuple[Response, tuple[str, str] | None]:
        with self._lock:
            issued = self._reply_tokens.pop(token, None) if isinstance(token, str) else None
            if issued is None or self._clock() - issued[1] > self.reply_token_seconds:
                self._stats.invalid_reply_tokens += 1
                return _error(400, "Invalid reply token"), None
            self._stats.replies += 1
            self._deliver(issued[0], messages, "reply", None)
        return _sent(messages, _request_id()), (issued[0], sent)

    def _push(self, to: Any, messages: list[Json], sent: str, retry_key: str | None) -> tuple[Response, tuple[str, str] | None]:
        if not (isinstance(to, str) and USER_ID.match(to)):
            self._count("bad_requests")
            return _error(400, "The property, 'to', in the request body is invalid (line: -, column: -)"), None
        if retry_key is not None and not _is_uuid(retry_key):
            self._count("bad_requests")
            return _error(400, "The value for the 'X-Line-Retry-Key' header is invalid"), None
        headers = _request_id()
        with self._lock:
            if retry_key in self._accepted_keys:
                self._stats.conflicts += 1
                accepted = {"x-line-accepted-request-id": self._accepted_keys[retry_key]}
                return JSONResponse({"message": "The retry key is already accepted", "sentMessages": []}, 409, headers | accepted), None
            blocked = to in self._blocked
            if not blocked and self.monthly_quota is not None and self._pushes_this_month >= self.monthly_quota:
                self._stats.quota_exceeded += 1
                return _error(429, "You have reached your monthly limit."), None
            if retry_key is not None:
                self._accepted_keys[retry_key] = headers["x-line-request-id"]
            self._pushes_this_month += 0 if blocked else 1
            self._stats.pushes += 1
            self._deliver(to, messages, "push", retry_key)
        return _sent(messages, headers), (None if blocked else (to, sent))

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self._stats, counter, getattr(self._stats, counter) + 1)

    # --- for drills in other processes ---------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        """GET /_fake/users/{user_id}/messages?after=N[&wait=S]: the messages after the first N, waiting up to S seconds for one."""
        user_id = request.path_params["user_id"]
        after = int(request.query_params.get("after", "0"))
        wait = min(30.0, float(request.query_params.get("wait", "0")))
        if wait > 0:
            try:
                await self._wait_for(user_id, after + 1, wait)
            except TimeoutError:
                pass
        inbox = self.inbox(user_id)
        return JSONResponse({"messages": [asdict(message) for message in inbox[after:]], "count": len(inbox)})

    async def _events(self, request: Request) -> Response:
        """POST /_fake/users/{user_id}/events with an action: the webhook event for it, reply token registered."""
        return JSONResponse(self.event(request.path_params["user_id"], await request.json()))

    async def _stats_endpoint(self, _request: Request) -> Response:
        return JSONResponse(self.stats().as_dict())

    async def _channel(self, _request: Request) -> Response:
        """GET /_fake/channel: the bot's user id, a webhook's `destination`."""
        return JSONResponse({"botUserId": self.bot_user_id})


class LinePerson:
    """Someone on LINE writing to tsunagu's webhook; each call sends one signed webhook request and returns tsunagu's HTTP status."""

    def __init__(self, fake: FakeLine, client: httpx.AsyncClient, webhook_url: str, user_id: str) -> None:
        self.fake = fake
        self.client = client
        self.webhook_url = webhook_url
        self.user_id = user_id

    def event(self, action: Mapping[str, Any]) -> Json:
        """Build (without sending) the event for an action, e.g. {"type": "text", "text": "…", "mode": "standby"}."""
        return self.fake.event(self.user_id, action)

    async def send(self, *events: Json, signature: str | None = None) -> int:
        """Send these events in one webhook request, signed unless a signature is given."""
        return await self.fake.send_events(self.client, self.webhook_url, events, signature=signature)

    async def act(self, action: Mapping[str, Any]) -> int:
        """Do one thing (an action as `event` takes it) in its own webhook request."""
        return await self.send(self.event(action))

    async def follow(self, *, unblocked: bool = False) -> int:
        return await self.act({"type": "follow", "unblocked": unblocked})

    async def unfollow(self) -> int:
        """Block the account: LINE stops delivering to this person, and tells tsunagu."""
        return await self.act({"type": "unfollow"})

    async def say(self, text: str) -> int:
        return await self.act({"type": "text", "text": text})

    async def sticker(self) -> int:
        return await self.act({"type": "sticker"})

    async def image(self) -> int:
        return await self.act({"type": "image"})

    async def location(self) -> int:
        return await self.act({"type": "location"})

    async def tap(self, data: str) -> int:
        """Tap a quick reply button whose postback carries data."""
        return await self.act({"type": "postback", "data": data})

    async def redeliver(self, event: Json) -> int:
        """Send an event again as LINE's redelivery does."""
        return await self.send(redelivery(event))

    def inbox(self) -> list[Received]:
        return self.fake.inbox(self.user_id)

    async def next_message(self, timeout: float = 5.0) -> Received:
        return await self.fake.next_message(self.user_id, timeout)


def _request_id() -> dict[str, str]:
    return {"x-line-request-id": str(uuid.uuid4())}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status, _request_id())


def _sent(messages: list[Json], headers: dict[str, str]) -> JSONResponse:
    sent = [{"id": str(secrets.randbelow(9 * 10**17) + 10**17), "quoteToken": secrets.token_urlsafe(24)} for _ in messages]
    return JSONResponse({"sentMessages": sent}, 200, headers)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
