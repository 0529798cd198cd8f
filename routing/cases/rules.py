"""Cases and the referral chain: who sees what, what a referral carries, and which windows to suggest next.

The pure parts (suggestions, what a receiving organisation may see) sit at the top; the I/O
(loading a case for a staff member, expiring overdue referrals) below. Every access decision
goes through referral_directory.staff.access.decide; every read and change of a case is appended to the audit log
in the same transaction as the change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.errors import Conflict, Forbidden, NotFound
from referral_directory.hours import is_open_at, next_opening
from referral_directory.snapshot import Snapshot
from referral_directory.staff import audit
from referral_directory.staff.access import Action, CaseScope, decide
from referral_directory.staff.accounts import Staff
from referral_directory.storage import db
from routing.cases.events import announce, referral_changes
from routing.cases.handoff import LIVE_FOR_RECEIVER, OPEN, WORKING, Status, accept_deadline, next_tier
from routing.cases.models import Case, CaseNote, Referral
from routing.engine import Contact, matching_services
from routing.live.keys import ALERTS_CHANNEL

if TYPE_CHECKING:
    from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.cases")
SHARES = ("none", "consent", "exception")  # what a referral carries: nothing identifying, or contact and notes


@dataclass(frozen=True)
class Suggestion:
    service_id: str
    name: str
    organization: str
    tier: str
    open_now: bool
    opens_at: datetime | None  # when it next opens, if it is closed now
    phones: tuple[str, ...]


def suggest(
    snapshot: Snapshot,
    *,
    topic: str,
    municipality: str | None,
    prefecture: str | None,
    from_tier: str,
    exclude_orgs: Iterable[str],
    now: datetime,
) -> list[Suggestion]:
    """Return the windows a case could go on to: the next tier first, then open now before opening later, soonest first."""
    wanted = next_tier(from_tier)
    excluded = set(exclude_orgs)
    found = []
    for reach in matching_services(snapshot, Contact(topic=topic, channel="voice", municipality=municipality, prefecture=prefecture)):
        entry = reach.entry
        if entry.organization_id in excluded:
            continue
        open_now = is_open_at(entry.hours, now, snapshot.holidays)
        opens_at = None if open_now else next_opening(entry.hours, now, snapshot.holidays)
        if not open_now and opens_at is None:
            continue  # never opens again within the horizon: not a place to send anyone
        found.append(Suggestion(entry.id, entry.name, entry.organization_id, entry.tier, open_now, opens_at, entry.phones))
    found.sort(key=lambda s: (s.tier != wanted, not s.open_now, s.opens_at or now, s.name))
    return found


def scope_of(case: Case, referrals: Sequence[Referral]) -> CaseScope:
    """Return what the access policy needs of a case: its holder, and where each referral of it stands."""

    def receivers(*statuses: Status) -> frozenset[str]:
        return frozenset(r.to_org for r in referrals if r.status in statuses)

    def senders(*statuses: Status) -> frozenset[str]:
        return frozenset(r.from_org for r in referrals if r.status in statuses)

    return CaseScope(
        holder=case.holder_org,
        proposed_to=receivers(Status.PROPOSED),
        working=receivers(*WORKING),
        finished=receivers(Status.CLOSED),
        returned_to=senders(Status.DECLINED, Status.EXPIRED) - senders(Status.PROPOSED, *WORKING),
    )


def shared_with(org: str, case: Case, referrals: Sequence[Referral]) -> bool:
    """Whether an organisation may read the case's contact details and the notes written before it: the holder always;
    a receiver only when every hop that brought the case to it carried consent or a life-safety exception."""
    if org == case.holder_org:
        return True
    by_receiver = {r.to_org: r for r in referrals if r.status in LIVE_FOR_RECEIVER}
    seen = set()
    while org in by_receiver and org not in seen:
        seen.add(org)
        hop = by_receiver[org]
        if hop.share == "none":
            return False
        if hop.from_org == case.holder_org:
            return True
        org = hop.from_org
    return False


def visible_notes(org: str, case: Case, notes: Sequence[CaseNote], referrals: Sequence[Referral]) -> list[CaseNote]:
    """Notes an organisation may read: its own, and (when the chain to it carried consent) those of the orgs before it."""
    if not shared_with(org, case, referrals):
        return [n for n in notes if n.org_id == org]
    upstream = _upstream(org, case, referrals)
    return [n for n in notes if n.org_id == org or n.org_id in upstream]


def _upstream(org: str, case: Case, referrals: Sequence[Referral]) -> set[str]:
    by_receiver = {r.to_org: r for r in referrals if r.status in LIVE_FOR_RECEIVER}
    found: set[str] = set()
    while org in by_receiver and org not in found:
        org = by_receiver[org].from_org
        found.add(org)
    return found | {case.holder_org}


def referral_deadline(snapshot: Snapshot, service_id: str, made_at: datetime, open_hours: float) -> datetime | None:
    """Return when a referral to a service falls due, counted in that service's opening hours."""
    entry = snapshot.services[service_id]
    return accept_deadline(entry.hours, snapshot.holidays, made_at, timedelta(hours=open_hours))


