"""The coordinator API: organisations, services, lines, schedules and closures, with search.

Every change of a service runs the one path of referral_directory/changes.py (the coordinator's
pages use it too): build the new record, validate it (422 with every problem), check the
coordinator's regions (403), store it with its change history, then rebuild the routing snapshot
and tell every worker.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Header, Query, Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory import changes
from referral_directory import service as directory_service
from referral_directory.api_models import (
    ChangeOut,
    ClosureIn,
    OrganizationIn,
    OrganizationOut,
    OrganizationPatch,
    PhoneIn,
    ScheduleIn,
    ScheduleOut,
    ServiceIn,
    ServiceList,
    ServiceOut,
    ServicePatch,
)
from referral_directory.deps import ChangeDep, CurrentStaff, DirectoryHost, HostDep, SessionDep, announce
from referral_directory.errors import ERROR_RESPONSES, BadRequest, Conflict, Invalid, NotFound, PreconditionFailed
from referral_directory.hours import is_open_at, supported
from referral_directory.records import NATION, DirectoryRecords, OrganizationRecord, PhoneRecord, ScheduleRecord, ServiceRecord
from referral_directory.snapshot import compile_hours
from referral_directory.staff.accounts import Staff, lgcodes_within

router = APIRouter(prefix="/api/directory", tags=["directory"], responses=ERROR_RESPONSES)
SEARCH_MAX = 200  # characters of a name search (422 beyond): SQLite refuses a LIKE pattern of 50,000 with an error
Instant = Annotated[datetime, AfterValidator(supported)]  # years 2000-2099 (422 otherwise)


def service_out(record: ServiceRecord) -> ServiceOut:
    """Return the API shape of a service record."""
    data = asdict(record)
    data["capacity"] = dict(record.capacity)
    return ServiceOut.model_validate(data)


Change = changes.Change


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='the ETag of the service as the client read it (`"svc-12"`): a change made since then refuses this one '
        "with 412 and stores nothing. Without it, the change is applied to the service as it stands.",
    ),
]


def etag(version: int) -> str:
    """Return the ETag of a service's version (its newest change record)."""
    return f'"svc-{version}"'


def _based_on(if_match: str | None) -> int | None:
    """Return the version an If-Match header names (None: none, or `*`); 400 for one that is no ETag of ours."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"svc-(\d{1,18})"\s*', if_match)
    if found is None:
        raise BadRequest(f'If-Match must be the ETag the service was read with (such as "svc-12"), not {if_match[:40]!r}')
    return int(found[1])


async def _store_service(
    host: DirectoryHost,
    session: AsyncSession,
    staff: Staff,
    service_id: str,
    change: Change | ServiceRecord,
    *,
    if_match: str | None = None,
    response: Response | None = None,
) -> ServiceRecord:
    """Store a new service or change one through the shared path (referral_directory/changes.py), inside the
    directory's write lock, so concurrent changes never undo each other; with If-Match, only onto the version read.
    The answer carries the stored version's ETag."""
    try:
        stored = await changes.store_service(session, host.regions, staff, service_id, change, based_on=_based_on(if_match))
    except changes.Stale as stale:
        raise PreconditionFailed(_stale_message(stale)) from None
    if response is not None:
        response.headers["ETag"] = etag(stored.version)
    return stored.record


def _stale_message(stale: changes.Stale) -> str:
    fields = sorted({c.field for c in stale.changes})
    who = sorted({c.actor for c in stale.changes})
    return (
        f"service {stale.current.id} was changed since you read it ({', '.join(fields) or 'its record'} by {', '.join(who) or 'someone'});"
        f" nothing was stored. Read it again (its ETag is now {etag(stale.version)}) and send your change on that version"
    )


async def _existing_service(session: AsyncSession, service_id: str) -> ServiceRecord:
    record = await directory_service.load_service(session, service_id)
    if record is None:
        raise NotFound(f"no service {service_id} in the directory")
    return record


def _require_editor(staff: Staff) -> None:
    changes.require_editor(staff)


async def _require_organization_scope(
    session: AsyncSession, host: DirectoryHost, staff: Staff, organization_id: str, *, ignoring: str | None = None
) -> None:
    await changes.require_organization_scope(session, host.regions, staff, organization_id, ignoring=ignoring)


# Organisations


