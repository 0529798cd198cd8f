"""What a counsellor or supervisor can do with a case and its referrals; the JSON API and the pages both call these.

Each function works inside its caller's transaction (the session is passed in; the API's
SessionDep commits it on success and rolls it back on error), checks access first (a case
outside the staff member's chain is NotFound, exactly as a case that does not exist), and
appends every read and change to the audit log in the same transaction. Notes and contact
details are stored sealed and pass to the next organisation only with the person's recorded
consent, or under a recorded life-safety exception.

A live transfer of the call on the line is in routing/cases/transfer.py: it runs its own
transactions around Twilio's REST call.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import Select, String, bindparam, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.errors import Conflict, Forbidden, Invalid, NotFound
from referral_directory.records import TIERS
from referral_directory.snapshot import ServiceEntry
from referral_directory.staff.access import Action, CaseScope, ReferralScope, decide
from referral_directory.staff.accounts import Role, Staff
from referral_directory.storage import db
from routing.cases.events import case_changes, referral_changes, tell_after_commit
from routing.cases.handoff import LIVE_FOR_RECEIVER, HandoffError, Status, check_move
from routing.cases.models import Case, CaseNote, Referral, SafetyException
from routing.cases.rules import audit_case, case_for, referral_deadline, scope_of, shared_with, suggest, visible_notes
from routing.cases.schemas import (
    Box,
    CaseIn,
    CaseOut,
    CaseSummaryOut,
    ConsentIn,
    ConsentOut,
    IntakeIn,
    NoteAdded,
    NoteIn,
    NoteOut,
    ReferralIn,
    ReferralOut,
    ReferralStep,
    SuggestionOut,
)
from routing.live.keys import live_call_key
from routing.privacy.confidentiality import seal, try_unseal
from routing.runtime import Runtime
from routing.telephony.records import CallRecord

log = structlog.get_logger("tsunagu.cases")
LIST_LIMIT = 200


def case_worker(staff: Staff) -> str:
    """Return the organisation a staff member works cases for; Forbidden for a role that works none."""
    if staff.role not in (Role.COUNSELLOR, Role.SUPERVISOR) or not staff.organization_id:
        raise Forbidden(f"a {staff.role.value} does not work cases")
    return staff.organization_id


def referral_out(referral: Referral) -> ReferralOut:
    return ReferralOut.model_validate(referral, from_attributes=True)


# --- reading ------------------------------------------------------------------------------------


def case_list_query(limit: int = LIST_LIMIT) -> Select:
    """The newest `limit` cases the organisation bound as `org` holds or was referred, newest first; only what the list shows.

    Written as two halves that each read at most `limit` rows in index order, then merged: one
    `holder_org = org OR id IN (referred)` query would read and sort every case the organisation
    ever held, a cost that grows all year at the national window.
    """
    org = bindparam("org", type_=String)
    columns = (col(Case.id), col(Case.topic), col(Case.risk_level), col(Case.holder_org), col(Case.updated_at))
    newest = col(Case.updated_at).desc()
    held = select(*columns).where(col(Case.holder_org) == org).order_by(newest).limit(limit).subquery()
    referred_ids = select(col(Referral.case_id)).where(col(Referral.to_org) == org, col(Referral.status).in_(sorted(LIVE_FOR_RECEIVER)))
    referred = select(*columns).where(col(Case.id).in_(referred_ids), col(Case.holder_org) != org).order_by(newest).limit(limit).subquery()
    both = union_all(select(held), select(referred)).subquery()
    return select(both).order_by(both.c.updated_at.desc(), both.c.id).limit(limit)


CASE_LIST = case_list_query()  # built once: building it costs more than running it


def referral_box_query(org: str, box: Box, statuses: list[str] | None = None, limit: int = LIST_LIMIT) -> Select:
    """The newest `limit` referrals made to (inbox) or by (outbox) the organisation, read in index order."""
    column = col(Referral.to_org) if box == "inbox" else col(Referral.from_org)
    query = select(*db.table_of(Referral).columns).where(column == org)  # rows, not ORM objects: a box is read, never changed here
    if statuses:
        query = query.where(col(Referral.status).in_(statuses))
    return query.order_by(col(Referral.created_at).desc()).limit(limit)


async def list_cases(session: AsyncSession, runtime: Runtime, staff: Staff) -> list[CaseSummaryOut]:
    """The cases the staff member's organisation holds or was referred, newest first (audited)."""
    org = case_worker(staff)
    cases = (await session.execute(CASE_LIST, {"org": org})).all()
    await audit_case(session, staff, "case.list", org, {"count": len(cases)}, runtime.clock.now())
    return [
        CaseSummaryOut(id=c.id, topic=c.topic, risk_level=c.risk_level, held_here=c.holder_org == org, updated_at=c.updated_at)
        for c in cases
    ]


