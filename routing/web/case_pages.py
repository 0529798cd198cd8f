"""The counsellor's case pages: one case (intake, notes, consent, the chain, the referral form) and answering referrals.

Server-rendered Japanese, no JavaScript. Every change is a form post carrying the session's CSRF
token; it calls the case API's own function (the same access checks, the same audit log), then
redirects (303) back with a one-time message, or shows the page again with a kind message and
what was typed. A case outside the staff member's chain is a plain 404 page, as for no case at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from referral_directory.errors import NotFound, TsunaguError
from routing.cases import api as cases_api
from routing.cases.api import ConsentIn, IntakeIn, NoteIn, ReferralIn, ReferralStep
from routing.cases.handoff import Status
from routing.web import case_views
from routing.web.auth import SignedIn, signed_in
from routing.web.flash import set_flash, take_flash
from routing.web.pages import NOT_CONFIRMED, ROLE_LABELS, SECURITY_HEADERS, _page, render_dashboard
from routing.web.sessions import CSRF_FIELD, cookie_name, csrf_matches

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
WORKERS_ONLY = "相談のページは、相談員とスーパーバイザーの方のためのものです。ダッシュボードからお進みください。"
NO_AGREEMENT = "ご本人の同意を確かめてから、「ご本人が同意しました」にチェックを入れてください。"


def _see_other(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _to_login(request: Request) -> RedirectResponse:
    had_cookie = cookie_name(request.app.state.runtime.settings) in request.cookies
    return _see_other("/login?expired=1" if had_cookie else "/login")


def _who(request: Request, found: SignedIn) -> dict:
    staff = found.staff
    organization = case_views.Names.of(request.app.state.runtime).organizations.get(staff.organization_id or "")
    return {"staff": staff, "role": ROLE_LABELS[staff.role], "organization": organization, "csrf_field": CSRF_FIELD, "csrf": found.session.csrf}


def _missing(request: Request, found: SignedIn) -> HTMLResponse:
    return _page(request, "case_missing.html", _who(request, found), status_code=404)


async def _case_response(
    request: Request, found: SignedIn, case_id: str, *, flash: str | None = None, error: str | None = None,
    typed: dict | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    if not case_views.works_cases(found.staff):
        return _page(request, "refused.html", {"message": WORKERS_ONLY}, status_code=403)
    try:
        view = await case_views.case_page(request, found.staff, case_id)
    except NotFound:
        return _missing(request, found)
    context = _who(request, found) | view | {"flash": flash, "error": error, "typed": typed or {}}
    return _page(request, "case.html", context, status_code)


async def _for_change(request: Request, form: FormData) -> SignedIn | Response:
    """Return who is signed in when the form carries their session's CSRF token; else the answer to send instead."""
    found = await signed_in(request)
    if found is None:
        return _to_login(request)
    token = form.get(CSRF_FIELD)
    if not csrf_matches(found.session, token if isinstance(token, str) else None):
        log.warning("case_change_refused", reason="csrf token missing or wrong", staff_id=found.staff.id)
        return _page(request, "refused.html", {"message": NOT_CONFIRMED}, status_code=403)
    return found


async def _change(
    request: Request, found: SignedIn, case_id: str, typed: dict, done: str, action: Callable[[], Awaitable[Any]]
) -> Response:
    """Run one change through the case API; redirect back with a message, or show the case again with what went wrong."""
    try:
        await action()
    except (TsunaguError, ValidationError) as error:
        return await _case_response(request, found, case_id, error=case_views.japanese_message(error), typed=typed,
                                    status_code=case_views.status_code_of(error))  # fmt: skip
    await set_flash(request.app.state.runtime.redis, found.session, done)
    return _see_other(f"/cases/{case_id}")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/cases/{case_id}")
async def case_page(case_id: str, request: Request) -> Response:
    """The case in front of the counsellor, as their organisation may see it."""
    found = await signed_in(request)
    if found is None:
        return _to_login(request)
    return await _case_response(request, found, case_id, flash=await take_flash(request.app.state.runtime.redis, found.session))


