"""A throwaway PostgreSQL cluster (initdb + pg_ctl on a free port), for the tests and the surge drill.

Debian's PostgreSQL server binaries live under /usr/lib/postgresql/VERSION/bin. PostgreSQL refuses
to run as root, so as root the cluster runs as the `postgres` user (through runuser) in a folder
it owns, outside any private temp dir.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# For a benchmark: every commit is written to the WAL and the WAL to disk (fsync on), but a commit
# does not wait for that flush (synchronous_commit=off) — the same trade as SQLite's WAL mode with
# synchronous=NORMAL: never corrupt, the last commits before a power cut may be lost.
DURABLE = "-c synchronous_commit=off"
# For tests: nothing reaches the disk in any order that survives a crash; fastest.
SCRATCH = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why."""


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing: cannot start PostgreSQL as a non-root user")
    return [runuser, "-u", "postgres", "--", *command]


def _run(*command: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_postgres([str(c) for c in command]), capture_output=True, text=True, timeout=60)


class ThrowawayPostgres:
    """Start with `start()`, read `url`, end with `stop()` (which deletes the cluster)."""

    def __init__(self, options: str = SCRATCH) -> None:
        self.options = options
        self.bin_dir = _bin_dir()
        self.folder: Path | None = None
        self.url = ""
        self.version = self.bin_dir.parent.name if self.bin_dir else ""

    def start(self) -> str:
        """Create and start the cluster; return its postgresql:// URL. PostgresUnavailable says why it cannot."""
        if self.bin_dir is None:
            raise PostgresUnavailable("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH)")
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no postgres user to run the cluster as") from None
        self.folder = Path(tempfile.mkdtemp(prefix="tsunagu-pg-"))
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        data, port = self.folder / "data", _free_port()
        initdb = _run(self.bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if initdb.returncode != 0:
            self._remove()
            raise PostgresUnavailable(f"PostgreSQL is installed but initdb failed here: {initdb.stderr.strip()[:300]}")
        options = f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 {self.options}"
        log = self.folder / "server.log"
        started = _run(self.bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "30", "start")
        if started.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            self._remove()
            raise PostgresUnavailable(
                f"PostgreSQL is installed but its server did not start here: {(started.stderr or text).strip()[:300]}"
            )
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self.url

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (its first line of postmaster.pid), while it runs."""
        try:
            return int((self.folder / "data" / "postmaster.pid").read_text().split()[0]) if self.folder else None
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.folder is not None and self.bin_dir is not None:
            _run(self.bin_dir / "pg_ctl", "-D", self.folder / "data", "-m", "immediate", "-w", "stop")
        self._remove()

    def _remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