async def referral_box(
    session: AsyncSession, runtime: Runtime, staff: Staff, box: Box, statuses: list[str] | None = None
) -> list[ReferralOut]:
    """The referral inbox (made to the organisation) or outbox (made by it), newest first (audited)."""
    org = case_worker(staff)
    rows = (await session.execute(referral_box_query(org, box, statuses))).all()
    await audit_case(session, staff, f"referral.{box}", org, {"count": len(rows)}, runtime.clock.now())
    return [ReferralOut.model_validate(row, from_attributes=True) for row in rows]


async def read_case(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str, *, audited: bool = True) -> CaseOut:
    """One case as the staff member's organisation may see it: notes and contact only where they were shared with it."""
    org = case_worker(staff)
    case, referrals = await case_for(session, staff, case_id, Action.READ_CASE)
    notes = (await session.execute(select(CaseNote).where(col(CaseNote.case_id) == case_id).order_by(col(CaseNote.at)))).scalars().all()
    earlier = 0
    if case.caller_pseudonym:  # a repeat caller is recognised by the pseudonym, within its key's life; never by the number
        same = (col(CallRecord.caller_pseudonym) == case.caller_pseudonym) & (col(CallRecord.call_ref) != (case.call_ref or ""))
        earlier = (await session.execute(select(func.count()).select_from(CallRecord).where(same))).scalar_one()
    if audited:
        await audit_case(session, staff, "case.read", case_id, at=runtime.clock.now())
    keys = runtime.keys
    shared = shared_with(org, case, referrals)
    scope = scope_of(case, referrals)
    return CaseOut(
        id=case.id,
        channel=case.channel,
        topic=case.topic,
        topics=case.topics,
        lgcode=case.lgcode,
        prefecture=case.prefecture,
        holder_org=case.holder_org,
        holder_tier=case.holder_tier,
        age_band=case.age_band,
        risk_level=case.risk_level,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        consent=case.consent_at is not None,
        may_refer=_may(staff, Action.REFER, scope),
        may_record_intake=_may(staff, Action.RECORD_INTAKE, scope),
        may_record_consent=_may(staff, Action.RECORD_CONSENT, scope),
        may_add_notes=_may(staff, Action.ADD_NOTE, scope),
        call_live=bool(await runtime.redis.exists(live_call_key(case.id))),
        earlier_calls=earlier,
        contact=try_unseal(case.contact_sealed, keys=keys) if shared and case.contact_sealed else None,
        notes=[
            NoteOut(id=n.id, org=n.org_id, at=n.at, text=try_unseal(n.body_sealed, keys=keys) if n.body_sealed else None)
            for n in visible_notes(org, case, notes, referrals)
        ],
        referrals=[referral_out(r) for r in referrals if org in (case.holder_org, r.from_org, r.to_org) or shared],
    )


def _may(staff: Staff, action: Action, scope: CaseScope) -> bool:
    return decide(staff, action, scope).allowed


async def suggestions(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str) -> list[SuggestionOut]:
    """Where the case could go next: the next tier first, open now or soonest (audited)."""
    now = runtime.clock.now()
    case, referrals = await case_for(session, staff, case_id, Action.REFER)
    await audit_case(session, staff, "case.suggestions", case_id, {}, now)
    snapshot = runtime.snapshot
    assert snapshot is not None, "the service answers only once the directory is loaded"
    municipality = case.lgcode[:5] if case.lgcode and case.lgcode != "000000" and case.prefecture else None
    # Not back to the organisations that have the case or said no; one that let a referral expire may be asked again.
    chain = {case.holder_org, *(r.to_org for r in referrals if r.status != Status.EXPIRED)}
    found = suggest(
        snapshot,
        topic=case.topic or "general",
        municipality=municipality,
        prefecture=case.prefecture,
        from_tier=_tier_of(staff.organization_id or "", case, referrals),
        exclude_orgs=chain,
        now=now,
    )
    return [SuggestionOut.model_validate(s, from_attributes=True) for s in found]


