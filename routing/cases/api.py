"""The case and referral API for counsellors and supervisors (the dashboard calls it too).

Cases outside a staff member's chain answer 404, exactly as a case that does not exist. Every
read and change is appended to the audit log. Notes and contact details are stored sealed and
pass to the next organisation only with the person's recorded consent, or under a recorded
life-safety exception.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Literal, NoReturn

import phonenumbers
import structlog
from sqlalchemy import Select, String, bindparam, func, select, union_all
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_validator

from referral_directory.storage import db
from referral_directory.staff.deps import CurrentStaff
from referral_directory.errors import Conflict, Forbidden, Invalid, NotFound, UpstreamFailed
from referral_directory.records import TOPICS
from referral_directory.staff.accounts import Role, Staff
from referral_directory.staff.access import Action, ReferralScope, decide
from routing.telephony.records import CallRecord
from routing.cases.models import Case, CaseNote, Referral, SafetyException
from routing.cases.rules import LIVE_FOR_RECEIVER, SHARES, audit_case, case_for, may_pass_on, referral_deadline, shared_with, suggest, visible_notes
from routing.privacy.confidentiality import seal, try_unseal
from routing.cases.handoff import OUTCOMES, HandoffError, Status, check_move
from referral_directory.hours import is_open_at
from routing.runtime import Runtime
from routing.telephony.callbacks import twilio_client
from routing.telephony.case_webhooks import TRANSFER_URL
from routing.live.keys import live_call_key
from routing.telephony.calls import Attempt, CallState, load_call, save_call

log = structlog.get_logger("tsunagu.cases")
router = APIRouter(prefix="/api", tags=["cases"])
AGE_BANDS = ("under18", "18-29", "30-49", "50-64", "65plus", "unknown")
RISK_LEVELS = ("low", "medium", "high", "imminent")
STATUSES = tuple(s.value for s in Status)
LIST_LIMIT = 200


class CaseIn(BaseModel):
    topic: Literal[TOPICS] = "general"  # type: ignore[valid-type]
    channel: Literal["voice", "sns", "visit"] = "voice"
    lgcode: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class IntakeIn(BaseModel):
    topics: list[Literal[TOPICS]] | None = None  # type: ignore[valid-type]
    age_band: Literal[AGE_BANDS] | None = None  # type: ignore[valid-type]
    risk_level: Literal[RISK_LEVELS] | None = None  # type: ignore[valid-type]


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ConsentIn(BaseModel):
    contact: str = Field(description="the phone number the person agreed to be contacted at")

    @field_validator("contact")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, "JP")
        except phonenumbers.NumberParseException:
            raise ValueError("not a phone number: give it as 090-1234-5678 or +81 90 1234 5678") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ReferralIn(BaseModel):
    to_service: str
    share: Literal[SHARES] = "none"  # type: ignore[valid-type]
    exception_reason: str | None = Field(default=None, max_length=1000, description="why a life was at risk (share=exception)")


class ReferralStep(BaseModel):
    status: Literal["accepted", "declined", "contacted", "closed"]
    reason: str | None = Field(default=None, max_length=200)
    outcome: Literal[OUTCOMES] | None = None  # type: ignore[valid-type]


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _now(request: Request) -> datetime:
    return _runtime(request).clock.now()


def _case_worker(staff: Staff) -> str:
    if staff.role not in (Role.COUNSELLOR, Role.SUPERVISOR) or not staff.organization_id:
        raise Forbidden(f"a {staff.role.value} does not work cases")
    return staff.organization_id


def _referral_out(referral: Referral) -> dict:
    return {
        "id": referral.id, "case_id": referral.case_id, "hop": referral.hop, "kind": referral.kind,
        "from_org": referral.from_org, "from_tier": referral.from_tier, "to_org": referral.to_org,
        "to_service": referral.to_service, "to_tier": referral.to_tier, "share": referral.share, "status": referral.status,
        "reason": referral.reason, "outcome": referral.outcome, "created_at": referral.created_at,
        "deadline_at": referral.deadline_at, "accepted_at": referral.accepted_at, "closed_at": referral.closed_at,
    }  # fmt: skip


@router.post("/cases", status_code=201, summary="Open a case at the staff member's organisation (calls open theirs when answered)")
async def open_case(body: CaseIn, staff: CurrentStaff, request: Request) -> dict:
    org = _case_worker(staff)
    runtime, now = _runtime(request), _now(request)
    tiers = [s.tier for s in runtime.snapshot.services.values() if s.organization_id == org] if runtime.snapshot else []
    if not tiers:
        raise Invalid(f"organisation {org} has no service in the directory, so its tier is unknown")
    prefecture = body.lgcode[:2] if body.lgcode and body.lgcode != "000000" else None
    case = Case(channel=body.channel, topic=body.topic, topics=[body.topic], lgcode=body.lgcode, prefecture=prefecture,
                holder_org=org, holder_tier=min(tiers, key=["national", "prefecture", "municipal"].index), opened_at=now, updated_at=now)  # fmt: skip
    async with db.transaction(runtime.sessions) as session:
        session.add(case)
        await session.flush()
        await audit_case(session, staff, "case.open", case.id, {"channel": case.channel}, now)
    return await _view(request, staff, case.id, audited=False)


@router.get("/cases", summary="Cases held by, or referred to, the staff member's organisation")
async def list_cases(staff: CurrentStaff, request: Request) -> list[dict]:
    org = _case_worker(staff)
    runtime = _runtime(request)
    async with db.transaction(runtime.sessions) as session:
        cases = (await session.execute(CASE_LIST, {"org": org})).all()
        await audit_case(session, staff, "case.list", org, {"count": len(cases)}, _now(request))
    return [{"id": c.id, "topic": c.topic, "risk_level": c.risk_level, "held_here": c.holder_org == org, "updated_at": c.updated_at} for c in cases]


def case_list_query(limit: int = LIST_LIMIT) -> Select:
    """The newest `limit` cases the organisation bound as `org` holds or was referred, newest first; only what the list shows.

    Written as two halves that each read at most `limit` rows in index order, then merged: one
    `holder_org = org OR id IN (referred)` query would read and sort every case the organisation
    ever held, a cost that grows all year at the national window.
    """
    org = bindparam("org", type_=String)
    columns = (Case.id, Case.topic, Case.risk_level, Case.holder_org, Case.updated_at)
    newest = Case.updated_at.desc()
    held = select(*columns).where(Case.holder_org == org).order_by(newest).limit(limit).subquery()
    referred_ids = select(Referral.case_id).where(Referral.to_org == org, Referral.status.in_(sorted(LIVE_FOR_RECEIVER)))
    referred = select(*columns).where(Case.id.in_(referred_ids), Case.holder_org != org).order_by(newest).limit(limit).subquery()
    both = union_all(select(held), select(referred)).subquery()
    return select(both).order_by(both.c.updated_at.desc(), both.c.id).limit(limit)


CASE_LIST = case_list_query()  # built once: building it costs more than running it


@router.get("/cases/{case_id}", summary="One case as the staff member's organisation may see it")
async def get_case(case_id: str, staff: CurrentStaff, request: Request) -> dict:
    return await _view(request, staff, case_id, audited=True)


async def _view(request: Request, staff: Staff, case_id: str, *, audited: bool) -> dict:
    runtime = _runtime(request)
    org = _case_worker(staff)
    async with db.transaction(runtime.sessions) as session:
        case, referrals = await case_for(session, staff, case_id, Action.READ_CASE)
        notes = (await session.execute(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.at))).scalars().all()
        earlier = 0
        if case.caller_pseudonym:  # a repeat caller is recognised by the pseudonym, within its key's life; never by the number
            same = (CallRecord.caller_pseudonym == case.caller_pseudonym) & (CallRecord.call_ref != (case.call_ref or ""))
            earlier = (await session.execute(select(func.count()).select_from(CallRecord).where(same))).scalar_one()
        if audited:
            await audit_case(session, staff, "case.read", case_id, at=_now(request))
    keys = runtime.keys
    shared = shared_with(org, case, referrals)
    readable = visible_notes(org, case, notes, referrals)
    return {
        "id": case.id, "channel": case.channel, "topic": case.topic, "topics": case.topics, "lgcode": case.lgcode,
        "prefecture": case.prefecture, "holder_org": case.holder_org, "holder_tier": case.holder_tier,
        "age_band": case.age_band, "risk_level": case.risk_level, "opened_at": case.opened_at, "updated_at": case.updated_at,
        "consent": case.consent_at is not None,
        "may_refer": may_pass_on(org, case, referrals),
        "call_live": bool(await runtime.redis.exists(live_call_key(case.id))),  # its call is on the line now: it can be transferred
        "earlier_calls": earlier,
        "contact": try_unseal(case.contact_sealed, keys=keys) if shared and case.contact_sealed else None,
        "notes": [{"id": n.id, "org": n.org_id, "at": n.at, "text": try_unseal(n.body_sealed, keys=keys) if n.body_sealed else None}
                  for n in readable],
        "referrals": [_referral_out(r) for r in referrals if org in (case.holder_org, r.from_org, r.to_org) or shared],
    }  # fmt: skip


@router.patch("/cases/{case_id}", summary="The counsellor's intake: topics, age band, risk level")
async def update_case(case_id: str, body: IntakeIn, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        case, _ = await case_for(session, staff, case_id, Action.UPDATE_CASE)
        changed = body.model_dump(exclude_none=True)
        for field, value in changed.items():
            setattr(case, field, value)
        case.updated_at = now
        await audit_case(session, staff, "case.update", case_id, {"fields": sorted(changed)}, now)
    return await _view(request, staff, case_id, audited=False)


@router.post("/cases/{case_id}/notes", status_code=201, summary="Add a note (sealed; it stays with its organisation unless shared)")
async def add_note(case_id: str, body: NoteIn, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        case, _ = await case_for(session, staff, case_id, Action.UPDATE_CASE)
        note = CaseNote(case_id=case_id, org_id=_case_worker(staff), author=staff.id, at=now,
                        body_sealed=seal(body.text, keys=runtime.keys))  # fmt: skip
        session.add(note)
        case.updated_at = now
        await audit_case(session, staff, "case.note", case_id, {"note": note.id}, now)
    return {"id": note.id, "at": now}


@router.post("/cases/{case_id}/consent", summary="Record the person's consent to pass their contact details and notes on")
async def record_consent(case_id: str, body: ConsentIn, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        case, _ = await case_for(session, staff, case_id, Action.UPDATE_CASE)
        case.contact_sealed = seal(body.contact, keys=runtime.keys)
        case.consent_at, case.consent_by, case.updated_at = now, staff.id, now
        await audit_case(session, staff, "case.consent", case_id, {}, now)
    return {"consent": True, "at": now}


@router.get("/cases/{case_id}/suggestions", summary="Where the case could go next: the next tier first, open now or soonest")
async def suggestions(case_id: str, staff: CurrentStaff, request: Request) -> list[dict]:
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        case, referrals = await case_for(session, staff, case_id, Action.REFER)
        await audit_case(session, staff, "case.suggestions", case_id, {}, now)
    return [vars(s) for s in _suggestions(runtime, staff, case, referrals, now)]


def _suggestions(runtime: Runtime, staff: Staff, case: Case, referrals: list[Referral], now: datetime):  # type: ignore[no-untyped-def]
    assert runtime.snapshot is not None
    from_tier = _tier_of(staff.organization_id or "", case, referrals)
    municipality = case.lgcode[:5] if case.lgcode and case.lgcode != "000000" and case.prefecture else None
    # Not back to the organisations that have the case or said no; one that let a referral expire may be asked again.
    chain = {case.holder_org, *(r.to_org for r in referrals if r.status != "expired")}
    return suggest(runtime.snapshot, topic=case.topic or "general", municipality=municipality, prefecture=case.prefecture,
                   from_tier=from_tier, exclude_orgs=chain, now=now)  # fmt: skip


def _tier_of(org: str, case: Case, referrals: list[Referral]) -> str:
    if org == case.holder_org:
        return case.holder_tier
    return next((r.to_tier for r in reversed(referrals) if r.to_org == org), case.holder_tier)


@router.post("/cases/{case_id}/referrals", status_code=201, summary="Refer the case to a window of the next tier for follow-up")
async def refer(case_id: str, body: ReferralIn, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    snapshot = runtime.snapshot
    assert snapshot is not None
    target = _target(runtime, body.to_service)
    deadline = referral_deadline(snapshot, target.id, now, runtime.settings.referral_accept_hours)
    if deadline is None:
        raise Invalid(f"{target.name} does not open again: choose another window")
    async with db.transaction(runtime.sessions) as session:
        case, referrals = await case_for(session, staff, case_id, Action.REFER)
        referral = await _new_referral(session, runtime, staff, case, referrals, body, target=target, kind="refer", deadline=deadline)
    return _referral_out(referral)


@router.post("/cases/{case_id}/transfer", status_code=202, summary="Transfer the live call to a window of the next tier (Twilio REST)")
async def transfer(case_id: str, body: ReferralIn, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    if not runtime.settings.twilio_account_sid:
        raise Conflict("live transfers need Twilio's REST API: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    target = _target(runtime, body.to_service)
    assert runtime.snapshot is not None
    if not is_open_at(target.hours, now, runtime.snapshot.holidays) or not target.phones:
        raise Conflict(f"{target.name} is not open now: refer the case for follow-up instead")
    sid = await runtime.redis.get(live_call_key(case_id))
    state = await load_call(runtime.redis, sid) if sid else None
    current = state.ringing if state is not None else None
    async with db.transaction(runtime.sessions) as session:
        case, referrals = await case_for(session, staff, case_id, Action.REFER)
        here = runtime.snapshot.services.get(current.service_id) if current is not None else None
        if state is None or current is None or here is None or here.organization_id != staff.organization_id:
            raise Conflict("this case's call is not connected to your organisation now")
        capacity = target.capacity.get("voice", 0)
        lease_ms = runtime.settings.slot_lease_seconds * 1000
        if not await runtime.live.claim_slot(target.id, lease=sid, capacity=capacity, ttl_ms=lease_ms):
            raise Conflict(f"every line of {target.name} is busy: try another window, or refer the case for follow-up")
        try:
            referral = await _new_referral(session, runtime, staff, case, referrals, body, target=target, kind="transfer",
                                           deadline=now + timedelta(minutes=2))  # fmt: skip
        except BaseException:
            await runtime.live.release_slot(target.id, lease=sid)
            raise
    # Twilio is asked only after the referral has committed: a round trip to its API must not hold the
    # database's locks (the audit chain's head on PostgreSQL, the whole file on SQLite), which every
    # window answering a call needs too. The call's state says where it goes first: Twilio may fetch
    # /transfer before update() returns.
    current.outcome = "completed"  # this window spoke with the person, and hands them on
    state.attempts.append(Attempt(target.id, target.tier))
    await save_call(runtime.redis, sid, state, event={"step": "transferring", "case": case_id, "service_id": target.id})
    try:
        client = twilio_client(runtime.settings)
        await asyncio.to_thread(client.calls(sid).update, url=runtime.settings.public_url.rstrip("/") + TRANSFER_URL, method="POST")
    except Exception as error:
        await _transfer_failed(runtime, staff, sid, state, current, referral, error)
    await runtime.live.release_slot(current.service_id, lease=sid)
    return _referral_out(referral)


async def _transfer_failed(runtime: Runtime, staff: Staff, sid: str, state: CallState, current: Attempt, referral: Referral,
                           error: Exception) -> NoReturn:  # fmt: skip
    """Twilio did not take the redirect: the call stays where it is, and the transfer's referral ends as expired (audited)."""
    state.attempts.pop()
    current.outcome = "ringing"  # as before: the first window still has the person on the line, and holds its slot
    await save_call(runtime.redis, sid, state)
    await runtime.live.release_slot(referral.to_service, lease=sid)
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        row = await session.get(Referral, referral.id)
        row.status, row.answered_at = Status.EXPIRED.value, now  # type: ignore[union-attr]
        await audit_case(session, staff, "referral.transfer_failed", referral.case_id, {"referral": referral.id, "error": type(error).__name__}, now)
    log.warning("transfer_not_placed", referral=referral.id, error=type(error).__name__)
    raise UpstreamFailed("Twilio did not take the transfer, so the call is still with you: try again, or refer the case for follow-up")


