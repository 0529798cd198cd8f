"""A chat end to end on the web chat: intake, queue, a counsellor takes it, both write, hand-on, close; real Redis and SQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from chat_support import (
    DIRECTORY,
    NATIONAL,
    NATIONAL_ORG,
    OFFICE,
    TOKYO,
    TOKYO_ORG,
    TUESDAY_10,
    TUESDAY_23,
    WebPerson,
    add_counsellors,
    chat_window,
    chats,
    messages_of,
    texts,
)
from running import Running, make_settings, running_app
from sqlalchemy import select
from voice_support import METRICS_TOKEN

from referral_directory.models import AuditEvent, StaffUser
from referral_directory.staff.accounts import set_chat_cap
from referral_directory.storage import db
from routing.cases.models import Case, Referral
from routing.chats import conversation
from routing.chats.store import add_message
from routing.telephony.records import CallbackRequest


@pytest.fixture
async def desk(tmp_path: Path, redis_url: str, regions):
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, metrics_token=METRICS_TOKEN)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        running.staff = await add_counsellors(running)
        yield running


async def take_next(desk: Running, who: str = "national", expect: int = 200) -> dict:
    response = await desk.client.post("/api/chats/next", headers=desk.staff[who])
    assert response.status_code == expect, response.text
    return response.json() if response.status_code == 200 else {}


async def test_a_person_is_greeted_asked_the_three_questions_and_told_their_place(desk: Running) -> None:
    person = WebPerson(desk)
    started = await person.start()
    cookie = next(c for c in person.client.cookies.jar if c.name == "tsunagu_chat")
    assert cookie.path == "/chat" and cookie.has_nonstandard_attr("HttpOnly")
    assert started["status"] == "intake" and len(started["messages"]) >= 2 and started["buttons"]
    assert all(m["from"] == "system" for m in started["messages"])
    asked_postal = await person.say(choice="topic:general")
    assert any(data.startswith("postal:") for _, data in asked_postal["buttons"]), "「わからない」 is offered as a button"
    asked_age = await person.say(text="１００－０００１")  # full-width, with a hyphen, as phones type it
    assert any(data.startswith("age:") for _, data in asked_age["buttons"])
    waiting = await person.say(choice="age:30-49")
    assert waiting["status"] == "waiting" and waiting["buttons"] == []
    told = texts(waiting, "system")[-1]
    assert "1" in told and "03-5555-0101" in told, "their place, and the phone line open now written the Japanese way"
    (chat,) = await chats(desk)
    assert (chat.topic, chat.prefecture, chat.lgcode, chat.age_band, chat.band) == ("general", "13", "131016", "30-49", "normal")
    assert (chat.service_id, chat.medium) == (NATIONAL.id, "web")


async def test_a_counsellor_takes_the_next_chat_and_they_write_to_each_other(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    await person.say(text="はじめまして。最近ずっとひとりで、誰とも話していません。")
    taken = await take_next(desk)
    assert taken["status"] == "talking" and taken["topic"] == "general" and taken["case_id"]
    assert "最近ずっとひとりで" in " ".join(m["text"] for m in taken["messages"] if m["from"] == "person")
    chat_id = taken["id"]
    sent = await desk.client.post(
        f"/api/chats/{chat_id}/messages", json={"text": "お話ししてくださってありがとうございます。"}, headers=desk.staff["national"]
    )
    assert sent.status_code == 201 and sent.json()["from"] == "staff"
    read = await person.state()
    assert texts(read, "staff") == ["お話ししてくださってありがとうございます。"]
    assert read["status"] == "talking"
    await person.say(text="ありがとうございます。")
    after = (await desk.client.get(f"/api/chats/{chat_id}", params={"after": sent.json()["seq"]}, headers=desk.staff["national"])).json()
    assert [(m["from"], m["text"]) for m in after["messages"]] == [("person", "ありがとうございます。")]
    async with desk.runtime.sessions() as session:
        case = await session.get(Case, taken["case_id"])
        reads = (await session.execute(select(AuditEvent).where(AuditEvent.action == "chat.read"))).scalars().all()
    assert case is not None and (case.channel, case.holder_org, case.topic) == ("sns", NATIONAL_ORG, "general")
    assert len(reads) >= 2, "every read of the transcript is in the audit log"
    assert await take_next(desk, expect=204) == {}


async def test_crisis_words_skip_the_questions_and_the_chat_goes_first(desk: Running) -> None:
    earlier = WebPerson(desk)
    await earlier.through_intake()
    person = WebPerson(desk)
    await person.start()
    await person.say(choice="topic:mind")
    state = await person.say(text="もう死にたいです")
    assert state["status"] == "waiting" and state["buttons"] == [], "no postal or age question after crisis words"
    crisis = next(c for c in await chats(desk) if c.band == "crisis")
    assert crisis.topic == "crisis"
    assert (await take_next(desk))["id"] == crisis.id, "crisis first, though another person came earlier"


async def test_a_person_who_writes_crisis_words_while_waiting_moves_up(desk: Running) -> None:
    first, second = WebPerson(desk), WebPerson(desk)
    await first.through_intake()
    await second.through_intake()
    await second.say(text="消えたい")
    by_band = {c.band: c.id for c in await chats(desk)}
    assert (await take_next(desk))["id"] == by_band["crisis"]


async def test_a_counsellor_holds_no_more_chats_than_their_cap_and_a_window_no_more_than_its_lines(desk: Running) -> None:
    for _ in range(4):
        await WebPerson(desk).through_intake()
    await take_next(desk, "national")
    await take_next(desk, "national")
    refused = await desk.client.post("/api/chats/next", headers=desk.staff["national"])
    assert refused.status_code == 409, "the cap of 2"
    full = await desk.client.post("/api/chats/next", headers=desk.staff["national2"])
    assert full.status_code == 409 and "line" in full.json()["detail"], "the national window carries 2 chats"
    assert sum(c.status == "waiting" for c in await chats(desk)) == 2


async def test_closing_says_goodbye_frees_the_line_and_ends_the_conversation(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    chat_id = (await take_next(desk))["id"]
    await WebPerson(desk).through_intake()
    await take_next(desk, "national2")
    await WebPerson(desk).through_intake(postal="5300001")  # Osaka: only the national window answers chats here
    assert (await desk.client.post("/api/chats/next", headers=desk.staff["supervisor"])).status_code == 409, "both national lines taken"
    closed = await desk.client.post(f"/api/chats/{chat_id}/close", headers=desk.staff["national"])
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    state = await person.state()
    assert state["status"] == "closed" and texts(state, "system")[-1]
    late = await desk.client.post(f"/api/chats/{chat_id}/messages", json={"text": "まだいますか"}, headers=desk.staff["national"])
    assert late.status_code == 409
    assert (await take_next(desk, "supervisor"))["status"] == "talking", "the closed chat's line went to the next person"


async def test_a_chat_handed_to_the_prefecture_keeps_its_place_and_carries_no_earlier_words_without_consent(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    await person.say(text="カナリア 本文 7Q2X")
    chat_id = (await take_next(desk))["id"]
    moved = await desk.client.post(
        f"/api/chats/{chat_id}/transfer", json={"service_id": TOKYO.id, "share": "none"}, headers=desk.staff["national"]
    )
    assert moved.status_code == 200 and moved.json()["status"] == "waiting" and moved.json()["service_id"] == TOKYO.id
    (chat,) = await chats(desk)
    arrived = chat.arrived_at
    taken = await take_next(desk, "tokyo")
    assert taken["id"] == chat_id and taken["arrived_at"] is not None
    assert "カナリア 本文 7Q2X" not in " ".join(m["text"] for m in taken["messages"]), "not passed on without consent"
    assert taken["shared_from"] > 1
    (chat,) = await chats(desk)
    assert chat.arrived_at == arrived and chat.org_id == TOKYO_ORG
    async with desk.runtime.sessions() as session:
        (hop,) = (await session.execute(select(Referral))).scalars().all()
    assert (hop.kind, hop.status, hop.to_org, hop.share) == ("transfer", "accepted", TOKYO_ORG, "none")
    assert (await desk.client.get(f"/api/chats/{chat_id}", headers=desk.staff["national"])).status_code == 404


async def test_a_chat_is_handed_on_only_down_the_chain_to_a_window_that_answers_chats_here(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake(postal="5300001")  # Osaka: its own SNS is offered as a link, the national window queues
    chat_id = (await take_next(desk))["id"]
    osaka = next(s for s in DIRECTORY.services if s.sns_url)
    linked = await desk.client.post(f"/api/chats/{chat_id}/transfer", json={"service_id": osaka.id}, headers=desk.staff["national"])
    assert linked.status_code == 409 and osaka.sns_url in linked.json()["detail"]


async def test_a_chat_outside_the_organisation_is_not_found_and_a_supervisor_reads_along(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    chat_id = (await take_next(desk))["id"]
    assert (await desk.client.get(f"/api/chats/{chat_id}", headers=desk.staff["tokyo"])).status_code == 404
    assert (await desk.client.get(f"/api/chats/{chat_id}", headers=desk.staff["national2"])).status_code == 403
    along = await desk.client.get(f"/api/chats/{chat_id}", headers=desk.staff["supervisor"])
    assert along.status_code == 200
    written = await desk.client.post(f"/api/chats/{chat_id}/messages", json={"text": "横から"}, headers=desk.staff["supervisor"])
    assert written.status_code == 403, "reading along is not writing: a supervisor takes the chat over first"
    desk_view = (await desk.client.get("/api/chats/desk", headers=desk.staff["supervisor"])).json()
    assert [c["id"] for c in desk_view["talking"]] == [chat_id]


async def test_when_nothing_is_open_the_person_is_told_when_help_opens_and_which_lines_are_open(
    tmp_path: Path, redis_url: str, regions
) -> None:
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_23, clock_speed=0)
    office_only = DIRECTORY.__class__(organizations=DIRECTORY.organizations, services=(TOKYO,))
    async with running_app(settings, regions) as running:
        await running.store(office_only)
        person = WebPerson(running)
        state = await person.through_intake()
        assert state["status"] == "closed"
        (chat,) = await chats(running)
        assert chat.close_reason == "nothing_open"
        assert any("9" in t for t in texts(state, "system")[-1:]), "when help opens (9時)"


async def test_when_the_topics_windows_are_closed_the_chat_waits_at_an_open_general_window_and_is_told_when_its_own_open(
    tmp_path: Path, redis_url: str, regions
) -> None:
    family = chat_window("東京都 子育てチャット", "prefecture", "130001", TOKYO_ORG, "+81355550202", hours=OFFICE, topics=("family",))
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_23, clock_speed=0)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY.__class__(organizations=DIRECTORY.organizations, services=(NATIONAL, family)))
        state = await WebPerson(running).through_intake(topic="family")
        assert state["status"] == "waiting"
        told = texts(state, "system")[-1]
        assert told.startswith("「子育て・家族・ひとり親」の窓口は、いまは受付時間外で、12月2日（水）9時から受け付けています。")
        assert "いま1番目に" in told
        (chat,) = await chats(running)
        assert (chat.topic, chat.service_id) == ("family", NATIONAL.id), "its topic is kept; a general window answers it"


async def test_nothing_the_person_wrote_is_stored_in_clear(desk: Running) -> None:
    person = WebPerson(desk)
    await person.through_intake()
    await person.say(text="カナリア 090-8765-4321 山田花子")
    chat_id = (await take_next(desk))["id"]
    rows = await messages_of(desk, chat_id)
    assert all("カナリア" not in row.body_sealed and row.body_sealed.count(":") == 2 for row in rows if row.body_sealed)
    database = b"".join(path.read_bytes() for path in desk.settings.var_dir.glob("tsunagu.db*"))  # the file and its write-ahead log
    assert "カナリア".encode() not in database and b"8765-4321" not in database
    everything = [await desk.runtime.redis.dump(key) or b"" for key in await desk.runtime.redis.keys("*")]
    assert not any("カナリア".encode() in value for value in everything)


async def test_the_metrics_count_who_reached_a_human_and_the_chats_each_counsellor_holds(desk: Running) -> None:
    reached, left = WebPerson(desk), WebPerson(desk)
    await reached.through_intake()
    chat_id = (await take_next(desk))["id"]
    await left.through_intake()
    await left.client.post("/chat/api/leave")
    metrics = (await desk.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
    assert "tsunagu_chats_held 1.0" in metrics and "tsunagu_counsellors_chatting 1.0" in metrics
    assert 'tsunagu_chats_total{band="normal",reached="no",reason="person_left"} 1.0' in metrics
    await desk.client.post(f"/api/chats/{chat_id}/messages", json={"text": "こんにちは"}, headers=desk.staff["national"])
    await desk.client.post(f"/api/chats/{chat_id}/close", headers=desk.staff["national"])
    metrics = (await desk.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
    assert 'tsunagu_chats_total{band="normal",reached="yes",reason="counsellor"} 1.0' in metrics
    assert 'tsunagu_chat_first_human_seconds_count{band="normal"} 1.0' in metrics
    assert "tsunagu_chats_held 0.0" in metrics


async def test_a_callback_the_person_asks_for_is_booked_with_their_number_sealed_once(tmp_path: Path, redis_url: str, regions) -> None:
    twilio = {"twilio_account_sid": "AC" + "2" * 32, "callback_caller_id": "+81120000000", "callback_seconds": 3600.0}
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, **twilio)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        running.staff = await add_counsellors(running)
        person = WebPerson(running)
        await person.through_intake()
        await person.say(text="電話で話したいです。090-8765-4321 です")
        chat_id = (await take_next(running))["id"]
        url = f"/api/chats/{chat_id}/callback"
        refused = await running.client.post(url, json={"number": "12345", "consent": True}, headers=running.staff["national"])
        assert refused.status_code == 422
        unconsented = await running.client.post(url, json={"number": "090-8765-4321", "consent": False}, headers=running.staff["national"])
        assert unconsented.status_code == 422
        booked = await running.client.post(url, json={"number": "090-8765-4321", "consent": True}, headers=running.staff["national"])
        assert booked.status_code == 200, booked.text
        again = await running.client.post(url, json={"number": "090-8765-4321", "consent": True}, headers=running.staff["national"])
        assert again.status_code == 409
        async with running.runtime.sessions() as session:
            (request,) = (await session.execute(select(CallbackRequest))).scalars().all()
        assert (request.status, request.topic, request.lgcode, request.dial_number) == ("pending", "general", "131016", "+81120000000")
        assert "8765" not in request.number_sealed and request.number_sealed.count(":") == 2
        assert "0120-000-000" in texts(await person.state(), "system")[-1], "told which number will call"


async def test_a_flood_of_new_chats_or_messages_is_refused_kindly_and_nothing_is_lost(tmp_path: Path, redis_url: str, regions) -> None:
    limits = {"web_chat_starts_per_hour": 3, "web_chat_messages_per_minute": 5}
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, **limits)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        for _ in range(3):
            await WebPerson(running).start()
        refused = await WebPerson(running).client.post("/chat/api/start")
        assert refused.status_code == 429 and "119" in refused.json()["detail"]
        person = WebPerson(running)
        person.client.cookies.set("tsunagu_chat", "a-token-of-an-earlier-chat", path="/chat")
        assert (await person.client.post("/chat/api/start")).status_code == 200, "a person resuming their chat is not a new one"
        answers = [await person.client.post("/chat/api/say", json={"text": f"{n}"}) for n in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        stored = [m["text"] for m in (await person.state())["messages"] if m["from"] == "person"]
        assert stored == [str(n) for n in range(5)], "what was refused was not half stored"
        assert len(await chats(running)) == 4


async def test_a_counsellors_own_cap_replaces_the_services_default(desk: Running) -> None:
    async with db.transaction(desk.runtime.sessions) as session:
        await set_chat_cap(session, name="全国の相談員2", cap=1)
    for _ in range(3):
        await WebPerson(desk).through_intake(postal="5300001")  # only the national window answers chats there
    assert (await desk.client.post("/api/chats/next", headers=desk.staff["national2"])).status_code == 200
    refused = await desk.client.post("/api/chats/next", headers=desk.staff["national2"])
    assert refused.status_code == 409 and "1 chats" in refused.json()["detail"]
    assert (await desk.client.post("/api/chats/next", headers=desk.staff["national"])).status_code == 200, "the others keep the default"


async def test_a_person_who_leaves_while_a_counsellor_takes_the_chat_leaves_no_hold_behind(desk: Running) -> None:
    hub = desk.app.state.chats
    async with desk.runtime.sessions() as session:
        counsellor = (await session.execute(select(StaffUser.id).where(StaffUser.name == "全国の相談員"))).scalar_one()
    for _ in range(5):  # the two at the same moment, as near as the event loop allows
        person = WebPerson(desk)
        await person.through_intake()
        taken, left = await asyncio.gather(
            desk.client.post("/api/chats/next", headers=desk.staff["national"]), person.client.post("/chat/api/leave")
        )
        assert taken.status_code in (200, 204) and left.status_code == 200
        assert (await person.state())["status"] == "closed"
        assert await hub.queues.held_by(counsellor) == [], "no hold left on a closed chat"
        assert await desk.runtime.redis.zcard(f"tsunagu:slots:{NATIONAL.id}:sns") == 0


async def test_many_peoples_steps_are_written_together_and_each_gets_its_own_answer(desk: Running) -> None:
    """A surge of people writing at once: their steps share write transactions, and each reads their own chat as if alone."""
    hub = desk.app.state.chats
    people = [WebPerson(desk) for _ in range(12)]
    before = hub.steps.transactions
    started = await asyncio.gather(*(person.start() for person in people))
    asked = await asyncio.gather(*(person.say(choice="topic:general") for person in people))
    waiting = await asyncio.gather(*(person.say(text="1000001") for person in people))
    placed = await asyncio.gather(*(person.say(choice="age:30-49") for person in people))
    steps = len(people) * 4
    assert hub.steps.transactions - before < steps, "some steps shared a transaction"
    assert all(s["status"] == "intake" for s in started) and all(a["buttons"] for a in asked) and all(w["buttons"] for w in waiting)
    assert all(p["status"] == "waiting" and "番目" in texts(p, "system")[-1] for p in placed)
    stored = await chats(desk)
    assert len(stored) == len(people) and all(c.status == "waiting" and c.service_id in (NATIONAL.id, TOKYO.id) for c in stored)


async def test_a_step_that_fails_fails_alone_and_the_others_written_with_it_stand(desk: Running) -> None:
    hub = desk.app.state.chats

    async def failing(_session) -> None:
        raise ValueError("a step that cannot be written")

    person = WebPerson(desk)
    results = await asyncio.gather(person.start(), hub.steps.apply(failing), return_exceptions=True)
    assert isinstance(results[1], ValueError) and results[0]["status"] == "intake"
    assert len(await chats(desk)) == 1


async def test_a_chat_changed_between_the_look_ahead_and_the_write_is_looked_at_again(desk: Running, monkeypatch) -> None:
    """The person ends the questions while a counsellor's word lands on their chat: it is placed all the same, once."""
    person = WebPerson(desk)
    await person.start()
    await person.say(choice="topic:general")
    await person.say(text="1000001")
    looks = []
    real = conversation._look_ahead

    async def look_then_change(*args, **kwargs):
        ahead = await real(*args, **kwargs)
        looks.append(ahead)
        if len(looks) == 1:  # between this look and the write, the chat gets a message from elsewhere
            (chat,) = await chats(desk)
            async with db.transaction(desk.runtime.sessions) as session:
                await add_message(session, chat, sender="system", text="お知らせ", keys=desk.runtime.keys, at=chat.opened_at)
        return ahead

    monkeypatch.setattr(conversation, "_look_ahead", look_then_change)
    placed = await person.say(choice="age:30-49")
    assert len(looks) == 2 and placed["status"] == "waiting"
    (chat,) = await chats(desk)
    assert chat.status == "waiting" and chat.service_id == NATIONAL.id
