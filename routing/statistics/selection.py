"""The rows a statistics scope covers, read from the anonymised records: referral hops, calls and chats of a period.

The one place that says whose rows are whose, for the statistics API and the statistics page alike:
a region's are the contacts made from inside it (a hop by its case's place); an organisation's are
the hops it made or received, the calls it answered, and the chats that waited at or were answered
by its windows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
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
        select(Referral, col(Case.lgcode))
        .join(Case, col(Case.id) == col(Referral.case_id))
        .where(col(Referral.created_at) >= start, col(Referral.created_at) < end)
    )
    if scope.organization:
        query = query.where(or_(col(Referral.from_org) == scope.organization, col(Referral.to_org) == scope.organization))
    found = (await session.execute(query)).all()
    return [
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
        if scope.region is None or in_region(runtime, scope.region, lgcode, r.prefecture)
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