@router.post("/cases/{case_id}/intake")
async def save_intake(case_id: str, request: Request) -> Response:
    """Save the intake: topics, age band, risk level."""
    form = await request.form()
    found = await _for_change(request, form)
    if not isinstance(found, SignedIn):
        return found
    typed = {"topics": [t for t in form.getlist("topics") if isinstance(t, str)], "age_band": _text(form, "age_band") or None,
             "risk_level": _text(form, "risk_level") or None}  # fmt: skip
    return await _change(request, found, case_id, typed, "intake",
                         lambda: cases_api.update_case(case_id, IntakeIn(**typed), found.staff, request))  # fmt: skip


@router.post("/cases/{case_id}/notes")
async def add_note(case_id: str, request: Request) -> Response:
    """Add a note (it stays with the organisation unless the case is passed on with consent)."""
    form = await request.form()
    found = await _for_change(request, form)
    if not isinstance(found, SignedIn):
        return found
    typed = {"note": _text(form, "text")}
    return await _change(request, found, case_id, typed, "note",
                         lambda: cases_api.add_note(case_id, NoteIn(text=typed["note"]), found.staff, request))  # fmt: skip


@router.post("/cases/{case_id}/consent")
async def record_consent(case_id: str, request: Request) -> Response:
    """Record the person's consent, with the phone number they agreed to be contacted at."""
    form = await request.form()
    found = await _for_change(request, form)
    if not isinstance(found, SignedIn):
        return found
    typed = {"contact": _text(form, "contact"), "agreed": form.get("agreed") == "yes"}
    if not typed["agreed"]:
        return await _case_response(request, found, case_id, error=NO_AGREEMENT, typed=typed, status_code=422)
    return await _change(request, found, case_id, typed, "consent",
                         lambda: cases_api.record_consent(case_id, ConsentIn(contact=typed["contact"]), found.staff, request))  # fmt: skip


@router.post("/cases/{case_id}/referrals")
async def refer(case_id: str, request: Request) -> Response:
    """Refer the case to a window for follow-up, sharing nothing, or with consent, or under a life-safety exception."""
    return await _pass_on(case_id, request, cases_api.refer, "referred")


@router.post("/cases/{case_id}/transfer")
async def transfer(case_id: str, request: Request) -> Response:
    """Transfer the call on the line now to the chosen window (the same form as a referral, its other button)."""
    return await _pass_on(case_id, request, cases_api.transfer, "transferred")


async def _pass_on(case_id: str, request: Request, how: Callable[..., Awaitable[Any]], done: str) -> Response:
    form = await request.form()
    found = await _for_change(request, form)
    if not isinstance(found, SignedIn):
        return found
    typed = {"to_service": _text(form, "to_service"), "share": _text(form, "share") or "none",
             "exception_reason": _text(form, "exception_reason")}  # fmt: skip

    def body() -> ReferralIn:
        return ReferralIn(to_service=typed["to_service"], share=typed["share"], exception_reason=typed["exception_reason"] or None)

    return await _change(request, found, case_id, typed, done, lambda: how(case_id, body(), found.staff, request))


@router.post("/referrals/{referral_id}/status")
async def answer_referral(referral_id: str, request: Request) -> Response:
    """Accept, decline (with a reason), mark contacted or close (with an outcome) a referral made to the organisation."""
    form = await request.form()
    found = await _for_change(request, form)
    if not isinstance(found, SignedIn):
        return found
    status, back, case_id = _text(form, "status"), _text(form, "back"), _text(form, "case_id")
    typed = {"referral": referral_id, "reason": _text(form, "reason"), "outcome": _text(form, "outcome")}
    try:
        step = ReferralStep(status=status, reason=typed["reason"] or None, outcome=typed["outcome"] or None)  # type: ignore[arg-type]
        answered = await cases_api.answer_referral(referral_id, step, found.staff, request)
    except NotFound:
        return _missing(request, found)
    except (TsunaguError, ValidationError) as error:
        message, code = case_views.japanese_message(error), case_views.status_code_of(error)
        if back == "case" and case_id:
            return await _case_response(request, found, case_id, error=message, typed=typed, status_code=code)
        return await render_dashboard(request, found, error=message, typed=typed, status_code=code)
    await set_flash(request.app.state.runtime.redis, found.session, step.status)
    if back == "case" and step.status != Status.DECLINED:  # a declined case is no longer theirs to open
        return _see_other(f"/cases/{answered['case_id']}")
    return _see_other("/dashboard")