def _target(runtime: Runtime, service_id: str):  # type: ignore[no-untyped-def]
    target = runtime.snapshot.services.get(service_id) if runtime.snapshot else None
    if target is None:
        raise Invalid(f"no service {service_id} in the directory")
    return target


async def _new_referral(session, runtime: Runtime, staff: Staff, case: Case, referrals: list[Referral], body: ReferralIn,  # type: ignore[no-untyped-def]
                        *, target, kind: str, deadline: datetime) -> Referral:  # fmt: skip
    """Add one hop to the chain, after checking that it may be made and what it may carry; audited."""
    now = runtime.clock.now()
    org = _case_worker(staff)
    if not may_pass_on(org, case, referrals):
        raise Conflict("accept the referral first: only a window working the case passes it on")
    if target.organization_id in {case.holder_org, *(r.to_org for r in referrals if r.status in ("proposed", "accepted", "contacted"))}:
        raise Conflict("this organisation already has the case")
    if body.share == "consent" and case.consent_at is None:
        raise Invalid("the person's consent is not recorded: record it first, or refer without sharing their details")
    if body.share == "exception" and not (body.exception_reason and body.exception_reason.strip()):
        raise Invalid("a life-safety exception needs the reason it was made")
    referral = Referral(case_id=case.id, hop=1 + sum(1 for r in referrals if r.status not in ("declined", "expired")), kind=kind,
                        from_org=org, from_tier=_tier_of(org, case, referrals), to_org=target.organization_id, to_service=target.id,
                        to_tier=target.tier, topic=case.topic, prefecture=case.prefecture, share=body.share, created_by=staff.id,
                        created_at=now, deadline_at=deadline)  # fmt: skip
    session.add(referral)
    await session.flush()
    if body.share == "exception":
        session.add(SafetyException(case_id=case.id, referral_id=referral.id, staff_id=staff.id, org_id=org, at=now,
                                    why_sealed=seal(body.exception_reason or "", keys=runtime.keys)))  # fmt: skip
        await audit_case(session, staff, "consent.exception", case.id, {"referral": referral.id}, now)
    case.updated_at = now
    await audit_case(session, staff, "referral.create", case.id, {"referral": referral.id, "kind": kind, "share": body.share, "to_tier": target.tier}, now)
    return referral


