"""Staff accounts and API tokens, and the scope rule for directory changes.

Tokens are random (256 bits), shown once, and stored only as their SHA-256: with that much
entropy a slow password hash adds nothing, and a lookup by hash stays one indexed query.

Passwords (for signing in to the web pages) are the opposite case: people choose them, so they
are stored only as argon2id hashes, verified off the event loop, and re-hashed at sign-in when
the hasher's parameters have changed. They are NFKC-normalised first, so a password typed with
a Japanese input method in full-width mode (ｐａｓｓ) is the same as its half-width form.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.models import Organization, StaffUser
from referral_directory.records import NATION, ServiceRecord
from referral_directory.regions import Area, Regions

TOKEN_PREFIX = "tsu_"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; the cap keeps a hostile form from costing time


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class StaffError(ValueError):
    """A staff account request that cannot be honoured; the message says why."""


@dataclass(frozen=True, slots=True)
class Staff:
    id: str
    name: str
    role: Role
    organization_id: str | None
    regions: tuple[str, ...]
    chat_cap: int | None = None  # their own cap on chats held at once (None: the service's default)


def hash_token(token: str) -> str:
    """Return the stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(
    session: AsyncSession, regions: Regions, *, name: str, role: str, organization_id: str | None, region_codes: Iterable[str]
) -> tuple[Staff, str]:
    """Create a staff account; returns it with its API token (shown once, stored hashed)."""
    try:
        role = Role(role)
    except ValueError:
        raise StaffError(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}") from None
    codes = tuple(dict.fromkeys(region_codes))
    for code in codes:
        if code != NATION:
            try:
                regions.area(code)
            except ValueError as error:
                raise StaffError(str(error)) from None
    if role is Role.COORDINATOR and not codes:
        raise StaffError("a coordinator needs at least one --region (an lgcode such as 130001, or 000000 for the whole country)")
    if role in (Role.COUNSELLOR, Role.SUPERVISOR) and not organization_id:
        raise StaffError(f"a {role.value} belongs to one organisation: give --org ORGANISATION_ID")
    if organization_id and await session.get(Organization, organization_id) is None:
        raise StaffError(f"organisation {organization_id} is not in the directory")
    if (await session.execute(select(StaffUser).where(col(StaffUser.name) == name))).first():
        raise StaffError(f"a staff account named {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffUser(
        id=str(uuid.uuid4()),
        name=name,
        role=role.value,
        organization_id=organization_id,
        regions=" ".join(codes),
        token_hash=hash_token(token),
    )
    session.add(row)
    await session.flush()
    return _staff(row), token


async def disable_user(session: AsyncSession, *, name: str) -> tuple[Staff, bool]:
    """Disable a staff account: its API token and password are refused from now on; returns it and whether it was active."""
    row = await _named(session, name)
    was_active = not row.disabled
    row.disabled = True
    await session.flush()
    return _staff(row), was_active


async def enable_user(session: AsyncSession, *, name: str) -> tuple[Staff, str]:
    """Give a disabled account its access back with a new API token (the old one stays refused); returns it and the token."""
    row = await _named(session, name)
    if not row.disabled:
        raise StaffError(f"{name!r} is not disabled; nothing was changed")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row.disabled, row.token_hash = False, hash_token(token)
    await session.flush()
    return _staff(row), token


CHAT_CAP_MAX = 10  # more chats at once than anyone can follow with care


async def set_chat_cap(session: AsyncSession, *, name: str, cap: int | None) -> Staff:
    """Set how many chats a counsellor or supervisor holds at once (None: back to the service's default)."""
    if cap is not None and not 1 <= cap <= CHAT_CAP_MAX:
        raise StaffError(f"a chat cap is 1 to {CHAT_CAP_MAX} chats at once")
    row = await _named(session, name)
    if Role(row.role) not in (Role.COUNSELLOR, Role.SUPERVISOR):
        raise StaffError(f"a {row.role} does not answer chats")
    row.chat_cap = cap
    await session.flush()
    return _staff(row)


