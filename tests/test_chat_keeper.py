"""The chat keeper: a chat nobody takes rolls over keeping its place; a quiet chat is asked, then closed kindly; real Redis and SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from chat_support import DIRECTORY, NATIONAL, TOKYO, TUESDAY_10, WebPerson, add_counsellors, chats, texts
from running import Running, make_settings, running_app
from sqlalchemy import update

from routing.chats.keeper import _end, _keep_waiting, keep_chats
from routing.chats.models import Chat
from routing.privacy.purge import purge_now


@pytest.fixture
async def desk(tmp_path: Path, redis_url: str, regions):
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, chat_rollover_seconds=0)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        running.staff = await add_counsellors(running)
        yield running


async def keep_until(desk: Running, done: Callable[[], Awaitable[bool]]) -> None:
    """Run the keeper (the app's own loop may hold its lock for a moment) until the change is seen."""
    for _ in range(20):
        await keep_chats(desk.runtime, desk.app.state.chats)
        if await done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the keeper did not do it")


async def set_chat(desk: Running, chat_id: str, **values: object) -> None:
    async with desk.runtime.sessions() as session:
        await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))
        await session.commit()


async def test_a_chat_nobody_took_in_time_rolls_over_to_the_next_window_keeping_its_place(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    (chat,) = await chats(desk)
    assert chat.service_id == NATIONAL.id

    async def moved() -> bool:
        (now,) = await chats(desk)
        return now.service_id == TOKYO.id

    await keep_until(desk, moved)
    (chat_after,) = await chats(desk)
    assert chat_after.tried == [NATIONAL.id] and chat_after.arrived_at == chat.arrived_at and chat_after.status == "waiting"
    queues = desk.app.state.chats.queues
    assert await queues.waiting(TOKYO.id) == [chat.id] and await queues.waiting(NATIONAL.id) == []
    taken = await desk.client.post("/api/chats/next", headers=desk.staff["tokyo"])
    assert taken.status_code == 200 and taken.json()["id"] == chat.id


async def test_a_quiet_chat_is_asked_kindly_then_closed_and_its_line_freed(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    chat_id = (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).json()["id"]
    now = desk.runtime.clock.now()
    an_hour_ago, quiet = now - timedelta(hours=1), now - timedelta(minutes=21)
    await set_chat(desk, chat_id, opened_at=an_hour_ago, arrived_at=an_hour_ago, assigned_at=quiet, last_person_at=quiet)

    async def asked() -> bool:
        (chat,) = await chats(desk)
        return chat.idle_warned_at is not None

    await keep_until(desk, asked)
    state = await person.state()
    assert state["status"] == "talking" and texts(state, "system")[-1]
    await set_chat(desk, chat_id, idle_warned_at=now - timedelta(minutes=11))

    async def closed() -> bool:
        (chat,) = await chats(desk)
        return chat.status == "closed"

    await keep_until(desk, closed)
    (chat,) = await chats(desk)
    assert chat.close_reason == "idle"
    assert (await person.state())["status"] == "closed"
    assert await desk.runtime.redis.zcard(f"tsunagu:slots:{NATIONAL.id}:sns") == 0
    assert await desk.app.state.chats.queues.held_by(chat.counsellor) == []


async def test_a_person_who_writes_after_the_question_keeps_the_chat(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    chat_id = (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).json()["id"]
    now = desk.runtime.clock.now()
    an_hour_ago, quiet = now - timedelta(hours=1), now - timedelta(minutes=21)
    await set_chat(desk, chat_id, opened_at=an_hour_ago, arrived_at=an_hour_ago, assigned_at=quiet, last_person_at=quiet)

    async def asked() -> bool:
        (chat,) = await chats(desk)
        return chat.idle_warned_at is not None

    await keep_until(desk, asked)
    await person.say(text="まだいます")
    await set_chat(desk, chat_id, last_person_at=now)
    await keep_chats(desk.runtime, desk.app.state.chats)
    (chat,) = await chats(desk)
    assert chat.status == "talking" and chat.idle_warned_at is None


async def test_retention_empties_a_closed_chats_words_and_address_and_later_its_pseudonym(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    await person.say(text="カナリア 本文")
    chat_id = (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).json()["id"]
    await set_chat(desk, chat_id, address_sealed="s1:placeholder:sealed")  # as a LINE chat keeps its sealed user id
    await desk.client.post(f"/api/chats/{chat_id}/close", headers=desk.staff["national"])
    now = desk.runtime.clock.now()
    settings = desk.settings
    early = await purge_now(desk.runtime.sessions, settings=settings, now=now + timedelta(days=89), actor="test")
    assert early.counts["chat_message.body_sealed"] == 0
    later = await purge_now(desk.runtime.sessions, settings=settings, now=now + timedelta(days=91), actor="test")
    assert later.counts["chat_message.body_sealed"] > 0 and later.counts["chat.address_sealed"] == 1 and later.chats == 1
    (chat,) = await chats(desk)
    assert chat.address_sealed == "" and chat.person_ref is not None and chat.topic == "general", "statistics stay"
    read = (await desk.client.get(f"/api/chats/{chat_id}", headers=desk.staff["supervisor"])).json()
    assert "カナリア 本文" not in str(read) and any("削除" in m["text"] for m in read["messages"] if m["kind"] == "text")
    year = await purge_now(desk.runtime.sessions, settings=settings, now=now + timedelta(days=366), actor="test")
    assert year.counts["chat.person_ref"] == 1
    (chat,) = await chats(desk)
    assert chat.person_ref is None


async def test_the_keeper_never_puts_back_in_its_queue_a_chat_taken_since_it_looked(tmp_path: Path, redis_url: str, regions) -> None:
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0)  # roll-over after 180 s: not due
    async with running_app(settings, regions) as desk:
        await desk.store(DIRECTORY)
        desk.staff = await add_counsellors(desk)
        await WebPerson(desk).through_intake()
        (seen,) = await chats(desk)  # the keeper's list, read at the start of its round
        assert seen.status == "waiting"
        assert (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).status_code == 200
        await _keep_waiting(desk.runtime, desk.app.state.chats, seen, desk.runtime.clock.now())
        assert await desk.app.state.chats.queues.waiting(NATIONAL.id) == []
        assert (await desk.client.post("/api/chats/next", headers=desk.staff["national2"])).status_code == 204, "not given twice"


async def test_a_chat_taken_while_the_keeper_rolled_it_over_stays_with_the_counsellor_who_took_it(desk: Running) -> None:
    await WebPerson(desk).through_intake()
    (seen,) = await chats(desk)  # the keeper's list: the chat waits at the national window, past its time there
    assert seen.service_id == NATIONAL.id and seen.status == "waiting"
    taken = await desk.client.post("/api/chats/next", headers=desk.staff["national"])
    assert taken.status_code == 200

    await _keep_waiting(desk.runtime, desk.app.state.chats, seen, desk.runtime.clock.now())  # it would move it to Tokyo
    (chat,) = await chats(desk)
    assert (chat.status, chat.service_id, chat.tried) == ("talking", NATIONAL.id, [])
    assert await desk.app.state.chats.queues.waiting(TOKYO.id) == []
    again = await desk.client.get(f"/api/chats/{seen.id}", headers=desk.staff["national"])
    assert again.status_code == 200 and again.json()["counsellor"] is not None


async def test_a_person_who_writes_as_the_keeper_closes_their_silent_chat_keeps_it_open(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    assert (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).status_code == 200
    (seen,) = await chats(desk)  # the keeper's list, read before the person wrote again
    await person.say("すみません、まだいます")
    await _end(desk.runtime, desk.app.state.chats, seen, desk.runtime.clock.now(), reason="idle", text="閉じます")
    (chat,) = await chats(desk)
    assert chat.status == "talking" and chat.close_reason is None
    assert "閉じます" not in texts(await person.state())
