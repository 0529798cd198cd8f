"""For auditors: the life-safety exception report and the audit log's own check. Every read is itself audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from referral_directory.staff import audit
from referral_directory.storage import db
from referral_directory.staff.deps import CurrentStaff
from referral_directory.errors import Forbidden
from referral_directory.staff.access import Action, decide
from routing.cases.models import SafetyException
from routing.privacy.confidentiality import try_unseal
from routing.runtime import Runtime

router = APIRouter(prefix="/api/audit", tags=["audit"])


def _auditor(staff, action: Action = Action.READ_AUDIT) -> None:  # type: ignore[no-untyped-def]
    decision = decide(staff, action)
    if not decision:
        raise Forbidden(decision.reason)


@router.get("/exceptions", summary="Every life-safety exception: who, when, for which case and hop, and why")
async def exceptions(staff: CurrentStaff, request: Request) -> list[dict]:
    _auditor(staff)
    runtime: Runtime = request.app.state.runtime
    async with db.transaction(runtime.sessions) as session:
        rows = (await session.execute(select(SafetyException).order_by(SafetyException.at.desc()).limit(500))).scalars().all()
        await audit.append(session, actor=staff.id, action="audit.exceptions.read", resource_kind="report", resource_id="exceptions",
                           detail={"count": len(rows)}, at=runtime.clock.now())  # fmt: skip
    keys = runtime.keys
    return [
        {"case_id": r.case_id, "referral_id": r.referral_id, "staff_id": r.staff_id, "org_id": r.org_id, "at": r.at,
         "why": try_unseal(r.why_sealed, keys=keys) if r.why_sealed else None}
        for r in rows
    ]  # fmt: skip


@router.get("/verify", summary="Check the hash chain of the audit log (as `tsunagu audit verify` does)")
async def verify(staff: CurrentStaff, request: Request) -> dict:
    _auditor(staff)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        result = await audit.verify(session, keys=[audit.key_from_secret(runtime.settings.secret_key)])
    broken = result.broken
    return {
        "intact": broken is None, "events": result.events, "last_seq": result.last_seq,
        "broken": None if broken is None else {"seq": broken.seq, "action": broken.action, "kind": broken.kind, "message": broken.message},
    }  # fmt: skip
