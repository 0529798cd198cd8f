"""Directory queries and changes. The session is passed in; callers own the transaction.

Every write goes through `save_records` or `delete_*`: they diff against what is stored,
write one ChangeRecord per changed field (who, when, old → new), append one audit event per
changed entity (field names only) and bump the directory version, so import, the
coordinator API and the demo loader share one path.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from referral_directory.models import (
    ChangeRecord,
    DirectoryState,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceChannel,
    ServiceTopic,
    utcnow,
)
from referral_directory.records import (
    CHANNELS,
    TIERS,
    TOPICS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    Problem,
    ScheduleRecord,
    ServiceRecord,
    normalized,
)
from referral_directory.staff import audit
from referral_directory.storage.db import table_of
from referral_directory.validation import service_where

_SERVICE_CHILDREN = (ServiceTopic, ServiceChannel, ServiceArea, Phone, Schedule)

# The rows to write, by table class to insert into; "update": the existing services' rows to update.
_Rows = dict[type[SQLModel] | Literal["update"], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ChangeSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    version: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


async def directory_version(session: AsyncSession) -> int:
    """Return the stored directory version (0 for an empty, never-changed directory)."""
    state = await session.get(DirectoryState, 1)
    return state.version if state else 0


async def _bump_version(session: AsyncSession) -> int:
    state = await session.get(DirectoryState, 1, with_for_update=True)
    if state is None:
        state = DirectoryState(id=1, version=0)
    state.version += 1
    state.updated_at = utcnow()
    session.add(state)
    await session.flush()
    return state.version


async def load_directory(session: AsyncSession) -> DirectoryRecords:
    """Return the whole stored directory as records."""
    # Plain rows, not ORM objects: loading the whole directory this way is several times faster.
    organizations = await load_organizations(session)
    services = (await session.execute(select(table_of(Service)).order_by(col(Service.id)))).all()
    return DirectoryRecords(organizations=organizations, services=await _service_records(session, services))


async def load_organizations(session: AsyncSession) -> tuple[OrganizationRecord, ...]:
    """Return every stored organisation as a record, in id order (as load_directory has them), without the services."""
    rows = (await session.execute(select(table_of(Organization)).order_by(col(Organization.id)))).all()
    return tuple(_organization_record(o) for o in rows)


async def load_service(session: AsyncSession, service_id: str) -> ServiceRecord | None:
    """Return one stored service as a record, or None."""
    found = await _load_services(session, [service_id])
    return found[0] if found else None


async def load_organization(session: AsyncSession, organization_id: str) -> OrganizationRecord | None:
    """Return one stored organisation as a record, or None."""
    row = await session.get(Organization, organization_id)
    return _organization_record(row) if row else None


async def organization_names(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """Return the names of the given organisations by id (unknown ids are left out)."""
    names: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows = await session.execute(select(col(Organization.id), col(Organization.name)).where(col(Organization.id).in_(chunk)))
        names.update({row.id: row.name for row in rows})
    return names


async def organizations_created_by(session: AsyncSession, actor: str) -> list[str]:
    """Return the ids of the organisations a staff member created (from the change history)."""
    query = select(col(ChangeRecord.entity_id)).where(
        col(ChangeRecord.entity) == "organization", col(ChangeRecord.field) == "created", col(ChangeRecord.actor) == actor
    )
    return list((await session.execute(query)).scalars().all())


async def service_ids_of_organization(session: AsyncSession, organization_id: str) -> list[str]:
    """Return the ids of an organisation's services."""
    rows = await session.execute(select(col(Service.id)).where(col(Service.organization_id) == organization_id))
    return list(rows.scalars().all())


async def lock_directory(session: AsyncSession) -> None:
    """Take the directory's write lock for this transaction: concurrent changes wait, then see each other's result."""
    statement = update(table_of(DirectoryState)).where(col(DirectoryState.id) == 1).values(version=DirectoryState.version)
    # A DML statement executes to a CursorResult (which has rowcount); Session.execute is typed as returning a Result.
    touched = cast(CursorResult[Any], await session.execute(statement))
    if touched.rowcount == 0:
        session.add(DirectoryState(id=1, version=0))
        await session.flush()


