"""The fake LINE platform's webhooks as LINE's own SDK reads them, and its side for drills in other processes."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from browser import serving
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.models.events import UnknownEvent
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from routing.chats.line.api import LineApi, new_retry_key
from routing.chats.line.fake import FakeLine, LinePerson, line_signature, new_user_id
from routing.chats.line.messages import text_message

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


@dataclass
class Receiver:
    """A webhook endpoint that checks requests with LINE's own SDK, on the exact bytes received, and keeps what it read."""

    channel_secret: str
    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)  # the SDK's CallbackRequest per accepted request

    def app(self) -> Starlette:
        parser = WebhookParser(self.channel_secret)

        async def webhook(request: Request) -> Response:
            body = await request.body()
            self.bodies.append(body)
            try:
                self.payloads.append(parser.parse(body.decode("utf-8"), request.headers.get("x-line-signature", ""), as_payload=True))
            except InvalidSignatureError:
                return Response(status_code=400)
            return Response(status_code=200)

        return Starlette(routes=[Route("/line/webhook", webhook, methods=["POST"])])

    def events(self) -> list[Any]:
        return [event for payload in self.payloads for event in payload.events]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
def receiver(fake: FakeLine) -> Iterator[Receiver]:
    receiver = Receiver(fake.channel_secret)
    with serving(receiver.app()) as url:  # type: ignore[arg-type]
        receiver.url = url + "/line/webhook"
        yield receiver


@pytest.fixture
async def person(fake: FakeLine, receiver: Receiver) -> AsyncIterator[LinePerson]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield fake.person(client, receiver.url)


async def test_the_signature_is_what_lines_sdk_accepts_on_the_raw_body_with_emoji(person: LinePerson, receiver: Receiver) -> None:
    text = "もう疲れました😢 家族👨‍👩‍👧にも言えない"
    assert await person.say(text) == 200
    body = receiver.bodies[0]
    assert text.encode() in body  # UTF-8 as LINE sends it, not \u escapes
    signature = line_signature(person.fake.channel_secret, body)
    assert SignatureValidator(person.fake.channel_secret).validate(body.decode(), signature)
    [event] = receiver.events()
    assert isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent)
    assert event.message.text == text
    # Why the raw bytes: the same JSON serialised again (ASCII escapes) no longer matches LINE's signature.
    assert not SignatureValidator(person.fake.channel_secret).validate(json.dumps(json.loads(body)), signature)


@pytest.mark.parametrize("signature", ["forged", "unsigned"])
async def test_a_forged_or_missing_signature_is_refused_by_lines_sdk(person: LinePerson, receiver: Receiver, signature: str) -> None:
    event = person.event({"type": "text", "text": "こんにちは"})
    body, _ = person.fake.webhook_request([event])
    sent = line_signature("not-the-channel-secret", body) if signature == "forged" else ""
    assert await person.send(event, signature=sent) == 400
    assert receiver.payloads == []


async def test_every_kind_of_event_parses_into_its_typed_event(person: LinePerson, receiver: Receiver) -> None:
    kinds = [
        {"type": "follow"},
        {"type": "text", "text": "相談したいです"},
        {"type": "sticker"},
        {"type": "image"},
        {"type": "location"},
        {"type": "postback", "data": "topic=1"},
        {"type": "unfollow"},
        {"type": "somethingNew"},  # a kind LINE may add one day
    ]
    before_ms = int(time.time() * 1000)
    assert await person.send(*[person.event(kind) for kind in kinds]) == 200  # several events in one request
    [payload] = receiver.payloads
    assert payload.destination == person.fake.bot_user_id
    events = payload.events
    assert [type(event) for event in events] == [
        FollowEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        PostbackEvent,
        UnfollowEvent,
        UnknownEvent,
    ]
    assert [type(event.message) for event in events[1:5]] == [
        TextMessageContent,
        StickerMessageContent,
        ImageMessageContent,
        LocationMessageContent,
    ]
    assert events[5].postback.data == "topic=1"
    assert all(event.source.user_id == person.user_id for event in events[:7])
    assert all(ULID.match(event.webhook_event_id) for event in events[:7])
    assert len({event.webhook_event_id for event in events[:7]}) == 7
    assert all(before_ms <= event.timestamp <= time.time() * 1000 for event in events[:7])
    assert all(event.reply_token for event in events[:6])
    assert "replyToken" not in json.loads(receiver.bodies[0])["events"][6]  # none for an unfollow
    assert not any(event.delivery_context.is_redelivery for event in events[:7])


async def test_a_redelivered_event_keeps_its_id_and_timestamp(person: LinePerson, receiver: Receiver) -> None:
    event = person.event({"type": "text", "text": "聞いてもらえますか"})
    time.sleep(0.005)
    assert await person.send(event) == 200
    assert await person.redeliver(event) == 200
    first, again = receiver.events()
    assert again.webhook_event_id == first.webhook_event_id
    assert again.timestamp == first.timestamp
    assert (first.delivery_context.is_redelivery, again.delivery_context.is_redelivery) == (False, True)


async def test_lines_verify_request_has_no_events(fake: FakeLine, receiver: Receiver) -> None:
    async with httpx.AsyncClient() as client:
        assert await fake.send_events(client, receiver.url, []) == 200
    assert json.loads(receiver.bodies[0]) == {"destination": fake.bot_user_id, "events": []}
    assert receiver.payloads[0].events == []


