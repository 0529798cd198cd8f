"""Who is signed in to a request by the session cookie, and the CSRF rule for cookie-authenticated changes."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from fastapi import Request

from referral_directory.errors import Forbidden
from referral_directory.staff.accounts import Staff, password_hasher, staff_by_id
from routing.deps import runtime_of
from routing.runtime import Runtime
from routing.settings import Settings
from routing.web.sessions import CSRF_FIELD, CSRF_HEADER, UNSAFE_METHODS, WebSession, cookie_name, csrf_matches, end_session, load_session

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def hasher_for(settings: Settings) -> PasswordHasher:
    """Return the password hasher the settings ask for."""
    return password_hasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: WebSession
    staff: Staff


async def signed_in(request: Request, runtime: Runtime) -> SignedIn | None:
    """Return the live session and active staff member behind the request's cookie, or None."""
    session_id = request.cookies.get(cookie_name(runtime.settings))
    if not session_id:
        return None
    session = await load_session(runtime.redis, runtime.settings, session_id)
    if session is None:
        return None
    async with runtime.sessions() as db_session:
        staff = await staff_by_id(db_session, session.staff_id)
    if staff is None:  # disabled or removed since signing in
        await end_session(runtime.redis, session)
        return None
    return SignedIn(session, staff)


async def submitted_csrf(request: Request) -> str | None:
    """Return the CSRF token a request carries: the X-CSRF-Token header, or a form's csrf_token field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)  # Starlette caches the parsed form for the endpoint
        return value if isinstance(value, str) else None
    return None


async def session_staff(request: Request) -> Staff | None:
    """Return the staff member signed in by cookie (CurrentStaff's second way in); 403 for an unsafe request without its CSRF token."""
    found = await signed_in(request, runtime_of(request))
    if found is None:
        return None
    if request.method in UNSAFE_METHODS and not csrf_matches(found.session, await submitted_csrf(request)):
        raise Forbidden(
            "this change came with a signed-in session but without its CSRF token: send the dashboard's token "
            "as the X-CSRF-Token header (or the csrf_token form field)"
        )
    return found.staff
