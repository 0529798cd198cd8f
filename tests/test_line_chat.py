"""A chat on LINE end to end: signed webhooks from a local fake LINE platform, real Redis and SQL, the staff chat API.

The fake LINE (routing/chats/line/fake.py) issues reply tokens, accepts replies and pushes as
LINE does (single-use tokens, retry keys, quota) and keeps what each person reads.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import httpx
import pytest
from chat_support import DIRECTORY, NATIONAL, TUESDAY_10, add_counsellors, chats, messages_of
from running import Running, make_settings, running_app

from routing.chats.keeper import keep_chats
from routing.chats.line.fake import FakeLine, LinePerson
from routing.chats.line.inbox import accept, drain

WEBHOOK = "/line/webhook"
SECRET = "line-channel-secret-for-tests"
TOKEN = "line-access-token-for-tests"


class Settled(httpx.AsyncBaseTransport):
    """The app's transport, answering a LINE webhook only once the worker has processed what it accepted.

    The service answers LINE first and processes after; the tests read what the person got.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, running: Running) -> None:
        self.inner, self.running = inner, running

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == WEBHOOK:
            await self.running.app.state.chats.drainer.idle()
        return response


@pytest.fixture
async def line(tmp_path: Path, redis_url: str, regions):
    async with FakeLine(access_token=TOKEN, channel_secret=SECRET) as fake:
        settings = make_settings(
            tmp_path,
            redis_url,
            clock=TUESDAY_10,
            clock_speed=0,
            line_channel_secret=SECRET,
            line_channel_access_token=TOKEN,
            line_api_url=fake.url,
        )
        async with running_app(settings, regions) as running:
            await running.store(DIRECTORY)
            running.staff = await add_counsellors(running)
            running.fake = fake
            running.client = httpx.AsyncClient(transport=Settled(running.client._transport, running), base_url="http://testserver")
            yield running


def person(line: Running, user_id: str | None = None) -> LinePerson:
    return line.fake.person(line.client, WEBHOOK, user_id)


async def through_intake(who: LinePerson) -> None:
    for step in (who.follow(), who.tap("topic:general"), who.say("100-0001"), who.tap("age:30-49")):
        assert await step == 200


async def test_lines_verify_button_and_a_webhook_without_its_signature(line: Running) -> None:
    assert await person(line).send() == 200, "the console's Verify sends no events and needs 200"
    forged = person(line)
    assert await forged.send(forged.event({"type": "text", "text": "こんにちは"}), signature="Zm9yZ2Vk") == 403
    body = json.dumps({"destination": "U0", "events": []}).encode()
    unsigned = await line.client.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 403
    assert await chats(line) == [] and await line.runtime.redis.keys("tsunagu:line:*") == [], "nothing of a refused request is kept"


async def test_a_person_who_adds_the_account_is_greeted_and_asked_the_topic_with_buttons(line: Running) -> None:
    who = person(line)
    assert await who.follow() == 200
    received = who.inbox()
    assert received and all(m.via == "reply" for m in received), "answered with the free reply token"
    assert len(received[-1].quick_labels) >= 9 and all(len(label) <= 20 for label in received[-1].quick_labels)
    assert "topic:general" in received[-1].quick_data
    stages = {
        stage: line.runtime.metrics.registry.get_sample_value("tsunagu_line_event_seconds_count", {"stage": stage})
        for stage in ("waited", "person", "send")
    }
    assert stages == {"waited": 1.0, "person": 1.0, "send": 1.0}, "operators see where a LINE event's time went"


