"""A directory file a staff member uploads: what importing it would change, and storing it once they confirm; and
their part of the directory as a file.

The file is read by the interchange readers (every problem at once, by row) and stored through the path
`tsunagu directory import` takes (service.id_conflicts, then service.save_records: change history, audit, version).
A coordinator's file may add, change and remove only services within their regions, and give services only
organisations within their regions: the rules of changes.py, checked for every service before anything is stored.
Services absent from the file are removed only when the uploader asks, and only within their regions.

`plan_import` ends with a fingerprint of everything stored that the plan depends on: storing compares it under the
directory's write lock, so what is stored is exactly what was shown, or nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory import changes
from referral_directory import service as directory_service
from referral_directory.deps import announce
from referral_directory.interchange import is_hsds, read_directory_bytes
from referral_directory.interchange.compare import DirectoryDifference, compare_directory, keep_stored_details
from referral_directory.records import DirectoryRecords, Problem
from referral_directory.regions import Regions
from referral_directory.staff.accounts import Staff, describe_scope
from referral_directory.validation import organization_where, service_where

_SERVICE_ID = re.compile(r"service (\S+) \(")
# A record field a problem names → the sheet column it is read from.
_SHEET_COLUMNS = {"id": "service_id", "name": "service_name", "organization_id": "organization_name", "schedules": "hours"}


@dataclass(frozen=True)
class ImportPlan:
    """What importing a file would do: its problems (then nothing may be stored), or the difference it makes."""

    name: str
    problems: tuple[Problem, ...] = ()
    difference: DirectoryDifference | None = None
    fingerprint: str = ""
    service_rows: Mapping[str, int] = field(default_factory=dict)  # a sheet's row of each service id
    warnings: tuple[Problem, ...] = ()  # what the file says that is read otherwise (a closure's hours, ignored): shown, not blocking

    @property
    def ok(self) -> bool:
        return self.difference is not None and not self.problems


@dataclass(frozen=True, slots=True)
class Imported:
    added: int
    changed: int
    removed: int
    version: int


async def plan_import(
    session: AsyncSession, regions: Regions, staff: Staff, data: bytes, name: str, *, remove_absent: bool = False
) -> ImportPlan:
    """Return what importing the file would change for this staff member, or every reason it cannot be imported."""
    changes.require_editor(staff)
    stored = await directory_service.load_directory(session)
    result = read_directory_bytes(data, name, regions, known_organization_ids={o.id for o in stored.organizations})
    if result.problems:
        return ImportPlan(name, result.problems, service_rows=result.service_rows, warnings=result.warnings)
    records = result.records if is_hsds(data, name) else keep_stored_details(result.records, stored)
    difference = compare_directory(stored, records, in_scope=lambda s: changes.may_change(staff, s, regions), remove_absent=remove_absent)
    problems = await directory_service.id_conflicts(session, records)
    problems += await _scope_problems(session, regions, staff, difference)
    if problems:
        located = tuple(_located(p, result.service_rows) for p in problems)
        return ImportPlan(name, located, service_rows=result.service_rows, warnings=result.warnings)
    return ImportPlan(name, (), difference, _fingerprint(difference, remove_absent), result.service_rows, result.warnings)


async def _scope_problems(session: AsyncSession, regions: Regions, staff: Staff, difference: DirectoryDifference) -> tuple[Problem, ...]:
    """Return a problem for each service or organisation the file would change outside the staff member's regions."""
    scope = describe_scope(staff, regions)
    problems = []
    for d in difference.services:
        where = service_where(d.record.id, d.record.name)
        if d.old is not None and d.kind != "unchanged" and not changes.may_change(staff, d.old, regions):
            problems.append(Problem(where, "areas", f"is stored with areas outside your regions ({scope}); ask that region's coordinator"))
        elif d.new is not None and d.kind != "unchanged" and not changes.may_change(staff, d.new, regions):
            problems.append(Problem(where, "areas", f"serves areas outside your regions ({scope}); ask that region's coordinator"))
        elif d.new is not None and (d.old is None or d.old.organization_id != d.new.organization_id):
            try:
                await changes.require_organization_scope(session, regions, staff, d.new.organization_id, ignoring=d.new.id)
            except changes.OrganizationRefused as refused:
                problems.append(Problem(where, "organization_id", f"organization refused: {refused}"))
    for o in difference.organizations:
        if o.kind == "changed":
            try:
                await changes.require_organization_scope(session, regions, staff, o.new.id)
            except changes.OrganizationRefused as refused:
                problems.append(Problem(organization_where(o.new.id, o.new.name), "name", f"organization refused: {refused}"))
    return tuple(problems)


def _located(problem: Problem, rows: Mapping[str, int]) -> Problem:
    """Return a problem about a service of a sheet at its row and column; others as they are."""
    found = _SERVICE_ID.match(problem.where)
    if found is None or found[1] not in rows:
        return problem
    head = re.split(r"[.\[]", problem.field, maxsplit=1)[0]
    return Problem(f"row {rows[found[1]]}", _SHEET_COLUMNS.get(head, head), problem.message)


def _fingerprint(difference: DirectoryDifference, remove_absent: bool) -> str:
    """Return a digest of everything stored the difference was worked out from."""
    parts: list[object] = [remove_absent]
    parts += [[d.kind, d.record.id, asdict(d.old) if d.old else None] for d in difference.services]
    parts += [[o.kind, o.new.id, asdict(o.old) if o.old else None] for o in difference.organizations]
    parts += [[s.id, asdict(s)] for s in difference.kept]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


async def store_import(session: AsyncSession, staff: Staff, plan: ImportPlan) -> Imported:
    """Store what a plan without problems changes: its services and organisations, and remove the services it removes."""
    if not plan.ok or plan.difference is None:
        raise ValueError("a plan with problems stores nothing")
    difference = plan.difference
    organizations = tuple(o.new for o in difference.organizations if o.kind != "unchanged")
    services = tuple(d.new for d in difference.services if d.new is not None and d.kind in ("added", "changed"))
    summary = await directory_service.save_records(session, DirectoryRecords(organizations, services), actor=staff.name)
    removed = difference.of("removed")
    for d in removed:
        await directory_service.delete_service(session, d.record.id, actor=staff.name)
    version = await directory_service.directory_version(session)
    if summary.changed or removed:
        announce(session, version)
    return Imported(len(difference.of("added")), len(difference.of("changed")), len(removed), version)


async def directory_in_scope(session: AsyncSession, regions: Regions, staff: Staff) -> DirectoryRecords:
    """Return the services the staff member may change, with the organisations running them (for an export)."""
    stored = await directory_service.load_directory(session)
    services = tuple(s for s in stored.services if changes.may_change(staff, s, regions))
    running = {s.organization_id for s in services}
    return DirectoryRecords(tuple(o for o in stored.organizations if o.id in running), services)
