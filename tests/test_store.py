"""The directory store (referral_directory.service) on a real, migrated SQLite file: diffs, history, versions."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
from builders import ORGANIZATION_ID, make_organization, make_phone, make_records, make_schedule, make_service, make_varied_records
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from referral_directory import service as directory_service
from referral_directory.models import ChangeRecord, Phone, Schedule, Service, ServiceArea, ServiceChannel, ServiceTopic
from referral_directory.records import WEEKDAYS, DirectoryRecords, derived_id, normalized
from referral_directory.service import ChangeSummary
from referral_directory.storage import db


async def save(engine: AsyncEngine, records: DirectoryRecords, actor: str = "test") -> ChangeSummary:
    async with db.transaction(db.session_factory(engine)) as session:
        return await directory_service.save_records(session, records, actor=actor)


async def load(engine: AsyncEngine) -> DirectoryRecords:
    async with db.session_factory(engine)() as session:
        return await directory_service.load_directory(session)


async def version(engine: AsyncEngine) -> int:
    async with db.session_factory(engine)() as session:
        return await directory_service.directory_version(session)


async def history(engine: AsyncEngine, entity_id: str) -> list[ChangeRecord]:
    async with db.session_factory(engine)() as session:
        return await directory_service.change_history(session, entity_id)


async def count_rows(engine: AsyncEngine, model: type, **where: str) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    async with engine.connect() as connection:
        return (await connection.execute(query)).scalar_one()


def stored_form(records: DirectoryRecords) -> DirectoryRecords:
    """Return records as load_directory gives them back: normalized, each kind ordered by id."""
    return DirectoryRecords(
        organizations=tuple(sorted(records.organizations, key=lambda o: o.id)),
        services=tuple(sorted(map(normalized, records.services), key=lambda s: s.id)),
    )


def full_records() -> DirectoryRecords:
    """Every part of the profile, some of it out of canonical order: the varied records plus an SNS-only municipal window."""
    varied = make_varied_records()
    sns_only = make_service(
        name="市 SNS 相談",
        tier="municipal",
        topics=("general", "youth", "life", "youth"),
        channels=("sns",),
        capacity=(("sns", 2),),
        areas=("271004", "131016", "271004"),
        status="inactive",
        sns_url="https://sns.example.jp/queues/city",
        phones=(),
        schedules=(
            make_schedule(byday=("SU", "MO", "SA"), opens_at="22:00", closes_at="06:00", description="深夜"),
            make_schedule(kind="closed", valid_from="2027-03-19", valid_to="2027-03-19"),
        ),
    )
    return replace(varied, services=(*varied.services, sns_only))


# --- round trip ----------------------------------------------------------------------------------


async def test_a_saved_directory_loads_back_equal_to_its_normalized_records(engine):
    records = full_records()
    assert stored_form(records) != DirectoryRecords(records.organizations, records.services)  # some of it is out of order

    summary = await save(engine, records)

    assert (summary.created, summary.updated, summary.unchanged, summary.version) == (5, 0, 0, 1)
    assert await load(engine) == stored_form(records)


async def test_one_service_and_one_organization_load_alone(engine):
    records = full_records()
    await save(engine, records)
    crisis, organization = records.services[0], records.organizations[1]

    async with db.session_factory(engine)() as session:
        assert await directory_service.load_service(session, crisis.id) == normalized(crisis)
        assert await directory_service.load_organization(session, organization.id) == organization
        assert await directory_service.load_service(session, derived_id("nobody")) is None
        assert await directory_service.service_ids_of_organization(session, ORGANIZATION_ID) == sorted(
            s.id for s in records.services if s.organization_id == ORGANIZATION_ID
        )


async def test_creating_writes_one_created_record_per_entity_with_the_new_json(engine):
    records = full_records()
    await save(engine, records, actor="import:sample.csv")

    for entity in (*records.organizations, *records.services):
        (created,) = await history(engine, entity.id)
        assert (created.field, created.actor, created.old) == ("created", "import:sample.csv", None)
        assert created.entity == ("organization" if entity in records.organizations else "service")
    crisis = records.services[0]
    (crisis_created,) = await history(engine, crisis.id)
    assert json.loads(crisis_created.new) == as_json(normalized(crisis))
    assert json.loads(crisis_created.new)["phones"][0] == {"id": crisis.phones[0].id, "number": "+81345550101", "description": "代表"}


# --- unchanged saves -----------------------------------------------------------------------------


async def test_saving_the_same_records_again_changes_nothing(engine):
    records = full_records()
    await save(engine, records)
    changes_before = await count_rows(engine, ChangeRecord)

    summary = await save(engine, records)

    assert (summary.created, summary.updated, summary.unchanged, summary.version) == (0, 0, 5, 1)
    assert not summary.changed
    assert await count_rows(engine, ChangeRecord) == changes_before
    assert await version(engine) == 1
    assert await load(engine) == stored_form(records)


async def test_records_that_differ_only_in_order_are_unchanged(engine):
    await save(engine, make_records(make_service(topics=("mind", "general"), areas=("131016", "130001"))))

    summary = await save(engine, make_records(make_service(topics=("general", "mind", "general"), areas=("130001", "131016"))))

    assert (summary.updated, summary.unchanged, summary.version) == (0, 2, 1)


# --- one changed field ---------------------------------------------------------------------------

OTHER_SCHEDULE = make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00")
OTHER_PHONE = make_phone(number="+81664440000", description="夜間")


@pytest.mark.parametrize(
    ("field", "new_value"),
    [
        ("name", "テスト相談ダイヤル（新）"),
        ("capacity", (("voice", 7),)),
        ("areas", ("130001",)),
        ("phones", (OTHER_PHONE,)),
        ("schedules", (OTHER_SCHEDULE,)),
        ("holidays", "open"),
    ],
)
async def test_changing_one_field_writes_exactly_one_change_record_with_old_and_new_json(engine, field, new_value):
    before = make_service()
    after = replace(before, **{field: new_value})
    await save(engine, make_records(before))

    summary = await save(engine, make_records(after), actor="coordinator:aiko")

    assert (summary.created, summary.updated, summary.unchanged, summary.version) == (0, 1, 1, 2)
    newest, created = await history(engine, before.id)
    assert created.field == "created"
    assert (newest.entity, newest.entity_id, newest.field, newest.actor) == ("service", before.id, field, "coordinator:aiko")
    assert json.loads(newest.old) == as_json(getattr(before, field))
    assert json.loads(newest.new) == as_json(new_value)
    assert (await load(engine)).services == (after,)


def as_json(value: object) -> object:
    """Return a record field the way a JSON reader sees it: dataclasses as objects, tuples as lists, dates as text."""
    if isinstance(value, tuple | list):
        return [as_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value if value is None or isinstance(value, str | int) else str(value)


async def test_changing_a_service_replaces_its_children_rather_than_adding_to_them(engine):
    before = make_service(channels=("voice", "sns"), capacity=(("voice", 3), ("sns", 1)), sns_url="https://sns.example.jp/q")
    await save(engine, make_records(before))

    after = replace(before, channels=("voice",), capacity=(("voice", 3),), sns_url="", areas=("130001", "271004"), phones=(OTHER_PHONE,))
    await save(engine, make_records(after))

    assert (await load(engine)).services == (after,)
    assert await count_rows(engine, ServiceChannel, service_id=before.id) == 1
    assert await count_rows(engine, ServiceArea, service_id=before.id) == 2
    assert await count_rows(engine, Phone, service_id=before.id) == 1
    changed = [c.field for c in await history(engine, before.id)][:-1]
    assert sorted(changed) == ["areas", "capacity", "channels", "phones", "sns_url"]


# --- delete --------------------------------------------------------------------------------------


async def test_delete_service_removes_its_children_and_records_deleted(engine):
    records = full_records()
    await save(engine, records)
    gone, kept = records.services[0], records.services[1]

    async with db.transaction(db.session_factory(engine)) as session:
        assert await directory_service.delete_service(session, gone.id, actor="admin:ken") is True

    for model in (ServiceTopic, ServiceChannel, ServiceArea, Phone, Schedule):
        assert await count_rows(engine, model, service_id=gone.id) == 0, model.__name__
        assert await count_rows(engine, model, service_id=kept.id) > 0, model.__name__
    assert await count_rows(engine, Service, id=gone.id) == 0
    deleted = (await history(engine, gone.id))[0]
    assert (deleted.field, deleted.actor, deleted.new) == ("deleted", "admin:ken", None)
    assert json.loads(deleted.old) == as_json(normalized(gone))
    assert await version(engine) == 2
    assert [s.id for s in (await load(engine)).services] == sorted(s.id for s in records.services if s.id != gone.id)


async def test_deleting_a_service_that_is_not_there_changes_nothing(engine):
    await save(engine, make_records(make_service()))

    async with db.transaction(db.session_factory(engine)) as session:
        assert await directory_service.delete_service(session, derived_id("nobody"), actor="admin:ken") is False

    assert await version(engine) == 1
    assert await count_rows(engine, ChangeRecord) == 2


async def test_a_deleted_service_can_be_created_again(engine):
    service = make_service()
    await save(engine, make_records(service))
    async with db.transaction(db.session_factory(engine)) as session:
        await directory_service.delete_service(session, service.id, actor="admin:ken")

    summary = await save(engine, make_records(service))

    assert (summary.created, summary.unchanged, summary.version) == (1, 1, 3)
    assert [c.field for c in await history(engine, service.id)] == ["created", "deleted", "created"]


# --- organisations -------------------------------------------------------------------------------


async def test_an_organization_is_inserted_then_updated_field_by_field(engine):
    await save(engine, make_records(make_service()))
    renamed = make_organization(name="一般社団法人 テスト相談支援会（新）", email="info@example.jp")

    summary = await save(engine, DirectoryRecords(organizations=(renamed,)), actor="import:orgs.json")

    assert (summary.created, summary.updated, summary.unchanged, summary.version) == (0, 1, 0, 2)
    async with db.session_factory(engine)() as session:
        assert await directory_service.load_organization(session, ORGANIZATION_ID) == renamed
    changes = {c.field: (json.loads(c.old), json.loads(c.new)) for c in (await history(engine, ORGANIZATION_ID))[:2]}
    assert changes == {"name": ("テスト団体 1", renamed.name), "email": ("", "info@example.jp")}


async def test_a_service_may_refer_to_an_organization_already_stored(engine):
    await save(engine, make_records(make_service()))
    second = make_service(name="テスト第二窓口")

    summary = await save(engine, DirectoryRecords(services=(second,)))

    assert (summary.created, summary.unchanged) == (1, 0)
    assert {s.name for s in (await load(engine)).services} == {"テスト相談ダイヤル", "テスト第二窓口"}


# --- versions ------------------------------------------------------------------------------------


async def test_the_version_increments_once_per_changing_save(engine):
    first, second = make_service(name="一"), make_service(name="二")
    assert await version(engine) == 0

    versions = [
        (await save(engine, make_records(first, second))).version,
        (await save(engine, make_records(first, second))).version,
        (await save(engine, make_records(replace(first, description="a"), replace(second, description="b")))).version,
        (await save(engine, make_records(replace(first, description="a"), second))).version,
        (await save(engine, DirectoryRecords(organizations=(make_organization(website="https://example.jp/"),)))).version,
    ]

    assert versions == [1, 1, 2, 3, 4]
    assert await version(engine) == 4


async def test_a_failed_transaction_leaves_version_and_history_untouched(engine):
    await save(engine, make_records(make_service()))

    with pytest.raises(RuntimeError):
        async with db.transaction(db.session_factory(engine)) as session:
            await directory_service.save_records(session, make_records(make_service(description="x")), actor="test")
            raise RuntimeError("the caller failed after saving")

    assert await version(engine) == 1
    assert await count_rows(engine, ChangeRecord) == 2
    assert (await load(engine)).services == (make_service(),)