@router.get("/organizations", response_model=list[OrganizationOut], summary="List organisations")
async def list_organizations(
    session: SessionDep, staff: CurrentStaff, q: Annotated[str | None, Query(max_length=SEARCH_MAX, description="part of the name")] = None
) -> list[OrganizationRecord]:
    organizations = await directory_service.load_organizations(session)  # not the services: a large directory has thousands
    return [o for o in organizations if not q or q in o.name]


@router.post("/organizations", response_model=OrganizationOut, status_code=201, summary="Create an organisation")
async def create_organization(body: OrganizationIn, session: ChangeDep, staff: CurrentStaff) -> OrganizationRecord:
    _require_editor(staff)
    record = OrganizationRecord(id=str(body.id or uuid.uuid4()), **body.model_dump(exclude={"id"}))
    if await directory_service.load_organization(session, record.id):
        raise Conflict(f"organisation {record.id} already exists; change it with PATCH")
    summary = await directory_service.save_records(session, DirectoryRecords(organizations=(record,)), actor=staff.name)
    announce(session, summary.version)
    return record


@router.get("/organizations/{organization_id}", response_model=OrganizationOut, summary="Read an organisation")
async def read_organization(organization_id: str, session: SessionDep, staff: CurrentStaff) -> OrganizationRecord:
    record = await directory_service.load_organization(session, organization_id)
    if record is None:
        raise NotFound(f"no organisation {organization_id} in the directory")
    return record


@router.patch("/organizations/{organization_id}", response_model=OrganizationOut, summary="Change an organisation")
async def update_organization(
    organization_id: str, body: OrganizationPatch, host: HostDep, session: ChangeDep, staff: CurrentStaff
) -> OrganizationRecord:
    _require_editor(staff)
    await directory_service.lock_directory(session)
    old = await directory_service.load_organization(session, organization_id)
    if old is None:
        raise NotFound(f"no organisation {organization_id} in the directory")
    await _require_organization_scope(session, host, staff, organization_id)
    new = replace(old, **_patch_values(body))
    summary = await directory_service.save_records(session, DirectoryRecords(organizations=(new,)), actor=staff.name)
    if summary.changed:
        announce(session, summary.version)
    return new


@router.delete("/organizations/{organization_id}", status_code=204, summary="Delete an organisation without services")
async def delete_organization(organization_id: str, host: HostDep, session: ChangeDep, staff: CurrentStaff) -> Response:
    _require_editor(staff)
    await directory_service.lock_directory(session)
    if await directory_service.load_organization(session, organization_id) is None:
        raise NotFound(f"no organisation {organization_id} in the directory")
    await _require_organization_scope(session, host, staff, organization_id)
    if await directory_service.service_ids_of_organization(session, organization_id):
        raise Conflict("this organisation still runs services; delete or move them first")
    await directory_service.delete_organization(session, organization_id, actor=staff.name)
    announce(session, await directory_service.directory_version(session))
    return Response(status_code=204)


_CLEARABLE = {"description", "email", "website", "sns_url"}


def _patch_values(body: OrganizationPatch | ServicePatch) -> dict:
    """Return the fields a PATCH sets; null clears a text field and is refused for the others."""
    values = body.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None:
            if name not in _CLEARABLE:
                raise Invalid(f"{name} cannot be null; leave it out to keep it as it is")
            values[name] = ""
    return values


# Services