# --- changing -----------------------------------------------------------------------------------


async def open_case(session: AsyncSession, runtime: Runtime, staff: Staff, body: CaseIn) -> CaseOut:
    """Open a case at the staff member's organisation, at its highest tier (calls open theirs when answered)."""
    org = case_worker(staff)
    now = runtime.clock.now()
    tiers = [s.tier for s in runtime.snapshot.services.values() if s.organization_id == org] if runtime.snapshot else []
    if not tiers:
        raise Invalid(f"organisation {org} has no service in the directory, so its tier is unknown")
    prefecture = body.lgcode[:2] if body.lgcode and body.lgcode != "000000" else None
    case = Case(
        channel=body.channel,
        topic=body.topic,
        topics=[body.topic],
        lgcode=body.lgcode,
        prefecture=prefecture,
        holder_org=org,
        holder_tier=min(tiers, key=TIERS.index),
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    await session.flush()
    await audit_case(session, staff, "case.open", case.id, {"channel": case.channel}, now)
    tell_after_commit(session, runtime, case_changes(case))
    return await read_case(session, runtime, staff, case.id, audited=False)


async def update_intake(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str, body: IntakeIn) -> CaseOut:
    """Save the counsellor's intake: topics, age band, risk level (only the fields given); the holder's alone."""
    now = runtime.clock.now()
    case, referrals = await case_for(session, staff, case_id, Action.RECORD_INTAKE)
    changed = body.model_dump(exclude_none=True)
    for field, value in changed.items():
        setattr(case, field, value)
    case.updated_at = now
    await audit_case(session, staff, "case.update", case_id, {"fields": sorted(changed)}, now)
    tell_after_commit(session, runtime, case_changes(case, referrals))
    return await read_case(session, runtime, staff, case_id, audited=False)


async def add_note(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str, body: NoteIn) -> NoteAdded:
    """Add a note, sealed; it stays with its organisation unless the case is passed on with consent."""
    now = runtime.clock.now()
    case, referrals = await case_for(session, staff, case_id, Action.ADD_NOTE)
    note = CaseNote(case_id=case_id, org_id=case_worker(staff), author=staff.id, at=now, body_sealed=seal(body.text, keys=runtime.keys))
    session.add(note)
    case.updated_at = now
    await audit_case(session, staff, "case.note", case_id, {"note": note.id}, now)
    tell_after_commit(session, runtime, case_changes(case, referrals))
    return NoteAdded(id=note.id, at=now)


async def record_consent(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str, body: ConsentIn) -> ConsentOut:
    """Record the person's consent to pass their contact details and notes on, with the number they gave; the holder's alone."""
    now = runtime.clock.now()
    case, referrals = await case_for(session, staff, case_id, Action.RECORD_CONSENT)
    case.contact_sealed = seal(body.contact, keys=runtime.keys)
    case.consent_at, case.consent_by, case.updated_at = now, staff.id, now
    await audit_case(session, staff, "case.consent", case_id, {}, now)
    tell_after_commit(session, runtime, case_changes(case, referrals))
    return ConsentOut(consent=True, at=now)


async def refer(session: AsyncSession, runtime: Runtime, staff: Staff, case_id: str, body: ReferralIn) -> ReferralOut:
    """Refer the case to a window of the next tier for follow-up, due within that window's opening hours."""
    now = runtime.clock.now()
    target = target_service(runtime, body.to_service)
    assert runtime.snapshot is not None
    deadline = referral_deadline(runtime.snapshot, target.id, now, runtime.settings.referral_accept_hours)
    if deadline is None:
        raise Invalid(f"{target.name} does not open again: choose another window")
    case, referrals = await case_for(session, staff, case_id, Action.REFER)
    return referral_out(await new_referral(session, runtime, staff, case, referrals, body, target=target, kind="refer", deadline=deadline))


async def answer_referral(session: AsyncSession, runtime: Runtime, staff: Staff, referral_id: str, step: ReferralStep) -> ReferralOut:
    """Answer a referral made to the organisation: accept, decline (with reason), contacted, closed (with outcome)."""
    now = runtime.clock.now()
    referral = await session.get(Referral, referral_id)
    if referral is None or not decide(staff, Action.ANSWER_REFERRAL, ReferralScope(receiver=referral.to_org)):
        raise NotFound(f"no referral {referral_id} made to your organisation")
    target = Status(step.status)
    try:
        check_move(Status(referral.status), target, reason=step.reason, outcome=step.outcome)
    except HandoffError as error:
        raise Conflict(str(error)) from None
    referral.status = target.value
    if target is Status.ACCEPTED:
        referral.accepted_at = referral.answered_at = now
    elif target is Status.DECLINED:
        referral.reason, referral.answered_at = step.reason, now
    elif target is Status.CONTACTED:
        referral.contacted_at = now
    else:
        referral.outcome, referral.closed_at = step.outcome, now
    await audit_case(session, staff, f"referral.{target.value}", referral.case_id, {"referral": referral.id}, now)
    tell_after_commit(session, runtime, referral_changes(referral))
    return referral_out(referral)


def target_service(runtime: Runtime, service_id: str) -> ServiceEntry:
    target = runtime.snapshot.services.get(service_id) if runtime.snapshot else None
    if target is None:
        raise Invalid(f"no service {service_id} in the directory")
    return target


def _tier_of(org: str, case: Case, referrals: list[Referral]) -> str:
    if org == case.holder_org:
        return case.holder_tier
    return next((r.to_tier for r in reversed(referrals) if r.to_org == org), case.holder_tier)


async def new_referral(
    session: AsyncSession,
    runtime: Runtime,
    staff: Staff,
    case: Case,
    referrals: list[Referral],
    body: ReferralIn,
    *,
    target: ServiceEntry,
    kind: str,
    deadline: datetime,
) -> Referral:
    """Add one hop to the chain, after checking that it may be made and what it may carry; audited.

    The caller has loaded the case with case_for(..., Action.REFER): the staff member may pass it on.
    """
    now = runtime.clock.now()
    org = case_worker(staff)
    if target.organization_id in {case.holder_org, *(r.to_org for r in referrals if r.status in ("proposed", "accepted", "contacted"))}:
        raise Conflict("this organisation already has the case")
    if body.share == "consent" and case.consent_at is None:
        raise Invalid("the person's consent is not recorded: record it first, or refer without sharing their details")
    if body.share == "exception" and not (body.exception_reason and body.exception_reason.strip()):
        raise Invalid("a life-safety exception needs the reason it was made")
    referral = Referral(
        case_id=case.id,
        hop=1 + sum(1 for r in referrals if r.status not in ("declined", "expired")),
        kind=kind,
        from_org=org,
        from_tier=_tier_of(org, case, referrals),
        to_org=target.organization_id,
        to_service=target.id,
        to_tier=target.tier,
        topic=case.topic,
        prefecture=case.prefecture,
        share=body.share,
        created_by=staff.id,
        created_at=now,
        deadline_at=deadline,
    )
    session.add(referral)
    await session.flush()
    if body.share == "exception":
        session.add(
            SafetyException(
                case_id=case.id,
                referral_id=referral.id,
                staff_id=staff.id,
                org_id=org,
                at=now,
                why_sealed=seal(body.exception_reason or "", keys=runtime.keys),
            )
        )
        await audit_case(session, staff, "consent.exception", case.id, {"referral": referral.id}, now)
    case.updated_at = now
    await audit_case(
        session,
        staff,
        "referral.create",
        case.id,
        {"referral": referral.id, "kind": kind, "share": body.share, "to_tier": target.tier},
        now,
    )
    tell_after_commit(session, runtime, referral_changes(referral, made_on=case, chain=referrals))
    return referral
