"""For auditors: the life-safety exception report and the audit log's own check. Every read is itself audited."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import col

from referral_directory.errors import ERROR_RESPONSES, Forbidden
from referral_directory.staff import audit
from referral_directory.staff.access import Action, decide
from referral_directory.staff.accounts import Staff
from routing.cases.models import SafetyException
from routing.deps import CurrentStaff, RuntimeDep, SessionDep
from routing.privacy.confidentiality import try_unseal

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=ERROR_RESPONSES)


class ExceptionOut(BaseModel):
    case_id: str
    referral_id: str | None
    staff_id: str
    org_id: str
    at: datetime
    why: str | None = Field(description="null once purged after its retention period")


class BrokenOut(BaseModel):
    seq: int
    action: str | None = Field(description="the broken event's action, when its row could be read")
    kind: str
    message: str


class VerifyOut(BaseModel):
    intact: bool
    events: int
    last_seq: int | None
    broken: BrokenOut | None = Field(description="the first event where the chain does not hold, if any")


def _auditor(staff: Staff) -> None:
    decision = decide(staff, Action.READ_AUDIT)
    if not decision:
        raise Forbidden(decision.reason)


@router.get("/exceptions", summary="Every life-safety exception: who, when, for which case and hop, and why")
async def exceptions(staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> list[ExceptionOut]:
    _auditor(staff)
    rows = (await session.execute(select(SafetyException).order_by(col(SafetyException.at).desc()).limit(500))).scalars().all()
    await audit.append(
        session,
        actor=staff.id,
        action="audit.exceptions.read",
        resource_kind="report",
        resource_id="exceptions",
        detail={"count": len(rows)},
        at=runtime.clock.now(),
    )
    keys = runtime.keys
    return [
        ExceptionOut(
            case_id=r.case_id,
            referral_id=r.referral_id,
            staff_id=r.staff_id,
            org_id=r.org_id,
            at=r.at,
            why=try_unseal(r.why_sealed, keys=keys) if r.why_sealed else None,
        )
        for r in rows
    ]


@router.get("/verify", summary="Check the hash chain of the audit log (as `tsunagu audit verify` does)")
async def verify(staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> VerifyOut:
    _auditor(staff)
    result = await audit.verify(session, keys=[audit.key_from_secret(runtime.settings.secret_key.get_secret_value())])
    broken = result.broken
    return VerifyOut(
        intact=broken is None,
        events=result.events,
        last_seq=result.last_seq,
        broken=None if broken is None else BrokenOut(seq=broken.seq, action=broken.action, kind=broken.kind, message=broken.message),
    )
