"""The one change path of a service (referral_directory/changes.py) against a real SQLite file: the version check that
keeps a change made from an old read from undoing someone else's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import make_organization, make_records, make_service

from referral_directory import changes
from referral_directory import service as directory_service
from referral_directory.records import derived_id
from referral_directory.staff.accounts import Role, Staff
from referral_directory.storage import db

ORG = derived_id("changes", "org")
SERVICE = make_service(name="港区 くらしの相談", organization_id=ORG, tier="municipal", areas=("131032",))
TOKYO = Staff(id="a", name="あおき", role=Role.COORDINATOR, organization_id=None, regions=("130001",))


def four(old):
    return replace(old, capacity=(("voice", 4),))


TOKYO2 = Staff(id="b", name="いしだ", role=Role.COORDINATOR, organization_id=None, regions=("130001",))


async def test_a_change_based_on_an_old_version_stores_nothing_and_says_what_changed_since(engine, regions) -> None:
    sessions = db.session_factory(engine)
    async with db.transaction(sessions) as session:
        await directory_service.save_records(session, make_records(SERVICE, organizations=(make_organization(id=ORG),)), actor="import")
        read = await changes.service_version(session, SERVICE.id)
    assert read > 0

    async with db.transaction(sessions) as session:  # the first coordinator saves from what they read
        first = await changes.store_service(
            session, regions, TOKYO, SERVICE.id, lambda old: replace(old, capacity=(("voice", 5),)), based_on=read
        )
    assert first.changed and first.version > read

    async with db.transaction(sessions) as session:  # the second read the same version: refused, with the difference
        with pytest.raises(changes.Stale) as stale:
            await changes.store_service(session, regions, TOKYO2, SERVICE.id, four, based_on=read)
    assert stale.value.status_code == 409 and stale.value.version == first.version
    assert stale.value.current.capacity == (("voice", 5),)
    assert [(c.actor, c.field, c.old, c.new) for c in stale.value.changes] == [("あおき", "capacity", '[["voice", 3]]', '[["voice", 5]]')]

    async with db.transaction(sessions) as session:
        assert (await directory_service.load_service(session, SERVICE.id)).capacity == (("voice", 5),)
        again = await changes.store_service(  # from the version they have now been shown, it goes through
            session, regions, TOKYO2, SERVICE.id, lambda old: replace(old, capacity=(("voice", 4),)), based_on=stale.value.version
        )
    assert again.changed
    async with db.transaction(sessions) as session:
        assert (await directory_service.load_service(session, SERVICE.id)).capacity == (("voice", 4),)


async def test_without_a_version_a_change_applies_to_what_is_stored_as_the_api_does(engine, regions) -> None:
    sessions = db.session_factory(engine)
    async with db.transaction(sessions) as session:
        await directory_service.save_records(session, make_records(SERVICE, organizations=(make_organization(id=ORG),)), actor="import")
    for staff, name in ((TOKYO, "港区 くらしとこころの相談"), (TOKYO2, "港区 こころの相談")):
        async with db.transaction(sessions) as session:
            await changes.store_service(session, regions, staff, SERVICE.id, lambda old, name=name: replace(old, name=name))
    async with db.transaction(sessions) as session:
        assert (await directory_service.load_service(session, SERVICE.id)).name == "港区 こころの相談"