async def _named(session: AsyncSession, name: str) -> StaffUser:
    row = (await session.execute(select(StaffUser).where(col(StaffUser.name) == name))).scalar_one_or_none()
    if row is None:
        raise StaffError(f"there is no staff account named {name!r}")
    return row


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    """Return the active staff account an API token belongs to, or None."""
    row = (await session.execute(select(StaffUser).where(col(StaffUser.token_hash) == hash_token(token)))).scalar_one_or_none()
    return _staff(row) if row and not row.disabled else None


async def staff_by_id(session: AsyncSession, staff_id: str) -> Staff | None:
    """Return an active staff account by id, or None (unknown or disabled)."""
    row = await session.get(StaffUser, staff_id)
    return _staff(row) if row and not row.disabled else None


@functools.cache
def password_hasher(*, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> PasswordHasher:
    """Return the argon2id hasher for these parameters (the defaults are RFC 9106's low-memory profile)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the name is unknown, so that answer costs what a wrong password costs.
    return hasher.hash(secrets.token_urlsafe(16))


def _normalized(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password_rules(password: str) -> None:
    """Raise StaffError when a new password is too short or too long."""
    length = len(_normalized(password))
    if not password.strip() or length < MIN_PASSWORD_LENGTH:
        raise StaffError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters (a few words make a good one)")
    if length > MAX_PASSWORD_LENGTH:
        raise StaffError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


async def set_password(session: AsyncSession, hasher: PasswordHasher, *, name: str, password: str) -> Staff:
    """Set a staff account's password (stored only as an argon2id hash); returns the account."""
    check_password_rules(password)
    row = await _named(session, name)
    row.password_hash = await asyncio.to_thread(hasher.hash, _normalized(password))
    await session.flush()
    return _staff(row)


async def staff_for_password(session: AsyncSession, hasher: PasswordHasher, *, name: str, password: str) -> Staff | None:
    """Return the active account a name and password sign in to, or None; an unknown name costs the same work."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    row = (await session.execute(select(StaffUser).where(col(StaffUser.name) == name))).scalar_one_or_none()
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash(hasher)
    if not await asyncio.to_thread(_verify, hasher, stored, _normalized(password)):
        return None
    if row is None or row.password_hash is None or row.disabled:
        return None
    if hasher.check_needs_rehash(stored):
        row.password_hash = await asyncio.to_thread(hasher.hash, _normalized(password))
        await session.flush()
    return _staff(row)


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _staff(row: StaffUser) -> Staff:
    return Staff(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        organization_id=row.organization_id,
        regions=tuple(code for code in row.regions.split() if code),
        chat_cap=row.chat_cap,
    )


def area_within(area_code: str, scope_code: str, regions: Regions) -> bool:
    """Return whether a service area lies inside a coordinator's region."""
    if scope_code == NATION:
        return True
    if area_code == NATION:
        return False
    area, scope = regions.area(area_code), regions.area(scope_code)
    if scope.kind == "prefecture":
        return area.prefecture == scope.prefecture
    return bool(_covered(area)) and set(_covered(area)) <= set(_covered(scope))


def lgcodes_within(regions: Regions, region: str) -> list[str]:
    """Return the lgcodes of every prefecture, designated city and municipality inside a region (NATION: none but itself)."""
    if region == NATION:
        return [NATION]
    regions.area(region)  # RegionError for a code that names no region
    candidates = [p.lgcode for p in regions.prefectures.values()]
    candidates += [m.lgcode for m in regions.municipalities.values()]
    candidates += [c.lgcode for c in regions.designated_cities.values()]
    return [code for code in candidates if area_within(code, region, regions)]


def _covered(area: Area) -> tuple[str, ...]:
    return area.municipalities or (area.code,)


def may_change_service(staff: Staff, service: ServiceRecord, regions: Regions) -> bool:
    """Return whether a staff member may change a service: admins always, coordinators when all its areas are theirs."""
    if staff.role is Role.ADMIN:
        return True
    if staff.role is not Role.COORDINATOR:
        return False
    return all(any(area_within(a, scope, regions) for scope in staff.regions) for a in service.areas)


def describe_scope(staff: Staff, regions: Regions) -> str:
    """Return a staff member's regions by name, for error messages."""
    return "、".join(regions.name_of(c if c == NATION else regions.area(c).code) for c in staff.regions) or "なし"
