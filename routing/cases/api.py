"""The case and referral API for counsellors and supervisors: HTTP in, routing.cases.service, models out.

Cases outside a staff member's chain answer 404, exactly as a case that does not exist. Every
read and change is appended to the audit log (the service does it, in the request's transaction).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from referral_directory.errors import ERROR_RESPONSES, ErrorOut
from routing.cases import schemas, service
from routing.cases.schemas import Box, StatusName
from routing.cases.transfer import transfer_call
from routing.deps import CurrentStaff, RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["cases"], responses=ERROR_RESPONSES)


@router.post("/cases", status_code=201, summary="Open a case at the staff member's organisation (calls open theirs when answered)")
async def open_case(body: schemas.CaseIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> schemas.CaseOut:
    return await service.open_case(session, runtime, staff, body)


@router.get("/cases", summary="Cases held by, or referred to, the staff member's organisation")
async def list_cases(staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> list[schemas.CaseSummaryOut]:
    return await service.list_cases(session, runtime, staff)


@router.get("/cases/{case_id}", summary="One case as the staff member's organisation may see it")
async def get_case(case_id: str, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> schemas.CaseOut:
    return await service.read_case(session, runtime, staff, case_id)


@router.patch("/cases/{case_id}", summary="The counsellor's intake: topics, age band, risk level")
async def update_case(
    case_id: str, body: schemas.IntakeIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep
) -> schemas.CaseOut:
    return await service.update_intake(session, runtime, staff, case_id, body)


@router.post("/cases/{case_id}/notes", status_code=201, summary="Add a note (sealed; it stays with its organisation unless shared)")
async def add_note(case_id: str, body: schemas.NoteIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> schemas.NoteAdded:
    return await service.add_note(session, runtime, staff, case_id, body)


@router.post("/cases/{case_id}/consent", summary="Record the person's consent to pass their contact details and notes on")
async def record_consent(
    case_id: str, body: schemas.ConsentIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep
) -> schemas.ConsentOut:
    return await service.record_consent(session, runtime, staff, case_id, body)


@router.get("/cases/{case_id}/suggestions", summary="Where the case could go next: the next tier first, open now or soonest")
async def suggestions(case_id: str, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> list[schemas.SuggestionOut]:
    return await service.suggestions(session, runtime, staff, case_id)


@router.post("/cases/{case_id}/referrals", status_code=201, summary="Refer the case to a window of the next tier for follow-up")
async def refer(
    case_id: str, body: schemas.ReferralIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep
) -> schemas.ReferralOut:
    return await service.refer(session, runtime, staff, case_id, body)


@router.post(
    "/cases/{case_id}/transfer",
    status_code=202,
    responses={502: {"model": ErrorOut, "description": "Twilio did not take the transfer: the call is still with you"}},
    summary="Transfer the live call to a window of the next tier (Twilio REST)",
)
async def transfer(case_id: str, body: schemas.ReferralIn, staff: CurrentStaff, runtime: RuntimeDep) -> schemas.ReferralOut:
    return await transfer_call(runtime, staff, case_id, body)


@router.get("/referrals", summary="The referral inbox (made to the organisation) or outbox (made by it), newest first")
async def list_referrals(
    staff: CurrentStaff,
    runtime: RuntimeDep,
    session: SessionDep,
    box: Annotated[Box, Query()] = "inbox",
    status: Annotated[list[StatusName] | None, Query(description="only referrals in these statuses (repeatable)")] = None,
) -> list[schemas.ReferralOut]:
    return await service.referral_box(session, runtime, staff, box, status)


@router.post(
    "/referrals/{referral_id}/status", summary="Answer a referral: accept, decline (with reason), contacted, or closed (with outcome)"
)
async def answer_referral(
    referral_id: str, body: schemas.ReferralStep, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep
) -> schemas.ReferralOut:
    return await service.answer_referral(session, runtime, staff, referral_id, body)