async def test_standby_events_carry_no_reply_token(person: LinePerson, receiver: Receiver) -> None:
    assert await person.act({"type": "text", "text": "こんにちは", "mode": "standby"}) == 200
    [event] = receiver.events()
    assert event.mode.value == "standby"
    assert event.reply_token is None


async def test_a_blocked_account_is_not_delivered_to_until_followed_again(fake: FakeLine, person: LinePerson) -> None:
    async with LineApi(fake.url, fake.access_token) as api:
        assert await person.unfollow() == 200
        assert await api.push(person.user_id, [text_message("届きません")], retry_key=new_retry_key()) == "sent"
        assert await person.follow(unblocked=True) == 200
        assert await api.push(person.user_id, [text_message("また届きます")], retry_key=new_retry_key()) == "sent"
    assert [m.text for m in person.inbox()] == ["また届きます"]


async def test_next_message_waits_for_a_message_and_gives_up_when_none_comes(fake: FakeLine) -> None:
    person = new_user_id()
    with pytest.raises(TimeoutError):
        await fake.next_message(person, timeout=0.2)
    async with LineApi(fake.url, fake.access_token) as api:
        assert await api.push(person, [text_message("一通目"), text_message("二通目")], retry_key=new_retry_key()) == "sent"
    assert (await fake.next_message(person, timeout=1)).text == "一通目"
    assert (await fake.next_message(person, timeout=1)).text == "二通目"


async def test_the_fake_refuses_what_line_would(fake: FakeLine) -> None:
    person = new_user_id()
    too_many = {"type": "text", "text": "選んでください", "quickReply": {"items": [{"type": "action", "action": {}}] * 14}}
    long_label = {
        "type": "text",
        "text": "選んで",
        "quickReply": {"items": [{"type": "action", "action": {"type": "postback", "label": "あ" * 21, "data": "x"}}]},
    }
    bodies = [
        {"to": person, "messages": [{"type": "text", "text": "😊" * 2501}]},  # 5,002 UTF-16 units
        {"to": person, "messages": [too_many]},
        {"to": person, "messages": [long_label]},
        {"to": person, "messages": []},
        {"to": "someone", "messages": [{"type": "text", "text": "こんにちは"}]},
        {"to": person, "messages": [{"type": "text", "text": "こんにちは", "quickReply": "はい"}]},
    ]
    async with httpx.AsyncClient(base_url=fake.url, headers={"Authorization": f"Bearer {fake.access_token}"}) as client:
        statuses = [(await client.post("/v2/bot/message/push", json=body)).status_code for body in bodies]
        bad_key = await client.post("/v2/bot/message/push", json=bodies[0], headers={"X-Line-Retry-Key": "again"})
    assert statuses == [400] * 6
    assert bad_key.status_code == 400
    assert fake.inbox(person) == []
    assert fake.stats().bad_requests == 7


def test_drills_in_another_process_use_the_fake_over_http() -> None:
    """A Locust user: the fake in a plain thread, events built and messages read over HTTP, a signature made from the secret."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    fake = FakeLine(port=port)  # where the service under drill was told LINE is
    url = fake.serve_in_thread()
    try:
        assert url == f"http://127.0.0.1:{port}"
        person = new_user_id()
        with httpx.Client(base_url=url) as client:
            assert client.get("/_fake/channel").json() == {"botUserId": fake.bot_user_id}
            event = client.post(f"/_fake/users/{person}/events", json={"type": "text", "text": "こんにちは"}).json()
            assert event["source"]["userId"] == person and ULID.match(event["webhookEventId"])
            reply = {"replyToken": event["replyToken"], "messages": [text_message("ようこそ")]}
            answer = client.post("/v2/bot/message/reply", json=reply, headers={"Authorization": f"Bearer {fake.access_token}"})
            assert answer.status_code == 200
            started = time.monotonic()
            waited = client.get(f"/_fake/users/{person}/messages", params={"after": 1, "wait": 0.3}).json()
            assert waited == {"messages": [], "count": 1} and time.monotonic() - started >= 0.3
            read = client.get(f"/_fake/users/{person}/messages", params={"after": 0}).json()
            assert [m["text"] for m in read["messages"]] == ["ようこそ"] and read["messages"][0]["via"] == "reply"
            stats = client.get("/_fake/stats").json()
            assert (stats["replies"], stats["delivered"], stats["duplicates"]) == (1, 1, 0)
    finally:
        fake.stop()


async def test_a_waiting_reader_over_http_gets_the_message_as_it_arrives(fake: FakeLine) -> None:
    person = new_user_id()
    async with httpx.AsyncClient(base_url=fake.url) as client, LineApi(fake.url, fake.access_token) as api:
        waiting = asyncio.create_task(client.get(f"/_fake/users/{person}/messages", params={"after": 0, "wait": 5}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await api.push(person, [text_message("お待たせしました")], retry_key=new_retry_key()) == "sent"
        answer = (await waiting).json()
        assert time.monotonic() - started < 1.0
    assert [m["text"] for m in answer["messages"]] == ["お待たせしました"]
