"""The statistics page (/statistics, 相談の統計): calls, chats and referrals of a period as charts and tables.

For coordinators (their regions) and supervisors (their organisation), exactly as the statistics API
allows (routing/statistics/api.py `scope_for`, which asks referral_directory/staff/access.py). The
rows are the API's (routing/statistics/selection.py), the tables the API's (counts.py, timing.py),
so every number here is the one the API publishes for the same period, suppressed the same way;
the CSV links are the API's own. A GET form: looking changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.errors import Forbidden, Invalid
from referral_directory.hours import JST, supported
from referral_directory.regions import RegionError
from referral_directory.staff.access import StatsScope
from referral_directory.staff.accounts import Role, Staff, describe_scope
from routing.deps import RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.statistics.api import period_for, scope_for
from routing.statistics.counts import (
    CALL_OUTCOME_NAMES,
    CALL_OUTCOMES,
    CHAT_OUTCOME_NAMES,
    CHAT_OUTCOMES,
    ContactRow,
    hop_table,
    outcome_table,
    published_median,
    summarize,
)
from routing.statistics.selection import calls_of, chats_of, hops_of
from routing.statistics.timing import BAND_WIDTHS, CONNECTED, band_names, hour_table, wait_table
from routing.web import statistics_view as view
from routing.web.auth import signed_in
from routing.web.case_views import Names
from routing.web.pages import page, to_login, who

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 7
LONGEST_DAYS = 62
DEFAULT_WIDTH = 3
NOT_FOR_ROLE = "相談の統計は、地域コーディネーターとスーパーバイザーの方のためのページです。ダッシュボードからお進みください。"
BAD_DAY = "日付を確かめてください（例：2026-12-01）。2000年から2099年までの日付で入力してください。"
BACKWARDS = "始まりの日が、終わりの日より後になっています。日付を確かめてください。"
TOO_LONG = f"期間は{LONGEST_DAYS}日以内で選んでください（年末年始や5月のひと月も選べます）。"
BAD_REGION = "地域を一覧から選んでください。"


@dataclass(frozen=True, slots=True)
class Asked:
    since: str
    until: str
    region: str
    width: int


@dataclass(frozen=True, slots=True)
class Preset:
    label: str
    since: date
    until: date


CsvLink = Callable[..., str]


class NotUnderstood(ValueError):
    """A period the page cannot show, with the words to say so."""


@router.get("/statistics")
async def statistics_page(
    request: Request, runtime: RuntimeDep, session: SessionDep, since: str = "", until: str = "", region: str = "", hours: str = ""
) -> Response:
    """The statistics page: the period form, then calls, chats and referrals as charts with their tables."""
    signed = await signed_in(request, runtime)
    if signed is None:
        return to_login(request, runtime)
    staff = signed.staff
    today = runtime.clock.now().astimezone(JST).date()
    width = int(hours) if hours in {str(w) for w in BAND_WIDTHS} else DEFAULT_WIDTH
    asked = Asked(since.strip(), until.strip(), region.strip(), width)
    context = who(runtime, signed) | _form(runtime, staff, asked, today)
    try:
        scope = scope_for(staff, runtime, None, asked.region or None)
    except Forbidden:
        return page(request, "refused.html", {"message": _refusal(staff, runtime, asked.region)}, status_code=403)
    except Invalid:
        return page(request, "statistics.html", context | {"error": BAD_REGION}, status_code=422)
    try:
        first, last = _period(asked, today)
    except NotUnderstood as problem:
        return page(request, "statistics.html", context | {"error": str(problem)}, status_code=422)
    figures = await _figures(session, runtime, scope, first, last, today, width)
    return page(request, "statistics.html", context | figures | {"scope_name": _scope_name(runtime, scope), "period": _said(first, last)})


def presets(today: date) -> list[Preset]:
    """The periods offered as links: the last 7 days, the latest 年末年始 (Dec 28 - Jan 4) and the latest May."""
    season = today.year if today >= date(today.year, 12, 28) else today.year - 1
    may = today.year if today >= date(today.year, 5, 1) else today.year - 1
    return [
        Preset("直近7日間", today - timedelta(days=DEFAULT_DAYS - 1), today),
        Preset(f"年末年始（{season}年12月28日〜{season + 1}年1月4日）", date(season, 12, 28), date(season + 1, 1, 4)),
        Preset(f"{may}年5月（孤独・孤立対策強化月間）", date(may, 5, 1), date(may, 5, 31)),
    ]


def _period(asked: Asked, today: date) -> tuple[date, date]:
    last = _day(asked.until) if asked.until else today
    first = _day(asked.since) if asked.since else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise NotUnderstood(BACKWARDS)
    if (last - first).days >= LONGEST_DAYS:
        raise NotUnderstood(TOO_LONG)
    return first, last


def _day(text: str) -> date:
    try:
        return supported(date.fromisoformat(text))
    except ValueError:
        raise NotUnderstood(BAD_DAY) from None


def _form(runtime: Runtime, staff: Staff, asked: Asked, today: date) -> dict:
    choices = [(code, _region_name(runtime, code)) for code in staff.regions] if staff.role is Role.COORDINATOR else []
    first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    return {
        "asked": asked,
        "since_value": asked.since or first.isoformat(),
        "until_value": asked.until or last.isoformat(),
        "presets": presets(today),
        "region_choices": choices,
        "widths": {w: f"{w}時間ごと" for w in BAND_WIDTHS},
    }


async def _figures(session: AsyncSession, runtime: Runtime, scope: StatsScope, first: date, last: date, today: date, width: int) -> dict:
    start, end = period_for(runtime, first, last)  # the API's own period: JST midnights
    calls = await calls_of(session, runtime, scope, start, end)
    chats = await chats_of(session, runtime, scope, start, end)
    hops = await hops_of(session, runtime, scope, start, end)
    days = view.days_of(first, min(last, max(first, today)))
    link = _csv_link(scope, first, last)
    contacts = {
        "calls": _contact_figures("calls", "電話", calls, CALL_OUTCOMES, CALL_OUTCOME_NAMES, days, width, link, "o"),
        "chats": _contact_figures("chats", "チャット", chats, CHAT_OUTCOMES, CHAT_OUTCOME_NAMES, days, width, link, "c"),
    }
    by_tier, by_prefecture = hop_table(hops, "tier"), hop_table(hops, "prefecture")
    referrals = [view.referral_figure("referrals-tier", by_tier, "tier", runtime.regions, link("referrals", by="tier"))]
    if len(by_prefecture.row_labels) > 1:
        by_place = link("referrals", by="prefecture")
        referrals.append(view.referral_figure("referrals-prefecture", by_prefecture, "prefecture", runtime.regions, by_place))
    return {
        "results": True,
        "contacts": contacts,
        "referrals": referrals,
        "summary": summarize(hops),
        "referral_total": by_tier.grand_total,
    }


def _contact_figures(
    kind: str,
    what: str,
    rows: list[ContactRow],
    outcomes: tuple[str, ...],
    names: dict[str, str],
    days: list[date],
    width: int,
    link: CsvLink,
    prefix: str,
) -> dict:
    by_day = outcome_table(rows, "day", outcomes)  # suppressed once: the hour and wait tables are suppressed beside it
    by_hour = hour_table(rows, by_day, width)
    by_wait = wait_table(rows, by_day)
    connected = by_day.column_totals[by_day.column_labels.index(CONNECTED)]
    median = published_median(r.wait_seconds or 0.0 for r in rows if r.outcome == CONNECTED)
    median_wait = None if median is None else _duration(median)
    return {
        "what": what,
        "total": by_day.grand_total,
        "connected": connected,
        "median_wait": median_wait,
        "figures": [
            view.by_day_figure(f"{kind}-day", what, by_day, names, days, link(kind, by="day"), prefix),
            view.by_hour_figure(f"{kind}-hour", what, by_hour, band_names(width), days, link(kind, by="hour", hours=width), prefix),
            view.wait_figure(f"{kind}-wait", what, by_wait, median_wait, link(kind, by="wait"), prefix),
        ],
    }


def _csv_link(scope: StatsScope, first: date, last: date) -> CsvLink:
    """The API's CSV of a table of the page: the same scope, period and breakdown."""

    def link(kind: str, **extra: object) -> str:
        whose = {"organization": scope.organization} if scope.organization else {"region": scope.region}
        query = {"since": first.isoformat(), "until": last.isoformat(), **whose, **extra, "format": "csv"}
        return f"/api/statistics/{kind}?{urlencode(query)}"

    return link


def _duration(seconds: float) -> str:
    return f"{round(seconds)}秒" if seconds < 60 else f"{seconds / 60:.1f}分".replace(".0分", "分")


def _said(first: date, last: date) -> str:
    def ja(day: date) -> str:
        return f"{day.year}年{day.month}月{day.day}日"

    return ja(first) if first == last else f"{ja(first)}〜{ja(last)}"


def _scope_name(runtime: Runtime, scope: StatsScope) -> str:
    if scope.organization:
        return Names.of(runtime).organization(scope.organization)
    return _region_name(runtime, scope.region or "")


def _region_name(runtime: Runtime, code: str) -> str:
    try:
        return runtime.regions.name_of(code)
    except RegionError:
        return code


def _refusal(staff: Staff, runtime: Runtime, region: str) -> str:
    if staff.role is Role.COORDINATOR and region:
        scope = describe_scope(staff, runtime.regions)
        return f"{_region_name(runtime, region)}の統計は、担当地域（{scope}）の外のため、表示できません。担当地域を選んでください。"
    if staff.role is Role.SUPERVISOR and region:
        return "スーパーバイザーの方に表示できるのは、所属先の統計です。地域を選ばずに開いてください。"
    return NOT_FOR_ROLE