@router.get("/referrals", summary="The referral inbox (made to the organisation) or outbox (made by it), newest first")
async def list_referrals(
    staff: CurrentStaff, request: Request, box: Annotated[Literal["inbox", "outbox"], Query()] = "inbox",
    status: Annotated[list[Literal[STATUSES]] | None, Query(description="only referrals in these statuses (repeatable)")] = None,  # type: ignore[valid-type]
) -> list[dict]:  # fmt: skip
    org = _case_worker(staff)
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        rows = (await session.execute(referral_box_query(org, box, status))).all()
        await audit_case(session, staff, f"referral.{box}", org, {"count": len(rows)}, now)
    return [_referral_out(r) for r in rows]


def referral_box_query(org: str, box: Literal["inbox", "outbox"], statuses: list[str] | None = None, limit: int = LIST_LIMIT) -> Select:
    """The newest `limit` referrals made to (inbox) or by (outbox) the organisation, read in index order."""
    column = Referral.to_org if box == "inbox" else Referral.from_org
    query = select(*Referral.__table__.columns).where(column == org)  # rows, not ORM objects: a box is read, never changed here
    if statuses:
        query = query.where(Referral.status.in_(statuses))
    return query.order_by(Referral.created_at.desc()).limit(limit)


@router.post("/referrals/{referral_id}/status", summary="Answer a referral: accept, decline (with reason), contacted, closed (with outcome)")
async def answer_referral(referral_id: str, body: ReferralStep, staff: CurrentStaff, request: Request) -> dict:
    runtime, now = _runtime(request), _now(request)
    async with db.transaction(runtime.sessions) as session:
        referral = await session.get(Referral, referral_id)
        if referral is None or not decide(staff, Action.ANSWER_REFERRAL, ReferralScope(receiver=referral.to_org)):
            raise NotFound(f"no referral {referral_id} made to your organisation")
        target = Status(body.status)
        try:
            check_move(Status(referral.status), target, reason=body.reason, outcome=body.outcome)
        except HandoffError as error:
            raise Conflict(str(error)) from None
        referral.status = target.value
        if target is Status.ACCEPTED:
            referral.accepted_at = referral.answered_at = now
        elif target is Status.DECLINED:
            referral.reason, referral.answered_at = body.reason, now
        elif target is Status.CONTACTED:
            referral.contacted_at = now
        else:
            referral.outcome, referral.closed_at = body.outcome, now
        await audit_case(session, staff, f"referral.{target.value}", referral.case_id, {"referral": referral.id}, now)
    return _referral_out(referral)