async def save_records(session: AsyncSession, records: DirectoryRecords, *, actor: str) -> ChangeSummary:
    """Create or update the given organisations and services; unchanged ones are left alone."""
    await lock_directory(session)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    changes: list[ChangeRecord] = []
    stored_orgs = {o.id: o for o in await _load_organizations(session, [o.id for o in records.organizations])}
    new_orgs, changed_orgs = [], []
    for org in records.organizations:
        old = stored_orgs.get(org.id)
        counts[_record_changes(changes, "organization", org.id, old, org, actor)] += 1
        if old is None:
            new_orgs.append({**asdict(org), "updated_at": utcnow()})
        elif old != org:
            changed_orgs.append({**asdict(org), "updated_at": utcnow()})
    if new_orgs:
        await session.execute(insert(Organization), new_orgs)
    if changed_orgs:
        await session.execute(update(Organization), changed_orgs)
    stored = {s.id: s for s in await _load_services(session, [svc.id for svc in records.services])}
    rows: _Rows = defaultdict(list)
    replaced: list[str] = []
    for svc in map(normalized, records.services):
        old_svc = stored.get(svc.id)
        counts[_record_changes(changes, "service", svc.id, old_svc, svc, actor)] += 1
        if old_svc is None or old_svc != svc:
            _service_rows(svc, rows, new=old_svc is None)
            if old_svc is not None:
                replaced.append(svc.id)
    for chunk in _chunks(replaced):
        for child in _SERVICE_CHILDREN:
            await session.execute(delete(child).where(col(child.service_id).in_(chunk)))
    for model in (Service, *_SERVICE_CHILDREN):
        if rows[model]:
            await session.execute(insert(model), rows[model])
    if rows["update"]:
        await session.execute(update(Service), rows["update"])
    version = await directory_version(session)
    if changes:
        session.add_all(changes)
        version = await _bump_version(session)
        await audit.append_many(session, _audit_entries(changes, actor))
    await session.flush()
    return ChangeSummary(**counts, version=version)


async def delete_service(session: AsyncSession, service_id: str, *, actor: str) -> bool:
    """Delete a service and everything under it; returns False when there was none."""
    await lock_directory(session)
    old = await load_service(session, service_id)
    if old is None:
        return False
    await _delete_children(session, service_id)
    await session.execute(delete(Service).where(col(Service.id) == service_id))
    session.add(ChangeRecord(actor=actor, entity="service", entity_id=service_id, field="deleted", old=_json(old)))
    await audit.append(session, actor=actor, action=audit.Action.SERVICE_DELETE, resource_kind="service", resource_id=service_id)
    await _bump_version(session)
    return True


async def delete_organization(session: AsyncSession, organization_id: str, *, actor: str) -> bool:
    """Delete an organisation that has no services; returns False when there was none."""
    await lock_directory(session)
    old = await load_organization(session, organization_id)
    if old is None:
        return False
    await session.execute(delete(Organization).where(col(Organization.id) == organization_id))
    session.add(ChangeRecord(actor=actor, entity="organization", entity_id=organization_id, field="deleted", old=_json(old)))
    await audit.append(
        session, actor=actor, action=audit.Action.ORGANIZATION_DELETE, resource_kind="organization", resource_id=organization_id
    )
    await _bump_version(session)
    return True


async def creator_of(session: AsyncSession, entity_id: str) -> str | None:
    """Return who created an organisation or service, from its change history."""
    query = select(col(ChangeRecord.actor)).where(col(ChangeRecord.entity_id) == entity_id, col(ChangeRecord.field) == "created")
    return (await session.execute(query.order_by(col(ChangeRecord.id)).limit(1))).scalar_one_or_none()


