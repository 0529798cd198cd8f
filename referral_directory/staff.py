"""Staff accounts and API tokens, and the scope rule for directory changes.

Tokens are random (256 bits), shown once, and stored only as their SHA-256: with that much
entropy a slow password hash adds nothing, and a lookup by hash stays one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.models import Organization, StaffUser
from referral_directory.records import NATION, ServiceRecord
from referral_directory.regions import Area, Regions

TOKEN_PREFIX = "tsu_"


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
    if (await session.execute(select(StaffUser).where(StaffUser.name == name))).first():
        raise StaffError(f"a staff account named {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffUser(
        id=str(uuid.uuid4()), name=name, role=role.value, organization_id=organization_id,
        regions=" ".join(codes), token_hash=hash_token(token),
    )
    session.add(row)
    await session.flush()
    return _staff(row), token


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    """Return the active staff account an API token belongs to, or None."""
    row = (await session.execute(select(StaffUser).where(StaffUser.token_hash == hash_token(token)))).scalar_one_or_none()
    return _staff(row) if row and not row.disabled else None


def _staff(row: StaffUser) -> Staff:
    return Staff(
        id=row.id, name=row.name, role=Role(row.role), organization_id=row.organization_id,
        regions=tuple(code for code in row.regions.split() if code),
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
