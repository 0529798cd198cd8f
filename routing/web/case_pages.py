"""The counsellor's case pages: one case (intake, notes, consent, the chain, the referral form) and answering referrals.

Server-rendered Japanese, no JavaScript. Every change is a form post carrying the session's CSRF
token; it calls the case service (the same access checks, the same audit log as the JSON API) in
the request's transaction, then redirects (303) back with a one-time message, or undoes the change
and shows the page again with a kind message and what was typed. A case outside the staff
member's chain is a plain 404 page, as for no case at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from referral_directory.errors import Invalid, NotFound, TsunaguError
from routing.cases import service
from routing.cases.handoff import Status
from routing.cases.schemas import ConsentIn, IntakeIn, NoteIn, ReferralIn, ReferralStep
from routing.cases.transfer import transfer_call
from routing.deps import RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.web import case_views
from routing.web.auth import SignedIn, signed_in
from routing.web.flash import set_flash, take_flash
from routing.web.pages import checked_form, page, render_dashboard, see_other, to_login, who

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
WORKERS_ONLY = "相談のページは、相談員とスーパーバイザーの方のためのものです。ダッシュボードからお進みください。"


@dataclass(frozen=True)
class Visit:
    """One request to a case page: who is signed in, the running service and the request's transaction."""

    request: Request
    runtime: Runtime
    session: AsyncSession
    signed: SignedIn

    def who(self) -> dict:
        return who(self.runtime, self.signed)


def _missing(visit: Visit) -> HTMLResponse:
    return page(visit.request, "case_missing.html", visit.who(), status_code=404)


async def _case_response(
    visit: Visit, case_id: str, *, flash: str | None = None, error: str | None = None, typed: dict | None = None, status_code: int = 200
) -> HTMLResponse:
    if not case_views.works_cases(visit.signed.staff):
        return page(visit.request, "refused.html", {"message": WORKERS_ONLY}, status_code=403)
    try:
        view = await case_views.case_page(visit.session, visit.runtime, visit.signed.staff, case_id)
    except NotFound:
        return _missing(visit)
    context = visit.who() | view | {"flash": flash, "error": error, "typed": typed or {}}
    return page(visit.request, "case.html", context, status_code)


async def _for_change(request: Request, runtime: Runtime, session: AsyncSession) -> tuple[Visit, FormData] | Response:
    """Return the visit and its form when the form carries the signed-in session's CSRF token; else the answer to send instead."""
    checked = await checked_form(request, runtime)
    if not isinstance(checked, tuple):
        return checked
    found, form = checked
    return Visit(request, runtime, session, found), form


Typed = Callable[[FormData], dict]
Act = Callable[[Visit, dict], Awaitable[Any]]