@router.get("/services", response_model=ServiceList, summary="Search services")
async def list_services(
    host: HostDep,
    session: SessionDep,
    staff: CurrentStaff,
    region: Annotated[str | None, Query(description="lgcode: services with an area inside this region (000000: national services)")] = None,
    topic: str | None = None,
    channel: str | None = None,
    tier: str | None = None,
    q: Annotated[str | None, Query(max_length=SEARCH_MAX, description="part of the service name")] = None,
    open_at: Annotated[Instant | None, Query(description="ISO-8601 instant with offset, 2000-2099: only services open then")] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ServiceList:
    area_codes = None
    if region is not None:
        area_codes = [NATION] if region == NATION else _codes_within(host, region)
    if open_at is not None and open_at.tzinfo is None:
        raise Invalid("open_at needs a UTC offset, e.g. 2026-12-30T10:00:00+09:00")
    found = await directory_service.search_services(
        session, topic=topic, channel=channel, tier=tier, name_contains=q, area_codes=area_codes
    )
    if open_at is not None:
        found = tuple(s for s in found if s.status == "active" and is_open_at(compile_hours(s), open_at, host.holidays))
    return ServiceList(total=len(found), items=[service_out(s) for s in found[offset : offset + limit]])


def _codes_within(host: DirectoryHost, region: str) -> list[str]:
    try:
        return lgcodes_within(host.regions, region)
    except ValueError as error:
        raise Invalid(str(error)) from None


@router.post("/services", response_model=ServiceOut, status_code=201, summary="Create a service")
async def create_service(body: ServiceIn, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response) -> ServiceOut:
    service_id = str(body.id or uuid.uuid4())
    record = ServiceRecord(
        id=service_id,
        organization_id=body.organization_id,
        name=body.name,
        tier=body.tier,
        topics=tuple(body.topics),
        channels=tuple(body.channels),
        areas=tuple(body.areas),
        capacity=tuple(body.capacity.items()),
        holidays=body.holidays,
        status=body.status,
        description=body.description,
        sns_url=body.sns_url,
        phones=tuple(_phone(p) for p in body.phones),
        schedules=tuple(_schedule(s) for s in body.schedules),
    )
    return service_out(await _store_service(host, session, staff, service_id, record, response=response))


def _phone(body: PhoneIn) -> PhoneRecord:
    return PhoneRecord(id=str(uuid.uuid4()), number=body.number, description=body.description)


def _schedule(body: ScheduleIn) -> ScheduleRecord:
    data = body.model_dump()
    data["byday"] = tuple(data["byday"])
    return ScheduleRecord(id=str(uuid.uuid4()), **data)


@router.get("/services/{service_id}", response_model=ServiceOut, summary="Read a service")
async def read_service(service_id: str, session: SessionDep, staff: CurrentStaff, response: Response) -> ServiceOut:
    """The service, with its version as the ETag: send it back as If-Match with a change, and nobody's change made in
    between is overwritten."""
    record = await _existing_service(session, service_id)
    response.headers["ETag"] = etag(await changes.service_version(session, service_id))
    return service_out(record)


@router.get("/services/{service_id}/history", response_model=list[ChangeOut], summary="Who changed what, newest first")
async def service_history(service_id: str, session: SessionDep, staff: CurrentStaff) -> list[ChangeOut]:
    rows = await directory_service.change_history(session, service_id)
    return [ChangeOut.model_validate(row, from_attributes=True) for row in rows]


@router.patch("/services/{service_id}", response_model=ServiceOut, summary="Change a service")
async def update_service(
    service_id: str,
    body: ServicePatch,
    host: HostDep,
    session: ChangeDep,
    staff: CurrentStaff,
    response: Response,
    if_match: IfMatch = None,
) -> ServiceOut:
    changes = _patch_values(body)
    if "capacity" in changes:
        changes["capacity"] = tuple(changes["capacity"].items())
    for name in ("topics", "channels", "areas"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return service_out(
        await _store_service(host, session, staff, service_id, lambda old: replace(old, **changes), if_match=if_match, response=response)
    )


@router.delete("/services/{service_id}", status_code=204, summary="Delete a service")
async def delete_service(service_id: str, host: HostDep, session: ChangeDep, staff: CurrentStaff, if_match: IfMatch = None) -> Response:
    _require_editor(staff)
    await directory_service.lock_directory(session)
    old = await directory_service.load_service(session, service_id)
    if old is None:
        raise NotFound(f"no service {service_id} in the directory")
    changes.require_scope(staff, old, host.regions)
    based_on = _based_on(if_match)
    if based_on is not None and (version := await changes.service_version(session, service_id)) != based_on:
        since = await changes.changes_since(session, service_id, based_on)
        raise PreconditionFailed(_stale_message(changes.Stale("", current=old, changes=since, version=version)))
    await directory_service.delete_service(session, service_id, actor=staff.name)
    announce(session, await directory_service.directory_version(session))
    return Response(status_code=204)


# Lines (phones)


@router.post("/services/{service_id}/phones", response_model=ServiceOut, status_code=201, summary="Add a phone line")
async def add_phone(
    service_id: str, body: PhoneIn, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    phone = _phone(body)
    return service_out(
        await _store_service(
            host, session, staff, service_id, lambda old: replace(old, phones=(*old.phones, phone)), if_match=if_match, response=response
        )
    )


@router.patch("/services/{service_id}/phones/{phone_id}", response_model=ServiceOut, summary="Change a phone line")
async def update_phone(
    service_id: str,
    phone_id: str,
    body: PhoneIn,
    host: HostDep,
    session: ChangeDep,
    staff: CurrentStaff,
    response: Response,
    if_match: IfMatch = None,
) -> ServiceOut:
    changed = {"number": body.number, "description": body.description}
    change = _with_item(PHONES, phone_id, lambda phone: replace(phone, **changed))
    return service_out(await _store_service(host, session, staff, service_id, change, if_match=if_match, response=response))


@router.delete("/services/{service_id}/phones/{phone_id}", response_model=ServiceOut, summary="Remove a phone line")
async def delete_phone(
    service_id: str, phone_id: str, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    return service_out(
        await _store_service(host, session, staff, service_id, _with_item(PHONES, phone_id, None), if_match=if_match, response=response)
    )


class Items(NamedTuple):
    """A list of a service's parts with ids (its phone lines, its schedules), and what a person calls one of them."""

    field: str
    noun: str


PHONES = Items("phones", "phone line")
SCHEDULES = Items("schedules", "schedule")
CLOSURES = Items("schedules", "closure")
Item = PhoneRecord | ScheduleRecord


def _with_item(
    items: Items, item_id: str, fresh: Callable[[Any], Item] | None, *, only_if: Callable[[Any], bool] = lambda _: True
) -> Change:
    """A change that replaces one part of a service by `fresh(part)`, or removes it when `fresh` is None; 404 when there is
    no such part, or when it is not one `only_if` accepts."""

    def change(old: ServiceRecord) -> ServiceRecord:
        parts = getattr(old, items.field)
        found = next((part for part in parts if part.id == item_id), None)
        if found is None or not only_if(found):
            raise NotFound(f"this service has no {items.noun} {item_id}")
        kept = (
            tuple(part for part in parts if part.id != item_id)
            if fresh is None
            else tuple(fresh(p) if p.id == item_id else p for p in parts)
        )
        changed: dict[str, Any] = {items.field: kept}
        return replace(old, **changed)

    return change


# Schedules and closures (a closure is a schedule of kind "closed")


@router.post("/services/{service_id}/schedules", response_model=ServiceOut, status_code=201, summary="Add opening hours")
async def add_schedule(
    service_id: str, body: ScheduleIn, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    schedule = _schedule(body)
    return service_out(
        await _store_service(
            host,
            session,
            staff,
            service_id,
            lambda old: replace(old, schedules=(*old.schedules, schedule)),
            if_match=if_match,
            response=response,
        )
    )


@router.put("/services/{service_id}/schedules/{schedule_id}", response_model=ServiceOut, summary="Replace opening hours")
async def update_schedule(
    service_id: str,
    schedule_id: str,
    body: ScheduleIn,
    host: HostDep,
    session: ChangeDep,
    staff: CurrentStaff,
    response: Response,
    if_match: IfMatch = None,
) -> ServiceOut:
    fresh = replace(_schedule(body), id=schedule_id)
    return service_out(
        await _store_service(
            host, session, staff, service_id, _with_item(SCHEDULES, schedule_id, lambda _: fresh), if_match=if_match, response=response
        )
    )


@router.delete("/services/{service_id}/schedules/{schedule_id}", response_model=ServiceOut, summary="Remove opening hours or a closure")
async def delete_schedule(
    service_id: str, schedule_id: str, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    return service_out(
        await _store_service(
            host, session, staff, service_id, _with_item(SCHEDULES, schedule_id, None), if_match=if_match, response=response
        )
    )


@router.get("/services/{service_id}/closures", response_model=list[ScheduleOut], summary="List dated closures")
async def list_closures(service_id: str, session: SessionDep, staff: CurrentStaff) -> list[ScheduleOut]:
    record = await _existing_service(session, service_id)
    return [ScheduleOut.model_validate(asdict(s)) for s in record.schedules if s.kind == "closed"]


@router.post("/services/{service_id}/closures", response_model=ServiceOut, status_code=201, summary="Close on whole days (e.g. 年末年始)")
async def add_closure(
    service_id: str, body: ClosureIn, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    schedule = ScheduleIn(kind="closed", valid_from=body.valid_from, valid_to=body.valid_to, description=body.description)
    return await add_schedule(service_id, schedule, host, session, staff, response, if_match)


@router.delete("/services/{service_id}/closures/{schedule_id}", response_model=ServiceOut, summary="Remove a closure")
async def delete_closure(
    service_id: str, schedule_id: str, host: HostDep, session: ChangeDep, staff: CurrentStaff, response: Response, if_match: IfMatch = None
) -> ServiceOut:
    change = _with_item(CLOSURES, schedule_id, None, only_if=lambda schedule: schedule.kind == "closed")
    return service_out(await _store_service(host, session, staff, service_id, change, if_match=if_match, response=response))