async def change_history(session: AsyncSession, entity_id: str, limit: int = 200) -> list[ChangeRecord]:
    """Return the newest changes of one organisation or service."""
    query = select(ChangeRecord).where(col(ChangeRecord.entity_id) == entity_id).order_by(col(ChangeRecord.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars().all())


def _record_changes(
    out: list[ChangeRecord],
    entity: str,
    entity_id: str,
    old: OrganizationRecord | ServiceRecord | None,
    new: OrganizationRecord | ServiceRecord,
    actor: str,
) -> Literal["created", "updated", "unchanged"]:
    if old is None:
        out.append(ChangeRecord(actor=actor, entity=entity, entity_id=entity_id, field="created", new=_json(new)))
        return "created"
    if old == new:
        return "unchanged"
    for f in fields(new):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before != after:
            out.append(ChangeRecord(actor=actor, entity=entity, entity_id=entity_id, field=f.name, old=_json(before), new=_json(after)))
    return "updated"


def _audit_entries(changes: list[ChangeRecord], actor: str) -> list[audit.Entry]:
    """Return one audit entry per changed entity: created, or updated with the names (never the values) of its fields."""
    fields_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for change in changes:
        fields_of[change.entity, change.entity_id].append(change.field)
    at = utcnow()
    return [
        audit.Entry(
            actor=actor,
            action=f"directory.{entity}.{'create' if names == ['created'] else 'update'}",
            resource_kind=entity,
            resource_id=entity_id,
            detail={} if names == ["created"] else {"fields": names},
            at=at,
        )
        for (entity, entity_id), names in fields_of.items()
    ]


def _json(value: object) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    elif isinstance(value, tuple) and value and is_dataclass(value[0]):
        value = [asdict(v) for v in value]
    return json.dumps(value, ensure_ascii=False, default=str)


async def _delete_children(session: AsyncSession, service_id: str) -> None:
    for model in _SERVICE_CHILDREN:
        await session.execute(delete(model).where(col(model.service_id) == service_id))


def _service_rows(svc: ServiceRecord, rows: _Rows, *, new: bool) -> None:
    """Append the table rows of one service: the service row goes to insert when new, else to update."""
    service_row = {
        "id": svc.id,
        "organization_id": svc.organization_id,
        "name": svc.name,
        "tier": svc.tier,
        "holidays": svc.holidays,
        "status": svc.status,
        "description": svc.description,
        "sns_url": svc.sns_url,
        "updated_at": utcnow(),
    }
    rows[Service if new else "update"].append(service_row)
    capacity = dict(svc.capacity)
    rows[ServiceTopic] += [{"service_id": svc.id, "topic": t} for t in svc.topics]
    rows[ServiceChannel] += [{"service_id": svc.id, "channel": c, "capacity": capacity.get(c, 0)} for c in svc.channels]
    rows[ServiceArea] += [{"service_id": svc.id, "lgcode": a} for a in svc.areas]
    rows[Phone] += [
        {"id": p.id, "service_id": svc.id, "position": i, "number": p.number, "description": p.description}
        for i, p in enumerate(svc.phones)
    ]
    rows[Schedule] += [
        {
            "id": s.id,
            "service_id": svc.id,
            "position": i,
            "kind": s.kind,
            "byday": ",".join(s.byday),
            "opens_at": s.opens_at,
            "closes_at": s.closes_at,
            "valid_from": s.valid_from,
            "valid_to": s.valid_to,
            "description": s.description,
        }
        for i, s in enumerate(svc.schedules)
    ]


def _organization_record(row: Organization | Row) -> OrganizationRecord:
    return OrganizationRecord(id=row.id, name=row.name, description=row.description, email=row.email, website=row.website)


async def _load_organizations(session: AsyncSession, ids: list[str]) -> list[OrganizationRecord]:
    rows: list[Organization] = []
    for chunk in _chunks(ids):
        rows += (await session.execute(select(Organization).where(col(Organization.id).in_(chunk)))).scalars().all()
    return [_organization_record(r) for r in rows]


async def _load_services(session: AsyncSession, ids: list[str]) -> tuple[ServiceRecord, ...]:
    rows: list[Row[Any]] = []
    for chunk in _chunks(ids):
        rows += (await session.execute(select(table_of(Service)).where(col(Service.id).in_(chunk)))).all()
    return await _service_records(session, rows, only=[r.id for r in rows])


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _service_records(session: AsyncSession, rows: Sequence[Row[Any]], only: list[str] | None = None) -> tuple[ServiceRecord, ...]:
    """Assemble records for the given rows; `only` limits the child queries (None reads every child)."""
    grouped: dict[type[SQLModel], dict[str, list[Row[Any]]]] = {model: defaultdict(list) for model in _SERVICE_CHILDREN}
    for model in _SERVICE_CHILDREN:
        table = table_of(model)
        queries = [select(table)] if only is None else [select(table).where(table.c.service_id.in_(c)) for c in _chunks(only)]
        for query in queries:
            for child in (await session.execute(query)).all():
                grouped[model][child.service_id].append(child)
    topic_rank = {t: i for i, t in enumerate(TOPICS)}
    channel_rank = {c: i for i, c in enumerate(CHANNELS)}
    out = []
    for row in rows:
        channels = sorted(grouped[ServiceChannel][row.id], key=lambda c: channel_rank.get(c.channel, 99))
        out.append(
            ServiceRecord(
                id=row.id,
                organization_id=row.organization_id,
                name=row.name,
                tier=row.tier,
                topics=tuple(sorted((t.topic for t in grouped[ServiceTopic][row.id]), key=lambda t: topic_rank.get(t, 99))),
                channels=tuple(c.channel for c in channels),
                areas=tuple(sorted(a.lgcode for a in grouped[ServiceArea][row.id])),
                capacity=tuple((c.channel, c.capacity) for c in channels),
                holidays=row.holidays,
                status=row.status,
                description=row.description,
                sns_url=row.sns_url,
                phones=tuple(
                    PhoneRecord(id=p.id, number=p.number, description=p.description)
                    for p in sorted(grouped[Phone][row.id], key=lambda p: p.position)
                ),
                schedules=tuple(
                    ScheduleRecord(
                        id=s.id,
                        kind=s.kind,
                        byday=tuple(d for d in s.byday.split(",") if d),
                        opens_at=s.opens_at,
                        closes_at=s.closes_at,
                        valid_from=s.valid_from,
                        valid_to=s.valid_to,
                        description=s.description,
                    )
                    for s in sorted(grouped[Schedule][row.id], key=lambda s: s.position)
                ),
            )
        )
    return tuple(out)


async def search_services(
    session: AsyncSession,
    *,
    topic: str | None = None,
    channel: str | None = None,
    tier: str | None = None,
    name_contains: str | None = None,
    area_codes: list[str] | None = None,
) -> tuple[ServiceRecord, ...]:
    """Return the services matching every given filter, ordered by tier and name."""
    query = select(col(Service.id))
    if topic:
        query = query.where(col(Service.id).in_(select(col(ServiceTopic.service_id)).where(col(ServiceTopic.topic) == topic)))
    if channel:
        query = query.where(col(Service.id).in_(select(col(ServiceChannel.service_id)).where(col(ServiceChannel.channel) == channel)))
    if tier:
        query = query.where(col(Service.tier) == tier)
    if name_contains:
        query = query.where(col(Service.name).contains(name_contains, autoescape=True))  # % and _ are text, not wildcards
    if area_codes is not None:
        query = query.where(col(Service.id).in_(select(col(ServiceArea.service_id)).where(col(ServiceArea.lgcode).in_(area_codes))))
    ids = list((await session.execute(query)).scalars().all())
    return tuple(sorted(await _load_services(session, ids), key=lambda s: (TIERS.index(s.tier), s.name, s.id)))


async def id_conflicts(session: AsyncSession, records: DirectoryRecords) -> tuple[Problem, ...]:
    """Return a problem for each phone or schedule id that the directory already holds under another service."""
    problems: list[Problem] = []
    for model, attribute, noun in ((Phone, "phones", "phone"), (Schedule, "schedules", "schedule")):
        owner_of = {svc_item.id: svc.id for svc in records.services for svc_item in getattr(svc, attribute)}
        stored: dict[str, str] = {}
        for chunk in _chunks(list(owner_of)):
            rows = await session.execute(select(col(model.id), col(model.service_id)).where(col(model.id).in_(chunk)))
            stored.update({row.id: row.service_id for row in rows})
        for svc in records.services:
            for index, item in enumerate(getattr(svc, attribute)):
                holder = stored.get(item.id)
                if holder is not None and holder != svc.id:
                    problems.append(
                        Problem(
                            service_where(svc.id, svc.name),
                            f"{attribute}[{index}].id",
                            f"{noun} id {item.id} already belongs to service {holder}; give this {noun} a new id",
                        )
                    )
    return tuple(problems)