async def test_the_intake_by_taps_and_typing_ends_in_the_queue_with_place_and_phones(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    (chat,) = await chats(line)
    assert (chat.status, chat.medium, chat.topic, chat.lgcode, chat.service_id) == ("waiting", "line", "general", "131016", NATIONAL.id)
    told = who.inbox()[-1]
    assert "03-5555-0101" in told.text and told.via == "reply"
    assert line.fake.stats().pushes == 0, "every automated answer so far used a reply token"


async def test_a_counsellor_answers_in_the_same_line_chat_with_a_reply_token_while_one_is_fresh(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
    joined = who.inbox()[-1]
    assert joined.via == "push", "the person's last token was spent on the waiting message"
    assert await who.say("よろしくお願いします") == 200
    sent = await line.client.post(
        f"/api/chats/{taken['id']}/messages", json={"text": "こんにちは。お話を聞かせてください。"}, headers=line.staff["national"]
    )
    assert sent.status_code == 201
    answer = who.inbox()[-1]
    assert (answer.text, answer.via) == ("こんにちは。お話を聞かせてください。", "reply"), "the person's unused token answers for free"
    assert line.fake.stats().duplicates == 0
    rows = await messages_of(line, taken["id"])
    assert {r.delivery for r in rows if r.sender != "person"} == {"sent"}


async def test_a_redelivered_event_is_processed_once_and_standby_events_are_ignored(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    event = who.event({"type": "text", "text": "一度だけ"})
    assert await who.send(event) == 200
    (chat,) = await chats(line)
    before = len(await messages_of(line, chat.id))
    assert await who.redeliver(event) == 200
    assert len(await messages_of(line, chat.id)) == before
    other = person(line)
    assert await other.act({"type": "text", "text": "別のチャネルが応答中", "mode": "standby"}) == 200
    assert len(await chats(line)) == 1 and other.inbox() == []


async def test_events_of_one_request_are_processed_in_the_order_they_happened(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    first, second = who.event({"type": "text", "text": "一つ目"}), who.event({"type": "text", "text": "二つ目"})
    second["timestamp"] = first["timestamp"] + 1000
    assert await who.send(second, first) == 200
    (chat,) = await chats(line)
    taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
    words = [m["text"] for m in taken["messages"] if m["from"] == "person"]
    assert words[-2:] == ["一つ目", "二つ目"]
    assert taken["id"] == chat.id


async def test_stickers_and_images_never_break_anything_and_show_as_what_they_are(line: Running) -> None:
    who = person(line)
    assert await who.follow() == 200
    assert await who.sticker() == 200
    assert "ボタン" in who.inbox()[-1].text or "言葉" in who.inbox()[-1].text, "asked kindly to answer in words or with the buttons"
    await who.tap("topic:general")
    await who.say("1000001")
    await who.tap("age:unknown")
    taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
    assert await who.image() == 200 and await who.location() == 200
    after = (await line.client.get(f"/api/chats/{taken['id']}", headers=line.staff["national"])).json()
    assert [m["kind"] for m in after["messages"] if m["from"] == "person"][-2:] == ["image", "location"]


async def test_blocking_the_account_ends_the_chat_frees_its_line_and_stops_all_sending(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
    count = len(who.inbox())
    assert await who.unfollow() == 200
    (chat,) = await chats(line)
    assert (chat.status, chat.close_reason, chat.blocked) == ("closed", "person_left", True)
    late = await line.client.post(f"/api/chats/{taken['id']}/messages", json={"text": "まだいますか"}, headers=line.staff["national"])
    assert late.status_code == 409 and len(who.inbox()) == count
    assert await line.runtime.redis.zcard(f"tsunagu:slots:{NATIONAL.id}:sns") == 0
    assert await line.app.state.chats.queues.held_by(taken["counsellor"]) == [], "the counsellor's hold goes with the chat"


async def test_the_months_quota_is_counted_never_retried_in_a_loop_and_a_failed_push_goes_once_with_its_key(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    line.fake.monthly_quota = 0
    taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
    assert line.fake.stats().quota_exceeded == 1, "one attempt, no loop"
    rows = await messages_of(line, taken["id"])
    assert rows[-1].delivery == "quota"
    line.fake.monthly_quota = None
    line.fake.fail_next(2, status=500, delivered=True)  # LINE took it but the answer was lost, twice
    sent = await line.client.post(f"/api/chats/{taken['id']}/messages", json={"text": "届きますか"}, headers=line.staff["national"])
    assert sent.json()["seq"] and (await messages_of(line, taken["id"]))[-1].delivery == "failed"
    await keep_chats(line.runtime, line.app.state.chats)
    assert [m.text for m in who.inbox()].count("届きますか") == 1 and line.fake.stats().duplicates == 0
    assert (await messages_of(line, taken["id"]))[-1].delivery == "sent"


async def test_no_user_id_or_message_text_reaches_a_log_the_database_or_redis(line: Running, caplog) -> None:
    canary_user = "U" + "c0ffee" * 5 + "ab"
    who = person(line, canary_user)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        await through_intake(who)
        await who.say("カナリア 090-8765-4321 山田花子")
        taken = (await line.client.post("/api/chats/next", headers=line.staff["national"])).json()
        await line.client.post(f"/api/chats/{taken['id']}/messages", json={"text": "カナリア返信"}, headers=line.staff["national"])
    finally:
        logging.getLogger().removeHandler(handler)
    logged = stream.getvalue() + caplog.text
    assert canary_user not in logged and "カナリア" not in logged
    database = b"".join(path.read_bytes() for path in line.settings.var_dir.glob("tsunagu.db*"))
    assert canary_user.encode() not in database and "カナリア".encode() not in database
    for key in await line.runtime.redis.keys("*"):
        assert canary_user not in key
        value = await line.runtime.redis.dump(key) or b""
        assert canary_user.encode() not in value and "カナリア".encode() not in value


async def test_one_persons_events_are_processed_once_in_order_however_many_workers_drain_at_once(line: Running) -> None:
    who = person(line)
    await through_intake(who)
    events = [who.event({"type": "text", "text": f"{n}番目"}) for n in range(1, 9)]
    for n, event in enumerate(events):
        event["timestamp"] = events[0]["timestamp"] + n
    people = {await accept(line.runtime, event) for event in reversed(events)}  # accepted out of order, as redeliveries come
    assert len(people) == 1 and None not in people
    (person_ref,) = people
    hub = line.app.state.chats
    done = await asyncio.gather(*(drain(line.runtime, hub, person_ref) for _ in range(4)))  # four workers at once
    assert sum(done) == len(events)
    (chat,) = await chats(line)
    words = [m["text"] for m in (await line.client.get(f"/api/chats/{chat.id}", headers=line.staff["supervisor"])).json()["messages"]]
    assert [w for w in words if w.endswith("番目")] == [f"{n}番目" for n in range(1, 9)]