async def _form_change(
    request: Request, runtime: Runtime, session: AsyncSession, case_id: str, done: str, typed_of: Typed, act: Act
) -> Response:
    """Run one form's change through the case service; redirect back with a message, or undo it and show the case again
    with what was typed and what went wrong (the service's error, or the form's own, in Japanese)."""
    checked = await _for_change(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, form = checked
    typed = typed_of(form)
    try:
        await act(visit, typed)
    except (TsunaguError, ValidationError) as error:
        await session.rollback()  # nothing of a refused change is kept; the page below is read afresh
        return await _case_response(
            visit, case_id, error=case_views.japanese_message(error), typed=typed, status_code=case_views.status_code_of(error)
        )
    await set_flash(runtime.redis, visit.signed.session, done)
    return see_other(f"/cases/{case_id}")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/cases/{case_id}")
async def case_page(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """The case in front of the counsellor, as their organisation may see it."""
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    visit = Visit(request, runtime, session, found)
    return await _case_response(visit, case_id, flash=await take_flash(runtime.redis, found.session))


def _intake_typed(form: FormData) -> dict:
    return {
        "topics": [t for t in form.getlist("topics") if isinstance(t, str)],
        "age_band": _text(form, "age_band") or None,
        "risk_level": _text(form, "risk_level") or None,
    }


@router.post("/cases/{case_id}/intake")
async def save_intake(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Save the intake: topics, age band, risk level."""

    async def act(visit: Visit, typed: dict) -> None:
        await service.update_intake(session, runtime, visit.signed.staff, case_id, IntakeIn(**typed))

    return await _form_change(request, runtime, session, case_id, "intake", _intake_typed, act)


@router.post("/cases/{case_id}/notes")
async def add_note(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Add a note (it stays with the organisation unless the case is passed on with consent)."""

    async def act(visit: Visit, typed: dict) -> None:
        await service.add_note(session, runtime, visit.signed.staff, case_id, NoteIn(text=typed["note"]))

    return await _form_change(request, runtime, session, case_id, "note", lambda form: {"note": _text(form, "text")}, act)


@router.post("/cases/{case_id}/consent")
async def record_consent(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Record the person's consent, with the phone number they agreed to be contacted at (the box must be ticked)."""

    async def act(visit: Visit, typed: dict) -> None:
        if not typed["agreed"]:
            raise Invalid(case_views.CONSENT_NOT_TICKED)
        await service.record_consent(session, runtime, visit.signed.staff, case_id, ConsentIn(contact=typed["contact"]))

    def typed_of(form: FormData) -> dict:
        return {"contact": _text(form, "contact"), "agreed": form.get("agreed") == "yes"}

    return await _form_change(request, runtime, session, case_id, "consent", typed_of, act)


@router.post("/cases/{case_id}/referrals")
async def refer(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Refer the case to a window for follow-up, sharing nothing, or with consent, or under a life-safety exception."""

    async def act(visit: Visit, typed: dict) -> None:
        await service.refer(session, runtime, visit.signed.staff, case_id, _referral_in(typed))

    return await _form_change(request, runtime, session, case_id, "referred", _referral_typed, act)


@router.post("/cases/{case_id}/transfer")
async def transfer(case_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Transfer the call on the line now to the chosen window (the same form as a referral, its other button)."""

    async def act(visit: Visit, typed: dict) -> None:
        await transfer_call(runtime, visit.signed.staff, case_id, _referral_in(typed))

    return await _form_change(request, runtime, session, case_id, "transferred", _referral_typed, act)


def _referral_typed(form: FormData) -> dict:
    return {
        "to_service": _text(form, "to_service"),
        "share": _text(form, "share") or "none",
        "exception_reason": _text(form, "exception_reason"),
    }


def _referral_in(typed: dict) -> ReferralIn:
    return ReferralIn(to_service=typed["to_service"], share=typed["share"], exception_reason=typed["exception_reason"] or None)


@router.post("/referrals/{referral_id}/status")
async def answer_referral(referral_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Accept, decline (with a reason), mark contacted or close (with an outcome) a referral made to the organisation."""
    checked = await _for_change(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, form = checked
    status, back, case_id = _text(form, "status"), _text(form, "back"), _text(form, "case_id")
    typed = {"referral": referral_id, "reason": _text(form, "reason"), "outcome": _text(form, "outcome")}
    try:
        step = ReferralStep(status=status, reason=typed["reason"] or None, outcome=typed["outcome"] or None)  # type: ignore[arg-type]  # checked by the model
        answered = await service.answer_referral(session, runtime, visit.signed.staff, referral_id, step)
    except NotFound:
        return _missing(visit)
    except (TsunaguError, ValidationError) as error:
        await session.rollback()
        message, code = case_views.japanese_message(error), case_views.status_code_of(error)
        if back == "case" and case_id:
            return await _case_response(visit, case_id, error=message, typed=typed, status_code=code)
        return await render_dashboard(request, runtime, session, visit.signed, error=message, typed=typed, status_code=code)
    await set_flash(runtime.redis, visit.signed.session, step.status)
    if back == "case" and step.status != Status.DECLINED:  # a declined case is no longer theirs to open
        return see_other(f"/cases/{answered.case_id}")
    return see_other("/dashboard")
