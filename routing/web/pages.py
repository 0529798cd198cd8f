"""The staff pages: sign in, sign out, and the dashboard (Japanese, server-rendered; dashboard.js keeps its lists live)."""

from __future__ import annotations

import functools
import hmac
import math
import secrets
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.types import Scope

from referral_directory.models import Organization
from referral_directory.staff.access import Action, decide
from referral_directory.staff.accounts import Role, Staff, describe_scope, staff_for_password
from routing.deps import RuntimeDep, SessionDep
from routing.request_limits import MAX_BODY_BYTES
from routing.runtime import Runtime
from routing.settings import Settings
from routing.web import boards, case_views, directory_views, throttle
from routing.web.auth import SignedIn, hasher_for, signed_in
from routing.web.flash import take_flash
from routing.web.sessions import CSRF_FIELD, cookie_name, cookies_secure, csrf_matches, end_session, load_session, start_session

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
LOGIN_TOKEN_SECONDS = 3600  # how long a sign-in form stays usable

ROLE_LABELS = {
    Role.COUNSELLOR: "相談員",
    Role.SUPERVISOR: "スーパーバイザー",
    Role.COORDINATOR: "地域コーディネーター",
    Role.AUDITOR: "監査担当",
    Role.ADMIN: "管理者",
}
WRONG_CREDENTIALS = "名前またはパスワードが違います。お確かめのうえ、もう一度入力してください。"
EMPTY_FIELDS = "名前とパスワードを入力してください。"
FORM_EXPIRED = "画面を開いてから時間がたったため、ログインできませんでした。お手数ですが、もう一度入力してください。"
SIGNED_OUT = "ログアウトしました。おつかれさまでした。"
SESSION_ENDED = "一定の時間がたったため、ログアウトしました。もう一度ログインしてください。"
NOT_CONFIRMED = "この操作を確かめられませんでした。ページを読み込み直してから、もう一度お試しください。"
TOO_LARGE_FORM = (
    f"送られた内容が大きすぎるため、受け取れませんでした（{MAX_BODY_BYTES // (1024 * 1024)}MB までです）。"
    "何も保存していません。ファイルを分けるか、小さくしてから、もう一度お試しください。"
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def locked_message(settings: Settings) -> str:
    """Return the sign-in lock message, with the lock's length in minutes."""
    minutes = max(1, math.ceil(settings.login_lockout_seconds / 60))
    return (
        f"ログインに続けて失敗したため、しばらくログインできません。{minutes}分ほどたってから、もう一度お試しください。"
        "お急ぎのときは、所属先の管理者にご相談ください。"
    )


@functools.cache
def templates() -> Jinja2Templates:
    """Return the page templates (built on first use, not at import)."""
    return Jinja2Templates(directory=TEMPLATES)


def who(runtime: Runtime, found: SignedIn) -> dict:
    """The header's context: who is signed in, and the sign-out form's token."""
    staff = found.staff
    return {
        "staff": staff,
        "role": ROLE_LABELS[staff.role],
        "organization": case_views.Names.of(runtime).organizations.get(staff.organization_id or ""),
        "csrf_field": CSRF_FIELD,
        "csrf": found.session.csrf,
    }


def page(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    response = templates().TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def too_large_page(scope: Scope) -> Response:
    """The page for a form too large to read (a file over 1MB chosen with the page's script off): nothing was read or kept."""
    back = (scope["path"], "元のページへ戻る") if scope.get("method") == "POST" else None
    context = {"heading": "受け取れませんでした", "message": TOO_LARGE_FORM, "back": back}
    return page(Request(scope), "refused.html", context, status_code=413)


def see_other(url: str) -> RedirectResponse:
    """Redirect (303) after a form post or to sign in; never cached."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


async def checked_form(request: Request, runtime: Runtime) -> tuple[SignedIn, FormData] | Response:
    """Return who is signed in and the form they sent when it carries their session's CSRF token; else the answer to
    send instead: the sign-in page, or a 403 page (nothing is changed)."""
    form = await request.form()
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    token = form.get(CSRF_FIELD)
    if not csrf_matches(found.session, token if isinstance(token, str) else None):
        log.warning("change_refused", reason="csrf token missing or wrong", staff_id=found.staff.id, path=request.url.path)
        return page(request, "refused.html", {"message": NOT_CONFIRMED}, status_code=403)
    return found, form


def to_login(request: Request, runtime: Runtime) -> RedirectResponse:
    """Send someone who is not signed in to the sign-in page, saying so when their session has ended."""
    had_cookie = cookie_name(runtime.settings) in request.cookies
    return see_other("/login?expired=1" if had_cookie else "/login")


def _login_form(
    request: Request, runtime: Runtime, *, status_code: int = 200, error: str | None = None, notice: str | None = None, name: str = ""
) -> HTMLResponse:
    """The sign-in form, with a token pinned to this browser by a SameSite=Strict cookie (no sign-in CSRF)."""
    settings = runtime.settings
    token = _pinned_login_token(request, settings) or secrets.token_urlsafe(32)  # kept, so two open sign-in tabs both work
    response = page(
        request, "login.html", {"error": error, "notice": notice, "name": name, "csrf_field": CSRF_FIELD, "csrf": token}, status_code
    )
    response.set_cookie(
        cookie_name(settings, "tsunagu_login"),
        token,
        max_age=LOGIN_TOKEN_SECONDS,
        path="/",
        secure=cookies_secure(settings),
        httponly=True,
        samesite="strict",
    )
    return response


def _pinned_login_token(request: Request, settings: Settings) -> str:
    token = request.cookies.get(cookie_name(settings, "tsunagu_login"), "")
    return token if 32 <= len(token) <= 64 else ""


@router.get("/login")
async def login_page(request: Request, runtime: RuntimeDep, signed_out: bool = False, expired: bool = False) -> Response:
    """The sign-in page (the dashboard when already signed in)."""
    if await signed_in(request, runtime) is not None:
        return see_other("/dashboard")
    return _login_form(request, runtime, notice=SIGNED_OUT if signed_out else SESSION_ENDED if expired else None)


@router.post("/login")
async def login(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check a name and password (within the rate limits) and open a new session."""
    settings, redis = runtime.settings, runtime.redis
    pinned = _pinned_login_token(request, settings)
    if not pinned or not hmac.compare_digest(pinned.encode(), csrf_token.encode()):
        log.info("sign_in_refused", reason="form token missing or wrong")
        return _login_form(request, runtime, status_code=403, error=FORM_EXPIRED)
    name = name.strip()
    if not name or not password:
        return _login_form(request, runtime, status_code=400, error=EMPTY_FIELDS, name=name)
    address = request.client.host if request.client else "unknown"
    if await throttle.is_locked(redis, settings, name=name, address=address):
        log.warning("sign_in_refused", reason="locked")
        return _locked(request, runtime, name)
    # A re-hash (when the hashing parameters changed) is committed with the request's transaction.
    staff = await staff_for_password(session, hasher_for(settings), name=name, password=password)
    if staff is None:
        locked = await throttle.record_failure(redis, settings, name=name, address=address)
        log.warning("sign_in_failed", locked=locked)  # never the name typed: it is sometimes the password
        return (
            _locked(request, runtime, name)
            if locked
            else _login_form(request, runtime, status_code=401, error=WRONG_CREDENTIALS, name=name)
        )
    await throttle.record_success(redis, name=name)
    await _end_presented_session(request, runtime)
    session_id, _ = await start_session(redis, settings, staff_id=staff.id)  # always a new id: no session fixation
    log.info("signed_in", staff_id=staff.id, role=staff.role.value)
    response = see_other("/dashboard")
    response.set_cookie(cookie_name(settings), session_id, path="/", secure=cookies_secure(settings), httponly=True, samesite="lax")
    response.delete_cookie(
        cookie_name(settings, "tsunagu_login"), path="/", secure=cookies_secure(settings), httponly=True, samesite="strict"
    )
    return response


def _locked(request: Request, runtime: Runtime, name: str) -> HTMLResponse:
    response = _login_form(request, runtime, status_code=429, error=locked_message(runtime.settings), name=name)
    response.headers["Retry-After"] = str(runtime.settings.login_lockout_seconds)
    return response


async def _end_presented_session(request: Request, runtime: Runtime) -> None:
    presented = request.cookies.get(cookie_name(runtime.settings))
    if presented and (old := await load_session(runtime.redis, runtime.settings, presented)) is not None:
        await end_session(runtime.redis, old)


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session on the server and forget the cookie (the form must carry the session's CSRF token)."""
    found = await signed_in(request, runtime)
    if found is None:
        return see_other("/login")
    if not csrf_matches(found.session, csrf_token):
        log.warning("sign_out_refused", reason="csrf token missing or wrong", staff_id=found.staff.id)
        return page(request, "refused.html", {"message": NOT_CONFIRMED}, status_code=403)
    await end_session(runtime.redis, found.session)
    log.info("signed_out", staff_id=found.staff.id)
    response = see_other("/login?signed_out=1")
    settings = runtime.settings
    response.delete_cookie(cookie_name(settings), path="/", secure=cookies_secure(settings), httponly=True, samesite="lax")
    return response


@router.get("/dashboard")
async def dashboard(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """The dashboard: who is signed in; the cases at their organisation, and its referral inbox and outbox; or, for a
    coordinator, their region's windows."""
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    return await render_dashboard(request, runtime, session, found, flash=await take_flash(runtime.redis, found.session))


async def render_dashboard(
    request: Request,
    runtime: Runtime,
    session: AsyncSession,
    found: SignedIn,
    *,
    flash: str | None = None,
    error: str | None = None,
    typed: dict | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The dashboard: who is signed in, the organisation's cases, referral inbox and outbox, the live boards, and a message
    after a change."""
    live = await boards.live_context(runtime, found.staff)  # first: its change count must not be newer than the lists
    context = await _dashboard_context(runtime, session, found) | await case_views.dashboard_sections(session, runtime, found.staff)
    return page(request, "dashboard.html", context | live | {"flash": flash, "error": error, "typed": typed or {}}, status_code)


async def _dashboard_context(runtime: Runtime, session: AsyncSession, found: SignedIn) -> dict:
    staff: Staff = found.staff
    organization = None
    if staff.organization_id:
        row = await session.get(Organization, staff.organization_id)
        organization = row.name if row else None
    regions = describe_scope(staff, runtime.regions) if staff.regions else None
    edits_directory = bool(decide(staff, Action.CHANGE_DIRECTORY))
    return {
        "directory": await directory_views.summary(session, runtime, staff) if edits_directory else None,
        "staff": staff,
        "role": ROLE_LABELS[staff.role],
        "organization": organization,
        "regions": regions,
        "csrf_field": CSRF_FIELD,
        "csrf": found.session.csrf,
    }
