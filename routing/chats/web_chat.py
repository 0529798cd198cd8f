"""The web chat's own endpoints, for a person without LINE: start, say, read, follow, leave.

No account: the page holds a random token in an HttpOnly cookie scoped to /chat, and the person
is known by its keyed pseudonym only. The same conversation (routing/chats/conversation.py)
answers as on LINE, and the same queue and counsellors take it. The person reads their own
chat: what they wrote, what the dial and the counsellor answered (never who the counsellor is).
A person's requests are handled one at a time, as LINE's events are.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from referral_directory.errors import Conflict, NotFound, TooMany
from routing.chats.conversation import Incoming, on_person, settle
from routing.chats.events import event_stream
from routing.chats.hub import ChatHub
from routing.chats.intake import Said
from routing.chats.store import last_chat_of, open_chat_of, transcript
from routing.deps import HubDep, RuntimeDep
from routing.live.keys import chat_channel, person_turn_key
from routing.live.limits import scope_of, within
from routing.privacy.confidentiality import person_pseudonym
from routing.runtime import Runtime
from routing.web.sessions import cookies_secure

router = APIRouter(prefix="/chat/api", tags=["sns"])
COOKIE = "tsunagu_chat"
COOKIE_SECONDS = 24 * 3600
TURN_WAIT_SECONDS = 5.0
TEXT_MAX = 1000
SLOW_DOWN = (
    "短い時間にたくさん送られたため、少しのあいだ受け付けられません。1分ほどおいてから、もう一度送ってください。"
    "いますぐ危険なときは、119番か110番に電話してください。"
)
TOO_MANY_STARTS = (
    "この接続からの新しい相談が多いため、しばらく受け付けられません。時間をおいてからお試しいただくか、お電話でご相談ください。"
    "いますぐ危険なときは、119番か110番に電話してください。"
)


class SayIn(BaseModel):
    text: str = Field(default="", max_length=TEXT_MAX, description="what the person writes")
    choice: str = Field(default="", max_length=40, description="a button's data (a quick reply)")


class LineOut(BaseModel):
    seq: int
    sender: Literal["person", "staff", "system"] = Field(serialization_alias="from")
    kind: str
    text: str
    at: datetime


ChatStatus = Literal["none", "intake", "waiting", "talking", "closed"]


class StateOut(BaseModel):
    """What the person's page shows: the chat's status, its messages after a number, and the buttons offered now."""

    status: ChatStatus
    messages: list[LineOut]
    buttons: list[tuple[str, str]]


TokenCookie = Annotated[str | None, Cookie(alias=COOKIE)]


def _person(runtime: Runtime, token: str | None) -> str | None:
    return person_pseudonym("web", token, keys=runtime.keys) if token else None


async def _state(runtime: Runtime, person: str | None, after: int) -> StateOut:
    if person is None:
        return StateOut(status="none", messages=[], buttons=[])
    async with runtime.sessions() as session:
        chat = await last_chat_of(session, person)
        if chat is None:
            return StateOut(status="none", messages=[], buttons=[])
        lines = await transcript(session, chat.id, keys=runtime.keys, after=after)
    messages = [LineOut(seq=m.seq, sender=m.sender, kind=m.kind, text=m.text, at=m.at) for m in lines]
    buttons = [(str(b[0]), str(b[1])) for b in chat.buttons] if chat.status == "intake" else []
    return StateOut(status=cast(ChatStatus, chat.status), messages=messages, buttons=buttons)


async def _act(runtime: Runtime, hub: ChatHub, person: str, incoming: Incoming) -> None:
    """Apply what the person did, holding their turn (one request of theirs at a time)."""
    token = uuid.uuid4().hex
    deadline = asyncio.get_running_loop().time() + TURN_WAIT_SECONDS
    while not await runtime.redis.set(person_turn_key(person), token, nx=True, px=30_000):
        if asyncio.get_running_loop().time() > deadline:
            raise Conflict("前のメッセージを送っているところです。少し待ってから、もう一度送ってください。")
        await asyncio.sleep(0.05)
    try:
        out = await on_person(runtime, hub, medium="web", person_ref=person, address_sealed="", incoming=incoming)
        if out is not None:
            await settle(runtime, hub, out)
    finally:
        if await runtime.redis.get(person_turn_key(person)) == token:
            await runtime.redis.delete(person_turn_key(person))


@router.post("/start", summary="Start (or resume) the person's chat; sets the chat's cookie")
async def start(request: Request, response: Response, runtime: RuntimeDep, hub: HubDep, token: TokenCookie = None) -> StateOut:
    if not token:
        address = request.client.host if request.client else ""
        allowed = await within(
            runtime.redis, scope_of("web-chat-start", address), limit=runtime.settings.web_chat_starts_per_hour, window_seconds=3600
        )
        if not allowed:
            raise TooMany(TOO_MANY_STARTS)
        token = secrets.token_urlsafe(32)
        response.set_cookie(
            COOKIE, token, max_age=COOKIE_SECONDS, httponly=True, samesite="strict", secure=cookies_secure(runtime.settings), path="/chat"
        )
    person = _person(runtime, token)
    assert person is not None
    async with runtime.sessions() as session:
        open_chat = await open_chat_of(session, person)
    if open_chat is None:
        await _act(runtime, hub, person, Incoming("start", runtime.clock.now()))
    return await _state(runtime, person, 0)


@router.post("/say", summary="What the person writes, or the button they press")
async def say(body: SayIn, runtime: RuntimeDep, hub: HubDep, token: TokenCookie = None, after: int = 0) -> StateOut:
    person = _person(runtime, token)
    if person is None:
        raise NotFound("このチャットは始まっていません。ページを読み込み直してください。")
    text = body.text.strip()
    if not text and not body.choice:
        return await _state(runtime, person, after)
    if not await within(
        runtime.redis, scope_of("web-chat-say", person), limit=runtime.settings.web_chat_messages_per_minute, window_seconds=60
    ):
        raise TooMany(SLOW_DOWN)
    said = Said(text=text, choice=body.choice, kind="postback" if body.choice else "text")
    await _act(runtime, hub, person, Incoming("said", runtime.clock.now(), said))
    return await _state(runtime, person, after)


@router.get("/state", summary="The person's chat: status, messages after a number, the buttons offered now")
async def state(runtime: RuntimeDep, token: TokenCookie = None, after: int = 0) -> StateOut:
    return await _state(runtime, _person(runtime, token), after)


@router.get("/events", summary="Server-sent events when the person's chat changes (no texts)", response_class=StreamingResponse)
async def events(request: Request, runtime: RuntimeDep, token: TokenCookie = None) -> StreamingResponse:
    person = _person(runtime, token)
    async with runtime.sessions() as session:
        chat = await open_chat_of(session, person) if person else None
    if chat is None:
        raise NotFound("このチャットは始まっていません。")
    return event_stream(request, runtime, [chat_channel(chat.id)])


@router.post("/leave", summary="The person ends the chat")
async def leave(runtime: RuntimeDep, hub: HubDep, token: TokenCookie = None) -> StateOut:
    person = _person(runtime, token)
    if person is None:
        return StateOut(status="none", messages=[], buttons=[])
    await _act(runtime, hub, person, Incoming("leave", runtime.clock.now()))
    return await _state(runtime, person, 0)