# --- I/O ----------------------------------------------------------------------------------------


async def case_with_chain(session: AsyncSession, case_id: str) -> tuple[Case, list[Referral]] | None:
    case = await session.get(Case, case_id)
    if case is None:
        return None
    referrals = (
        (await session.execute(select(Referral).where(col(Referral.case_id) == case_id).order_by(col(Referral.created_at)))).scalars().all()
    )
    return case, list(referrals)


async def case_for(session: AsyncSession, staff: Staff, case_id: str, action: Action) -> tuple[Case, list[Referral]]:
    """Return a case the staff member may do `action` on, with its chain.

    A case outside their chain is NotFound, as for no case at all. On a case they may read, a
    refused action says why: Conflict while it waits for their organisation to accept the
    referral, Forbidden when it is the holder's alone or their organisation's part is over.
    """
    found = await case_with_chain(session, case_id)
    if found is None:
        raise NotFound(f"no case {case_id} among the cases at your organisation")
    scope = scope_of(*found)
    decision = decide(staff, action, scope)
    if not decision:
        log.warning("case_access_refused", staff=staff.id, action=action.value, reason=decision.reason)
        if action is Action.READ_CASE or not decide(staff, Action.READ_CASE, scope):
            raise NotFound(f"no case {case_id} among the cases at your organisation")
        raise (Conflict if decision.pending else Forbidden)(decision.reason)
    return found


async def audit_case(
    session: AsyncSession, staff: Staff, action: str, case_id: str, detail: dict | None = None, at: datetime | None = None
) -> None:
    await audit.append(session, actor=staff.id, action=action, resource_kind="case", resource_id=case_id, detail=detail or {}, at=at)


async def expire_overdue(session: AsyncSession, now: datetime) -> list[Referral]:
    """Mark every proposed referral past its deadline as expired (it returns to its sender); return them."""
    due = (
        (await session.execute(select(Referral).where(col(Referral.status) == Status.PROPOSED.value, col(Referral.deadline_at) <= now)))
        .scalars()
        .all()
    )
    for referral in due:
        referral.status, referral.answered_at = Status.EXPIRED.value, now
        await audit.append(
            session,
            actor="system:referrals",
            action="referral.expire",
            resource_kind="referral",
            resource_id=referral.id,
            detail={"case": referral.case_id, "hop": referral.hop},
            at=now,
        )
    return list(due)


def is_open(referral: Referral) -> bool:
    return Status(referral.status) in OPEN


SWEEP_SECONDS = 60.0


async def sweep_referrals(runtime: Runtime) -> list[Referral]:
    """Expire overdue referrals and tell their senders (one alert each, on Redis pub/sub); return them."""
    async with db.transaction(runtime.sessions) as session:
        expired = await expire_overdue(session, runtime.clock.now())
    for referral in expired:
        alert = {"kind": "referral_expired", "referral": referral.id, "case": referral.case_id, "org": referral.from_org}
        await runtime.redis.publish(ALERTS_CHANNEL, json.dumps(alert))
    await announce(runtime, [change for referral in expired for change in referral_changes(referral)])
    if expired:
        log.info("referrals_expired", count=len(expired))
    return expired
