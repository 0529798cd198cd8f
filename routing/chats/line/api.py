"""LineApi: tsunagu's sender on LINE's Messaging API (reply, push with a retry key, the typing indicator), one request per call.

Every call answers a `Delivery` the caller acts on, and never retries by itself:

- `sent`: LINE accepted it (2xx). LINE does not say whether the person has read it.
- `already_sent`: a push whose retry key LINE had already accepted (409); the caller treats it as sent.
- `reply_token_spent`: a reply LINE refused with 400: the token was used or is too old; the caller pushes instead.
- `quota`: 429, the monthly message quota (or LINE's rate limit); counted and alerted, never retried in a loop.
- `refused`: 401, 403 or any other 4xx: our token or our request is wrong, and the same request will fail again.
- `failed`: 5xx, a timeout or no connection: LINE may or may not have it; a push may be tried again later with
  the SAME retry key, which LINE answers 409 if the first try got through.

Why httpx rather than line-bot-sdk's async client (`AsyncMessagingApi`), measured with line-bot-sdk 3.27 against
a local server: (1) on a 2xx it parses the answer into its pydantic.v1 models and raises a ValidationError when
the answer differs from the model (an empty `sentMessages` did it), so a message LINE accepted looks like a
failure, and a caller that then pushes sends it twice; (2) its ApiException's text carries LINE's whole answer,
headers and body; (3) every message dict is re-validated and re-serialised through its models; (4) its
Configuration sets the level of the process-wide `urllib3` logger. What it would have given (the URL, the
Bearer header, the retry key header) is three lines here. The webhook side does use the SDK (its models and
signature check).

Logs name the endpoint, the HTTP status and LINE's request id, never a user id, a message or LINE's answer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import structlog

from routing.chats.line.messages import PUSH_MAX

Delivery = Literal["sent", "already_sent", "reply_token_spent", "quota", "refused", "failed"]

REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
LOADING_PATH = "/v2/bot/chat/loading/start"
LOADING_SECONDS_MIN, LOADING_SECONDS_MAX = 5, 60  # LINE takes multiples of 5 in this range

log = structlog.get_logger("tsunagu.line")


def new_retry_key() -> str:
    """Return a fresh X-Line-Retry-Key (a UUID), to be stored with the push before its first try."""
    return str(uuid.uuid4())


def delivery_for(status: int, *, endpoint: Literal["reply", "push", "loading"]) -> Delivery:
    """Return what an HTTP status from LINE means for the caller (pure)."""
    if 200 <= status < 300:
        return "sent"
    if status == 409 and endpoint == "push":
        return "already_sent"
    if status == 400 and endpoint == "reply":
        return "reply_token_spent"
    if status == 429:
        return "quota"
    if 400 <= status < 500:
        return "refused"
    return "failed"


class LineApi:
    """An async client of LINE's Messaging API, built once (in the app's lifespan) with a short timeout and closed at shutdown."""

    def __init__(self, base_url: str, access_token: str, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )

    async def __aenter__(self) -> LineApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def reply(self, reply_token: str, messages: Sequence[dict[str, Any]]) -> Delivery:
        """Answer an event with its reply token (free of charge, single use, about a minute): 1 to 5 messages."""
        _check_count(messages)
        return await self._post("reply", REPLY_PATH, {"replyToken": reply_token, "messages": list(messages)})

    async def push(self, to: str, messages: Sequence[dict[str, Any]], *, retry_key: str) -> Delivery:
        """Push 1 to 5 messages to a user; retry_key (a UUID) is the same on every try of the same push."""
        _check_count(messages)
        try:
            uuid.UUID(retry_key)
        except ValueError:
            raise ValueError("a LINE retry key must be a UUID") from None
        return await self._post("push", PUSH_PATH, {"to": to, "messages": list(messages)}, {"X-Line-Retry-Key": retry_key})

    async def show_loading(self, to: str, seconds: int = 20) -> Delivery:
        """Show the person the typing indicator for about `seconds` (rounded up to LINE's multiples of 5, 5 to 60)."""
        rounded = min(LOADING_SECONDS_MAX, max(LOADING_SECONDS_MIN, -(-seconds // 5) * 5))
        return await self._post("loading", LOADING_PATH, {"chatId": to, "loadingSeconds": rounded})

    async def _post(
        self, endpoint: Literal["reply", "push", "loading"], path: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Delivery:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(self._timeout):  # httpx's timeouts are per phase; this bounds the whole request
                response = await self._client.post(path, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as error:
            log.warning("line_api_unanswered", endpoint=endpoint, error=type(error).__name__)
            return "failed"
        delivery = delivery_for(response.status_code, endpoint=endpoint)
        if delivery != "sent":
            log.warning(
                "line_api_not_sent",
                endpoint=endpoint,
                status=response.status_code,
                delivery=delivery,
                line_request_id=response.headers.get("x-line-request-id"),
            )
        return delivery


def _check_count(messages: Sequence[dict[str, Any]]) -> None:
    if not 1 <= len(messages) <= PUSH_MAX:
        raise ValueError(f"LINE takes 1 to {PUSH_MAX} messages in one request, not {len(messages)} (split them with in_requests)")
