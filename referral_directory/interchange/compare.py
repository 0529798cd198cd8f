"""What importing a file would change in the stored directory: services added, changed (field by field, old → new)
and removed, and the organisations added or changed.

Pure: the stored records and the file's records in, the differences out. Services absent from the file are removed
only when the caller asks (`remove_absent`), and only those `in_scope` says the importer may change: a regional
coordinator's file never removes another region's services. Without the request they are listed as kept.

A sheet carries no notes of phone lines and hours, no ids of its own for them, and nothing of an organisation but its
name (interchange/sheet.py). `keep_stored_details` gives a sheet's records what the stored directory has for the same
lines, hours and organisations, so re-importing an exported sheet changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Literal, TypeVar

from referral_directory.records import (
    WEEKDAYS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    ScheduleRecord,
    ServiceRecord,
    normalized,
)

ServiceKind = Literal["added", "changed", "unchanged", "removed"]
OrganizationKind = Literal["added", "changed", "unchanged"]
Part = TypeVar("Part", PhoneRecord, ScheduleRecord)


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field of a record, as stored and as the file has it."""

    field: str
    old: object
    new: object


@dataclass(frozen=True, slots=True)
class ServiceDifference:
    kind: ServiceKind
    old: ServiceRecord | None  # as stored (None: added)
    new: ServiceRecord | None  # as the file has it, normalised (None: removed)
    fields: tuple[FieldDifference, ...] = ()

    @property
    def record(self) -> ServiceRecord:
        """Return the service as it would be after the import, or as it was when it is removed."""
        found = self.new or self.old
        if found is None:
            raise ValueError("a difference of no service")
        return found


@dataclass(frozen=True, slots=True)
class OrganizationDifference:
    kind: OrganizationKind
    old: OrganizationRecord | None
    new: OrganizationRecord
    fields: tuple[FieldDifference, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectoryDifference:
    services: tuple[ServiceDifference, ...]  # the file's, in its order; then the removed ones
    organizations: tuple[OrganizationDifference, ...]
    kept: tuple[ServiceRecord, ...] = ()  # absent from the file and left as they are (not asked to remove)

    def of(self, kind: ServiceKind) -> tuple[ServiceDifference, ...]:
        """Return the services of one kind of difference."""
        return tuple(d for d in self.services if d.kind == kind)

    @property
    def changes_anything(self) -> bool:
        return any(d.kind != "unchanged" for d in self.services) or any(o.kind != "unchanged" for o in self.organizations)


def field_differences(old: object, new: object, *, skip: tuple[str, ...] = ("id",)) -> tuple[FieldDifference, ...]:
    """Return the fields two records of one kind differ in, in the record's order."""
    return tuple(
        FieldDifference(f.name, getattr(old, f.name), getattr(new, f.name))
        for f in fields(new)  # type: ignore[arg-type]  # a dataclass record
        if f.name not in skip and getattr(old, f.name) != getattr(new, f.name)
    )


def compare_directory(
    stored: DirectoryRecords, incoming: DirectoryRecords, *, in_scope: Callable[[ServiceRecord], bool], remove_absent: bool = False
) -> DirectoryDifference:
    """Return what storing the incoming records would change in the stored ones."""
    stored_services = {s.id: s for s in stored.services}
    services = []
    for service in map(normalized, incoming.services):
        old = stored_services.get(service.id)
        if old is None:
            services.append(ServiceDifference("added", None, service))
        elif old == service:
            services.append(ServiceDifference("unchanged", old, service))
        else:
            services.append(ServiceDifference("changed", old, service, field_differences(old, service)))
    in_file = {s.id for s in incoming.services}
    absent = tuple(s for s in stored.services if s.id not in in_file and in_scope(s))
    if remove_absent:
        services += [ServiceDifference("removed", s, None) for s in absent]
    stored_organizations = {o.id: o for o in stored.organizations}
    organizations = []
    for organization in incoming.organizations:
        known = stored_organizations.get(organization.id)
        if known is None:
            organizations.append(OrganizationDifference("added", None, organization))
        elif known == organization:
            organizations.append(OrganizationDifference("unchanged", known, organization))
        else:
            organizations.append(OrganizationDifference("changed", known, organization, field_differences(known, organization)))
    return DirectoryDifference(tuple(services), tuple(organizations), () if remove_absent else absent)


def keep_stored_details(incoming: DirectoryRecords, stored: DirectoryRecords) -> DirectoryRecords:
    """Return a sheet's records with the stored ids and notes of the lines and hours they share with the stored
    services, and the stored details (description, e-mail, website) of the organisations they name."""
    stored_services = {s.id: s for s in stored.services}
    stored_organizations = {o.id: o for o in stored.organizations}
    services = tuple(_with_stored_parts(s, stored_services[s.id]) if s.id in stored_services else s for s in incoming.services)
    organizations = tuple(
        replace(stored_organizations[o.id], name=o.name) if o.id in stored_organizations else o for o in incoming.organizations
    )
    return DirectoryRecords(organizations=organizations, services=services)


def _with_stored_parts(service: ServiceRecord, stored: ServiceRecord) -> ServiceRecord:
    phones = _matched(service.phones, stored.phones, lambda p: p.number)
    schedules = _matched(service.schedules, stored.schedules, _schedule_content)
    return replace(service, phones=phones, schedules=schedules)


def _matched(parts: Iterable[Part], stored: Iterable[Part], content: Callable[[Part], object]) -> tuple[Part, ...]:
    """Return the parts, each taking the id and note of a stored part saying the same (each stored part once)."""
    waiting: dict[object, list[Part]] = {}
    for part in stored:
        waiting.setdefault(content(part), []).append(part)
    kept = []
    for part in parts:
        same = waiting.get(content(part))
        if same:
            match = same.pop(0)
            part = replace(part, id=match.id, description=match.description)
        kept.append(part)
    return tuple(kept)


def _schedule_content(schedule: ScheduleRecord) -> object:
    days = tuple(d for d in WEEKDAYS if d in schedule.byday)
    return (schedule.kind, days, schedule.opens_at, schedule.closes_at, schedule.valid_from, schedule.valid_to)
