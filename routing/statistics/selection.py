"""The rows a statistics scope covers, read from the anonymised records: referral hops, calls and chats of a period.

The one place that says whose rows are whose, for the statistics API and the statistics page alike:
a region's are the contacts made from inside it (a hop by its case's place); an organisation's are
the hops it made or received, the calls it answered, and the chats that waited at or were answered
by its windows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from referral_directory.hours import JST
from referral_directory.records import NATION
from referral_directory.staff.access import StatsScope
from referral_directory.staff.accounts import area_within
from routing.cases.models import Case, Referral
from routing.chats.models import Chat
from routing.runtime import Runtime
from routing.statistics.counts import ContactRow, Hop, chat_outcome
from routing.telephony.records import CallRecord


async def hops_of(session: AsyncSession, runtime: Runtime, scope: StatsScope, start: datetime, end: datetime) -> list[Hop]:
    """Return the referral hops made in [start, end) that the scope covers."""
    query = (
        select(
            col(Referral.created_at),
            col(Referral.accepted_at),
            col(Referral.from_tier),
            col(Referral.to_tier),
            col(Referral.prefecture),
            col(Referral.topic),
            col(Referral.status),
            col(Case.lgcode),
        )
        .join(Case, col(Case.id) == col(Referral.case_id))
        .where(col(Referral.created_at) >= start, col(Referral.created_at) < end)
    )
    if scope.organization:
        query = query.where(or_(col(Referral.from_org) == scope.organization, col(Referral.to_org) == scope.organization))
    if (nearby := _perhaps_in_region(runtime, scope.region, col(Case.lgcode))) is not None:
        query = query.where(nearby)
    found = (await session.execute(query)).all()
    within = _in_region_memo(runtime, scope.region)
    return [
        Hop(
            day=created.astimezone(JST).date(),
            from_tier=from_tier,
            to_tier=to_tier,
            prefecture=prefecture,
            topic=topic,
            status=status,
            hours_to_accept=(accepted - created).total_seconds() / 3600 if accepted else None,
        )
        for created, accepted, from_tier, to_tier, prefecture, topic, status, lgcode in found
        if scope.region is None or within(lgcode, prefecture)
    ]


async def calls_of(session: AsyncSession, runtime: Runtime, scope: StatsScope, start: datetime, end: datetime) -> list[ContactRow]:
    """Return the calls begun in [start, end) that the scope covers: made from its region, or answered by its organisation."""
    query = select(
        col(CallRecord.started_at),
        col(CallRecord.topic),
        col(CallRecord.outcome),
        col(CallRecord.lgcode),
        col(CallRecord.answered_service_id),
        col(CallRecord.wait_seconds),
    ).where(col(CallRecord.started_at) >= start, col(CallRecord.started_at) < end)
    if scope.organization is None and (nearby := _perhaps_in_region(runtime, scope.region, col(CallRecord.lgcode))) is not None:
        query = query.where(nearby)
    services = runtime.snapshot.services if runtime.snapshot else {}
    found = (await session.execute(query)).all()
    within = _in_region_memo(runtime, scope.region)
    rows = []
    for started, topic, outcome, lgcode, answered, waited in found:
        covered = (scope.region is not None and within(lgcode, lgcode[:2] if lgcode else None)) or (
            scope.organization is not None and answered in services and services[answered or ""].organization_id == scope.organization
        )
        if covered:
            local = started.astimezone(JST)
            rows.append(ContactRow(local.date(), topic, outcome, local.hour, waited if outcome == "connected" else None))
    return rows


async def chats_of(session: AsyncSession, runtime: Runtime, scope: StatsScope, start: datetime, end: datetime) -> list[ContactRow]:
    """Return the chats opened in [start, end) that the scope covers: from its region, or at its organisation's windows."""
    query = select(
        col(Chat.opened_at),
        col(Chat.topic),
        col(Chat.status),
        col(Chat.close_reason),
        col(Chat.arrived_at),
        col(Chat.first_human_at),
        col(Chat.lgcode),
        col(Chat.prefecture),
    ).where(col(Chat.opened_at) >= start, col(Chat.opened_at) < end)
    if scope.organization:
        query = query.where(col(Chat.org_id) == scope.organization)
    if (nearby := _perhaps_in_region(runtime, scope.region, col(Chat.lgcode))) is not None:
        query = query.where(nearby)
    found = (await session.execute(query)).all()
    within = _in_region_memo(runtime, scope.region)
    rows = []
    for opened, topic, status, reason, arrived, answered, lgcode, prefecture in found:
        if scope.region is not None and not within(lgcode, prefecture):
            continue
        local = opened.astimezone(JST)
        outcome = chat_outcome(status=status, close_reason=reason, queued=arrived is not None, answered=answered is not None)
        waited = (answered - (arrived or opened)).total_seconds() if answered is not None else None
        rows.append(ContactRow(local.date(), topic, outcome, local.hour, waited))
    return rows


def _perhaps_in_region(runtime: Runtime, region: str | None, lgcode: Mapped[str | None]) -> ColumnElement[bool] | None:
    """A cheap condition every row of the region meets (its prefecture's codes, or no place at all), for the database to
    leave out the rest of the country before `in_region` decides exactly; None when there is nothing to leave out."""
    if region is None or region == NATION:
        return None
    prefecture = runtime.regions.area(region).prefecture
    return or_(lgcode.startswith(prefecture, autoescape=True), lgcode.is_(None), lgcode == NATION)


def _in_region_memo(runtime: Runtime, region: str | None) -> Callable[[str | None, str | None], bool]:
    """in_region for one region, remembered per (lgcode, prefecture): a period's rows come from a few thousand places at most."""
    memo: dict[tuple[str | None, str | None], bool] = {}

    def within(lgcode: str | None, prefecture: str | None) -> bool:
        key = (lgcode, prefecture)
        if key not in memo:
            memo[key] = region is not None and in_region(runtime, region, lgcode, prefecture)
        return memo[key]

    return within


def in_region(runtime: Runtime, region: str, lgcode: str | None, prefecture: str | None) -> bool:
    """Return whether a contact from `lgcode` (or, without one, `prefecture`) lies in `region`."""
    if region == NATION:
        return True
    if lgcode and lgcode != NATION:
        return area_within(lgcode, region, runtime.regions)
    area = runtime.regions.area(region)
    return area.kind == "prefecture" and prefecture == area.prefecture
