"""The statistics API: referral hops and calls, counted and suppressed, for coordinators (their regions) and
supervisors (their organisation), as JSON or as CSV for the platform's reports."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import or_, select
from sqlmodel import col

from referral_directory.errors import ERROR_RESPONSES, Forbidden, Invalid
from referral_directory.hours import JST, supported
from referral_directory.records import NATION
from referral_directory.regions import RegionError
from referral_directory.staff.access import Action, StatsScope, decide
from referral_directory.staff.accounts import Role, Staff, area_within
from routing.cases.models import Case, Referral
from routing.deps import CurrentStaff, RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.statistics.counts import CALL_OUTCOME_NAMES, STATUS_NAMES, CallRow, Hop, call_table, hop_table, summarize
from routing.statistics.suppression import SuppressedTable, csv_rows
from routing.telephony.records import CallRecord

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
    scope = _scope(staff, runtime, asked.organization, asked.region)
    return Period(scope, *_period(runtime, asked.since, asked.until), format=asked.format)


PeriodDep = Annotated[Period, Depends(_period_asked)]


def _scope(staff: Staff, runtime: Runtime, organization: str | None, region: str | None) -> StatsScope:
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


def _period(runtime: Runtime, since: date | None, until: date | None) -> tuple[datetime, datetime]:
    today = runtime.clock.now().astimezone(JST).date()
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise Invalid(f"the period starts ({since}) after it ends ({until})")
    return datetime.combine(since, time(), JST), datetime.combine(until + timedelta(days=1), time(), JST)


def _in_region(runtime: Runtime, region: str, lgcode: str | None, prefecture: str | None) -> bool:
    if region == NATION:
        return True
    if lgcode and lgcode != NATION:
        return area_within(lgcode, region, runtime.regions)
    area = runtime.regions.area(region)
    return area.kind == "prefecture" and prefecture == area.prefecture


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
    scope, start, end = asked.scope, asked.start, asked.end
    query = (
        select(Referral, col(Case.lgcode))
        .join(Case, col(Case.id) == col(Referral.case_id))
        .where(col(Referral.created_at) >= start, col(Referral.created_at) < end)
    )
    if scope.organization:
        query = query.where(or_(col(Referral.from_org) == scope.organization, col(Referral.to_org) == scope.organization))
    found = (await session.execute(query)).all()
    hops = [
        Hop(
            day=r.created_at.astimezone(JST).date(),
            from_tier=r.from_tier,
            to_tier=r.to_tier,
            prefecture=r.prefecture,
            topic=r.topic,
            status=r.status,
            hours_to_accept=(r.accepted_at - r.created_at).total_seconds() / 3600 if r.accepted_at else None,
        )
        for r, lgcode in found
        if scope.region is None or _in_region(runtime, scope.region, lgcode, r.prefecture)
    ]
    return asked.answer(hop_table(hops, by), STATUS_NAMES, by, f"referrals-by-{by}.csv", summary=asdict(summarize(hops)))


@router.get(
    "/calls",
    response_model=None,
    responses=_documented(CallStatisticsOut),
    summary="Calls by day or topic × outcome for a region (coordinators) or answered by an organisation (supervisors)",
)
async def call_statistics(
    asked: PeriodDep, runtime: RuntimeDep, session: SessionDep, by: Annotated[Literal["day", "topic"], Query()] = "day"
) -> Response | dict:
    scope, start, end = asked.scope, asked.start, asked.end
    query = select(
        col(CallRecord.started_at),
        col(CallRecord.topic),
        col(CallRecord.outcome),
        col(CallRecord.lgcode),
        col(CallRecord.answered_service_id),
    ).where(col(CallRecord.started_at) >= start, col(CallRecord.started_at) < end)
    services = runtime.snapshot.services if runtime.snapshot else {}
    found = (await session.execute(query)).all()
    calls = [
        CallRow(day=started.astimezone(JST).date(), topic=topic, outcome=outcome)
        for started, topic, outcome, lgcode, answered in found
        if (scope.region is not None and _in_region(runtime, scope.region, lgcode, lgcode[:2] if lgcode else None))
        or (scope.organization is not None and answered in services and services[answered or ""].organization_id == scope.organization)
    ]
    return asked.answer(call_table(calls, by), CALL_OUTCOME_NAMES, by, f"calls-by-{by}.csv")
