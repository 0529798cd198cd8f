"""The statistics API: referral hops, calls and chats, counted and suppressed, for coordinators (their regions) and
supervisors (their organisation), as JSON or as CSV for the platform's reports. The staff page /statistics
(routing/web/statistics_pages.py) shows the same tables, worked out by the same functions."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AfterValidator, BaseModel, Field

from referral_directory.errors import ERROR_RESPONSES, Forbidden, Invalid
from referral_directory.hours import JST, supported
from referral_directory.regions import RegionError
from referral_directory.staff.access import Action, StatsScope, decide
from referral_directory.staff.accounts import Role, Staff
from routing.deps import CurrentStaff, RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.statistics.counts import (
    CALL_OUTCOME_NAMES,
    CALL_OUTCOMES,
    CHAT_OUTCOME_NAMES,
    CHAT_OUTCOMES,
    STATUS_NAMES,
    hop_table,
    summarize,
)
from routing.statistics.selection import calls_of, chats_of, hops_of
from routing.statistics.suppression import SuppressedTable, csv_rows
from routing.statistics.timing import BAND_WIDTHS, WAIT_NAMES, Breakdown, band_names, breakdown

router = APIRouter(prefix="/api/statistics", tags=["statistics"], responses=ERROR_RESPONSES)
DEFAULT_DAYS = 30
Day = Annotated[date, AfterValidator(supported)]  # 2000-01-01 to 2099-12-31 (422 otherwise)


class ColumnOut(BaseModel):
    key: str
    name: str = Field(description="the column's Japanese name")


class RowOut(BaseModel):
    label: str
    counts: list[int | None] = Field(description="null: a suppressed small count")
    total: int | None


class TableOut(BaseModel):
    columns: list[ColumnOut]
    rows: list[RowOut]
    totals: list[int | None]
    total: int | None
    suppressed: str


class ScopeOut(BaseModel):
    organization: str | None
    region: str | None


class SummaryOut(BaseModel):
    hops: int | None = Field(description="null when 1-9")
    answer_rate: float | None = Field(description="accepted or declined before the deadline, among the hops due; null when too few")
    median_hours_to_accept: float | None
    p90_hours_to_accept: float | None


class CallStatisticsOut(BaseModel):
    scope: ScopeOut
    since: date
    until: date
    by: str
    table: TableOut
    left_out: list[str] = Field(
        default=[],
        description="by=hour: the days not broken down, because the day table hides their total or their hours could not be "
        "protected; by=wait: ['connected'] when the answered contacts are not broken down",
    )


class ReferralStatisticsOut(CallStatisticsOut):
    summary: SummaryOut


def _documented(model: type[BaseModel]) -> dict:
    """The 200 answer /docs shows: the JSON model, or a CSV file with format=csv."""
    return {200: {"model": model, "content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}}


@dataclass
class Asked:
    """What every statistics request may say: the period (JST days), whose statistics, and the format."""

    since: Day | None = None
    until: Day | None = None
    organization: str | None = None
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None
    format: Literal["json", "csv"] = "json"


@dataclass(frozen=True)
class Period:
    """A statistics request, checked: whose statistics (the staff member may see them), from when to when, in which format."""

    scope: StatsScope
    start: datetime
    end: datetime
    format: Literal["json", "csv"]

    def answer(self, table: SuppressedTable, names: dict[str, str], by: str, filename: str, **extra: object) -> Response | dict:
        """The table as CSV, or as JSON with the scope, the period (JST days) and anything `extra`."""
        if self.format == "csv":
            return _csv(table, names, by, filename)
        until = (self.end - timedelta(days=1)).date()
        return {
            "scope": asdict(self.scope),
            "since": self.start.date(),
            "until": until,
            "by": by,
            "table": _table_json(table, names),
        } | extra


async def _period_asked(staff: CurrentStaff, runtime: RuntimeDep, asked: Annotated[Asked, Depends()]) -> Period:
    scope = scope_for(staff, runtime, asked.organization, asked.region)
    return Period(scope, *period_for(runtime, asked.since, asked.until), format=asked.format)


PeriodDep = Annotated[Period, Depends(_period_asked)]


def scope_for(staff: Staff, runtime: Runtime, organization: str | None, region: str | None) -> StatsScope:
    """Return the scope asked for (or the staff member's own), refusing any they may not see."""
    if organization is None and region is None:
        if staff.role is Role.SUPERVISOR:
            organization = staff.organization_id
        elif staff.role is Role.COORDINATOR and staff.regions:
            region = staff.regions[0]
    scope = StatsScope(organization=organization, region=region)
    try:
        decision = decide(staff, Action.READ_STATS, scope, regions=runtime.regions)
    except RegionError as error:
        raise Invalid(str(error)) from None
    if not decision:
        raise Forbidden(f"these statistics are not yours to see: {decision.reason}")
    return scope


def period_for(runtime: Runtime, since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """Return the period's first instant and the instant after it (JST midnights): until today, DEFAULT_DAYS long by default."""
    today = runtime.clock.now().astimezone(JST).date()
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise Invalid(f"the period starts ({since}) after it ends ({until})")
    return datetime.combine(since, time(), JST), datetime.combine(until + timedelta(days=1), time(), JST)


def _table_json(table: SuppressedTable, names: dict[str, str]) -> dict:
    return {
        "columns": [{"key": key, "name": names.get(key, key)} for key in table.column_labels],
        "rows": [
            {"label": label, "counts": list(cells), "total": total}
            for label, cells, total in zip(table.row_labels, table.cells, table.row_totals, strict=True)
        ],
        "totals": list(table.column_totals),
        "total": table.grand_total,
        "suppressed": "null: a count of 1-9, or one from which such a count could be worked out",
    }


def _csv(table: SuppressedTable, names: dict[str, str], corner: str, filename: str) -> Response:
    buffer = io.StringIO()
    rows = csv_rows(table, total_label="合計", corner=corner)
    rows[0] = [rows[0][0], *(names.get(key, key) for key in rows[0][1:-1]), rows[0][-1]]
    csv.writer(buffer).writerows(rows)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(
        ("\ufeff" + buffer.getvalue()).encode(), media_type="text/csv; charset=utf-8", headers=headers
    )  # BOM: Excel reads UTF-8


def _contact_names(outcome_names: dict[str, str], by: str, width: int) -> dict[str, str]:
    """The column names of a calls or chats table broken down `by`: outcomes, time bands or waits."""
    return band_names(width) if by == "hour" else WAIT_NAMES if by == "wait" else outcome_names


ContactBy = Annotated[
    Literal["day", "topic", "hour", "wait"],
    Query(description="rows × columns: day or topic × outcome, day × time band, or waits of those answered"),
]
Width = Annotated[int, Query(description="by=hour: hours per time band, 1, 3 or 6")]


def _band_width(hours: int) -> int:
    if hours not in BAND_WIDTHS:
        raise Invalid(f"hours={hours}: a time band is 1, 3 or 6 hours wide")
    return hours


def _contacts(asked: Period, found: Breakdown, names: dict[str, str], by: str, width: int, kind: str) -> Response | dict:
    filename = f"{kind}-by-{by}{'-' + str(width) + 'h' if by == 'hour' else ''}.csv"
    return asked.answer(found.table, _contact_names(names, by, width), by, filename, left_out=list(found.left_out))


@router.get(
    "/referrals",
    response_model=None,
    responses=_documented(ReferralStatisticsOut),
    summary="Referral hops by day, topic, tier or prefecture × status, with answer rate and time to accept",
)
async def referral_statistics(
    asked: PeriodDep,
    runtime: RuntimeDep,
    session: SessionDep,
    by: Annotated[Literal["day", "topic", "tier", "prefecture"], Query()] = "day",
) -> Response | dict:
    hops = await hops_of(session, runtime, asked.scope, asked.start, asked.end)
    return asked.answer(hop_table(hops, by), STATUS_NAMES, by, f"referrals-by-{by}.csv", summary=asdict(summarize(hops)))


@router.get(
    "/calls",
    response_model=None,
    responses=_documented(CallStatisticsOut),
    summary="Calls by day or topic × outcome, by day × time band, or by wait, for a region (coordinators) or answered by an "
    "organisation (supervisors)",
)
async def call_statistics(
    asked: PeriodDep, runtime: RuntimeDep, session: SessionDep, by: ContactBy = "day", hours: Width = 1
) -> Response | dict:
    width = _band_width(hours)
    calls = await calls_of(session, runtime, asked.scope, asked.start, asked.end)
    return _contacts(asked, breakdown(calls, by, CALL_OUTCOMES, width=width), CALL_OUTCOME_NAMES, by, width, "calls")


@router.get(
    "/chats",
    response_model=None,
    responses=_documented(CallStatisticsOut),
    summary="Chats by day or topic × outcome, by day × time band, or by wait, from a region (coordinators) or at an "
    "organisation's windows (supervisors)",
)
async def chat_statistics(
    asked: PeriodDep, runtime: RuntimeDep, session: SessionDep, by: ContactBy = "day", hours: Width = 1
) -> Response | dict:
    width = _band_width(hours)
    chats = await chats_of(session, runtime, asked.scope, asked.start, asked.end)
    return _contacts(asked, breakdown(chats, by, CHAT_OUTCOMES, width=width), CHAT_OUTCOME_NAMES, by, width, "chats")
