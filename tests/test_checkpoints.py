"""SQLite's write-ahead log: the service's commits leave it to a background checkpoint every second.

Seen from outside through the database file alone (a copy without its -wal file, as a careless
backup would take): what it holds shows whether a commit or the checkpoint copied the log in.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from running import make_settings, running_app

from referral_directory.storage import db
from routing import migrations

ROWS = 1200  # about 1,200 pages of log: past SQLite's own checkpoint at 1,000


async def fill(engine, rows: int = ROWS) -> None:
    async with engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    for _ in range(rows):  # one commit each, as webhooks commit
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(4000))")


def rows_in_file_alone(path: Path, tmp_path: Path) -> int:
    copy = tmp_path / "file-alone.db"
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as connection:
        found = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'filler'").fetchone()[0]
        return connection.execute("SELECT count(*) FROM filler").fetchone()[0] if found else 0


async def test_commits_checkpoint_only_when_asked_to_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "service.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}", checkpoint_in_background=True)
    try:
        await migrations.migrate(engine)
        await db.checkpoint(engine)
        await fill(engine)
        assert rows_in_file_alone(path, tmp_path) == 0  # no commit copied the log in
        await db.checkpoint(engine)
        assert rows_in_file_alone(path, tmp_path) == ROWS
    finally:
        await engine.dispose()


async def test_other_engines_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")  # a CLI command: nothing checkpoints for it
    try:
        await fill(engine)
        assert rows_in_file_alone(path, tmp_path) > 0
    finally:
        await engine.dispose()


async def test_the_running_service_checkpoints_every_second(tmp_path: Path, redislite_url: str, regions) -> None:
    async with running_app(make_settings(tmp_path, redislite_url), regions) as app:
        await fill(app.runtime.engine, rows=50)
        path = tmp_path / "tsunagu.db"
        for _ in range(50):  # the loop runs every second: give it a few
            if rows_in_file_alone(path, tmp_path) == 50:
                break
            await asyncio.sleep(0.1)
        assert rows_in_file_alone(path, tmp_path) == 50
