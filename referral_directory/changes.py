"""Changing one service: the path the coordinator API and the coordinator's pages share.

Inside the directory's write lock: read what is stored, build the new record, validate it (every
problem at once), check the staff member's regions for the old and the new areas and for the
organisation, then store it with its change history. A caller that read the service earlier may
say which version it read (`based_on`): when someone else has changed the service since, nothing
is stored and `Stale` carries what they changed, so the caller can show it instead of undoing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory import service as directory_service
from referral_directory.deps import announce
from referral_directory.errors import Conflict, Forbidden, Invalid, NotFound
from referral_directory.models import ChangeRecord
from referral_directory.records import NATION, DirectoryRecords, ServiceRecord, normalized
from referral_directory.regions import Regions
from referral_directory.staff.access import Action, ServiceScope, decide
from referral_directory.staff.accounts import Role, Staff, describe_scope
from referral_directory.validation import validate_records

Change = Callable[[ServiceRecord], ServiceRecord]


class OutsideRegions(Forbidden):
    """The service (as stored, or as it would be) serves areas outside the staff member's regions."""


class OrganizationRefused(Forbidden):
    """The organisation runs services outside the staff member's regions, or is someone else's empty one."""


class Stale(Conflict):
    """Someone changed the service after the caller read it: `changes` says what (oldest first), `current` is how it is now."""

    def __init__(self, message: str, *, current: ServiceRecord, changes: tuple[FieldChange, ...], version: int) -> None:
        super().__init__(message)
        self.current = current
        self.changes = changes
        self.version = version


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a service changed, as the change history keeps it (JSON values): who, when, old → new."""

    at: datetime
    actor: str
    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class Stored:
    record: ServiceRecord
    changed: bool
    version: int  # the service's version after the change (see service_version)


def require_editor(staff: Staff) -> None:
    """Raise Forbidden unless the staff member changes the directory at all (coordinators and admins)."""
    decision = decide(staff, Action.CHANGE_DIRECTORY)
    if not decision:
        raise Forbidden(decision.reason)


def may_change(staff: Staff, record: ServiceRecord, regions: Regions) -> bool:
    """Return whether the staff member may change this service (the access policy, with its areas)."""
    return bool(decide(staff, Action.CHANGE_DIRECTORY, ServiceScope(record), regions=regions))


def require_scope(staff: Staff, record: ServiceRecord, regions: Regions, *, error: type[Forbidden] = OutsideRegions) -> None:
    """Raise `error` (OutsideRegions) when the service serves areas outside the staff member's regions."""
    if not may_change(staff, record, regions):
        areas = "、".join(regions.name_of(a if a == NATION else regions.area(a).code) for a in record.areas)
        raise error(
            f"「{record.name}」 serves {areas}, outside your regions ({describe_scope(staff, regions)}); "
            "ask that region's coordinator to make this change"
        )


async def require_organization_scope(
    session: AsyncSession, regions: Regions, staff: Staff, organization_id: str, *, ignoring: str | None = None
) -> None:
    """An organisation is in a coordinator's scope when every service it runs is.

    A coordinator may give an empty organisation its first service (attaching: `ignoring` is set);
    changing or deleting an organisation that runs no services is for its creator or an admin.
    """
    require_editor(staff)
    service_ids = [i for i in await directory_service.service_ids_of_organization(session, organization_id) if i != ignoring]
    for service_id in service_ids:
        record = await directory_service.load_service(session, service_id)
        if record is not None:  # listed a moment ago under the directory's lock: it is there
            require_scope(staff, record, regions, error=OrganizationRefused)
    if not service_ids and ignoring is None and staff.role is not Role.ADMIN:
        creator = await directory_service.creator_of(session, organization_id)
        if creator != staff.name:
            raise OrganizationRefused(
                f"this organisation runs no services yet, so only whoever created it ({creator or 'unknown'}) "
                "or an admin may change it or add services to it"
            )


async def service_version(session: AsyncSession, service_id: str) -> int:
    """Return a service's version: the id of its newest change record (0 when it has none)."""
    query = select(func.max(col(ChangeRecord.id))).where(col(ChangeRecord.entity_id) == service_id)
    return (await session.execute(query)).scalar_one_or_none() or 0


async def changes_since(session: AsyncSession, service_id: str, version: int) -> tuple[FieldChange, ...]:
    """Return the changes made to a service after the given version, oldest first."""
    query = select(ChangeRecord).where(col(ChangeRecord.entity_id) == service_id, col(ChangeRecord.id) > version)
    rows = (await session.execute(query.order_by(col(ChangeRecord.id)))).scalars().all()
    return tuple(FieldChange(r.at, r.actor, r.field, r.old, r.new) for r in rows)


async def store_service(
    session: AsyncSession, regions: Regions, staff: Staff, service_id: str, change: Change | ServiceRecord, *, based_on: int | None = None
) -> Stored:
    """Store a new service's record (409 when its id exists) or apply a change to an existing one (404 when there is none).

    `based_on`: the version the caller read; a service changed since then raises Stale and stores nothing.
    Every worker is told the directory's new version once the caller's transaction commits.
    """
    require_editor(staff)
    await directory_service.lock_directory(session)
    old = await directory_service.load_service(session, service_id)
    if isinstance(change, ServiceRecord):
        if old is not None:
            raise Conflict(f"service {service_id} already exists; change it with PATCH")
        new = normalized(change)
    else:
        if old is None:
            raise NotFound(f"no service {service_id} in the directory")
        if based_on is not None and (version := await service_version(session, service_id)) != based_on:
            since = await changes_since(session, service_id, based_on)
            raise Stale(f"「{old.name}」 was changed by someone else since you read it", current=old, changes=since, version=version)
        new = normalized(change(old))
    known = await directory_service.load_organization(session, new.organization_id)
    problems = validate_records(DirectoryRecords(services=(new,)), regions, known_organization_ids={known.id} if known else ())
    if problems:
        raise Invalid(f"「{new.name}」 was not saved: {len(problems)} problem(s)", problems=problems)
    for record in (old, new):
        if record is not None:
            require_scope(staff, record, regions)
    if old is None or old.organization_id != new.organization_id:
        await require_organization_scope(session, regions, staff, new.organization_id, ignoring=service_id)
    summary = await directory_service.save_records(session, DirectoryRecords(services=(new,)), actor=staff.name)
    if summary.changed:
        announce(session, summary.version)
    return Stored(new, summary.changed, await service_version(session, service_id))
