"""The coverage-gap page (/coverage, 地域資源の見える化): where no local window is open, for a topic and a channel,
at an instant, over a week (hour by hour) or over a range of days such as 年末年始.

For coordinators, within their regions, and admins (referral_directory/staff/access.py READ_COVERAGE); the
counting is routing/coverage.py's, the drawing routing/web/coverage_view.py's. A GET form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from referral_directory.hours import JST, supported
from referral_directory.records import CHANNELS, NATION, TOPIC_LABELS_JA, TOPICS
from referral_directory.regions import Regions
from referral_directory.staff.access import Action, CoverageScope, decide
from referral_directory.staff.accounts import Role, Staff, describe_scope
from routing import coverage
from routing.deps import RuntimeDep
from routing.runtime import Runtime
from routing.web import coverage_view, preview_view
from routing.web.auth import signed_in
from routing.web.case_views import jst
from routing.web.pages import page, to_login, who
from routing.web.routing_pages import STILL_LOADING

router = APIRouter(include_in_schema=False)
MODES = {"at": "その時刻", "week": "1週間（時間ごと）", "range": "期間（年末年始など）"}
LONGEST_RANGE_DAYS = 31
NOT_FOR_ROLE = "地域の窓口の見える化は、地域コーディネーターと管理者の方のためのページです。ダッシュボードからお進みください。"
PICK_A_PREFECTURE = "都道府県を一覧から選んでください。"
BAD_DAY = "日付を確かめてください（例：2026-12-29）。2000年から2099年までの日付で入力してください。"
BAD_RANGE = f"期間は、始まりの日から終わりの日まで、{LONGEST_RANGE_DAYS}日以内で選んでください。"


@dataclass(frozen=True, slots=True)
class Asked:
    region: str
    topic: str
    channel: str
    mode: str
    date: str
    time: str
    until: str


@router.get("/coverage")
async def coverage_page(
    request: Request,
    runtime: RuntimeDep,
    region: str = "",
    topic: str = "general",
    channel: str = "voice",
    mode: str = "at",
    date: str = "",
    time: str = "",
    until: str = "",
) -> Response:
    """The coverage-gap page: the form, the tile map, the heatmap (a week) and the places without a local window."""
    signed = await signed_in(request, runtime)
    if signed is None:
        return to_login(request, runtime)
    staff = signed.staff
    choices = _region_choices(staff, runtime.regions)
    if not choices:  # the policy lets them see no region at all: a counsellor, a supervisor, an auditor
        return page(request, "refused.html", {"message": NOT_FOR_ROLE}, status_code=403)
    now = runtime.clock.now().astimezone(JST)
    asked = Asked(
        region=region or _default_region(staff, runtime.regions),
        topic=topic if topic in TOPICS else "general",
        channel=channel if channel in CHANNELS else "voice",
        mode=mode if mode in MODES else "at",
        date=date or now.date().isoformat(),
        time=time or now.strftime("%H:%M"),
        until=until or date or now.date().isoformat(),
    )
    context = who(runtime, signed) | _form(asked, choices, now)
    area = runtime.regions.areas.get(asked.region)
    if area is None or area.kind not in ("prefecture", "nation"):
        return page(request, "coverage.html", context | {"error": PICK_A_PREFECTURE}, status_code=422)
    allowed = decide(staff, Action.READ_COVERAGE, CoverageScope(asked.region), regions=runtime.regions)
    if not allowed:
        scope = describe_scope(staff, runtime.regions)
        message = f"{area.name}の窓口の状況は、担当地域（{scope}）の外のため、表示できません。担当地域の都道府県を選んでください。"
        return page(request, "coverage.html", context | {"error": message}, status_code=403)
    if runtime.snapshot is None:
        return page(request, "coverage.html", context | {"error": STILL_LOADING}, status_code=503)
    try:
        spans, when = _spans(asked)
    except preview_view.NotUnderstood as problem:
        return page(request, "coverage.html", context | {"error": str(problem)}, status_code=422)
    return page(request, "coverage.html", context | _results(runtime, asked, spans, when))


def _default_region(staff: Staff, regions: Regions) -> str:
    """The region a staff member sees first: the whole country for admins, else the prefecture of their first region."""
    if staff.role is Role.ADMIN or not staff.regions or staff.regions[0] == NATION:
        return NATION
    return regions.prefectures[regions.area(staff.regions[0]).prefecture or ""].lgcode


def _region_choices(staff: Staff, regions: Regions) -> list[tuple[str, str]]:
    """The regions offered in the form: those the staff member may see."""
    choices = [(NATION, "全国（都道府県ごと）")] + [(p.lgcode, p.name) for _, p in sorted(regions.prefectures.items())]
    return [(code, name) for code, name in choices if decide(staff, Action.READ_COVERAGE, CoverageScope(code), regions=regions)]


def _form(asked: Asked, choices: list[tuple[str, str]], now: datetime) -> dict:
    season = now.year if now.month >= 7 else now.year - 1
    year_end = {"mode": "range", "date": f"{season}-12-29", "until": f"{season + 1}-01-03"}
    return {
        "asked": asked,
        "modes": MODES,
        "topics": TOPIC_LABELS_JA,
        "channels": preview_view.CHANNEL_CHOICES,
        "region_choices": choices,
        "year_end": year_end,
        "season": season,
    }


def _spans(asked: Asked) -> tuple[tuple[coverage.Span, ...], str]:
    """The spans of time asked about, and how the page says them."""
    if asked.mode == "at":
        at = preview_view.instant_of(asked.date, asked.time)
        return coverage.instant_spans(at), jst(at, year=True)
    first = _day(asked.date)
    if asked.mode == "week":
        monday = first - timedelta(days=first.weekday())
        return coverage.week_spans(monday), f"{_ja(monday)}からの1週間"
    last = _day(asked.until)
    if not 0 <= (last - first).days < LONGEST_RANGE_DAYS:
        raise preview_view.NotUnderstood(BAD_RANGE)
    return coverage.range_spans(first, last), f"{_ja(first)}から{_ja(last)}まで"


def _day(text: str) -> Date:
    try:
        return supported(Date.fromisoformat(text.strip()))
    except ValueError:
        raise preview_view.NotUnderstood(
            "日付を確かめてください（例：2026-12-29）。2000年から2099年までの日付で入力してください。"
        ) from None


def _ja(day: Date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _results(runtime: Runtime, asked: Asked, spans: tuple[coverage.Span, ...], when: str) -> dict:
    regions, snapshot = runtime.regions, runtime.snapshot
    assert snapshot is not None  # checked by the caller
    national = asked.region == NATION
    places = coverage.places_of(regions, None if national else regions.areas[asked.region].prefecture)
    masks = coverage.OpenMasks(spans, snapshot.holidays)  # each service's open spans, worked out once for every topic
    found = coverage.local_coverage(snapshot, places, topic=asked.topic, channel=asked.channel, spans=spans, masks=masks)
    week = asked.mode == "week"
    by_topic = (
        []
        if week
        else [
            (
                t,
                found
                if t == asked.topic
                else coverage.local_coverage(snapshot, places, topic=t, channel=asked.channel, spans=spans, masks=masks),
            )
            for t in TOPICS
        ]
    )
    return {
        "results": True,
        "when": when,
        "national": national,
        "region_name": regions.areas[asked.region].name,
        "place_count": len(found.places),
        "closed": [p.name for p in found.closed_throughout()],
        "unserved": [p.name for p in found.unserved()],
        "listed": coverage_view.listed,
        "map": coverage_view.prefecture_map(found, regions) if national else coverage_view.municipality_map(found, regions),
        "status_names": coverage_view.STATUS_NAMES,
        "heatmap": coverage_view.heatmap(found) if week else None,
        "average_hours": round(sum(p.hours_open() for p in found.places) / max(1, len(found.places)), 1) if week else None,
        "tier_rows": [] if national else coverage_view.tier_rows(found),
        "tier_columns": coverage_view.TIER_COLUMNS,
        "prefecture_rows": _prefecture_rows(found, regions) if national else [],
        "topic_lines": coverage_view.topic_lines(by_topic),
    }


def _prefecture_rows(found: coverage.Coverage, regions: Regions) -> list[tuple[str, int, int, int]]:
    """Per prefecture: (name, municipalities, those losing every local window, those with none)."""
    counts = {code: [0, 0, 0] for code in regions.prefectures}  # places, losing every local window, with none
    for place in found.places:
        row = counts[place.code[:2]]
        row[0] += 1
        row[1] += bool(place.served) and not place.local
        row[2] += not place.served
    return [
        (prefecture.name, counts[code][0], counts[code][1], counts[code][2]) for code, prefecture in sorted(regions.prefectures.items())
    ]
