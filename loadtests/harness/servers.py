"""Processes for the load tests and benchmarks: redis-server, tsunagu itself, each in its own process group.

Shared by the webhook benchmark (benchmarks/webhook.py), the multi-worker benchmark and the Locust surge runner, so that every
run starts the service the same way an operator would (`tsunagu serve`), on a throwaway var dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_SERVER = "/usr/bin/redis-server"
BENCH_TOKEN = "bench-auth-token-0123456789abcdef"
BENCH_SECRET_KEY = "bench-secret-key-0123456789abcdef-not-for-production"


class Stop(Exception):
    """SIGTERM, turned into an exception so that the cleanup runs."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    """Return (status, body) of a GET, HTTP errors included; /metrics gets the run's metrics token."""
    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"} if url.endswith("/metrics") else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Processes:
    """Every process a run started, each in its own process group, stopped in reverse order."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.started = tmp, []
        self.cleanups: list[Callable[[], None]] = []  # for what runs as a daemon (a PostgreSQL cluster), run after the processes stop
        self.daemons: dict[str, int] = {}  # name → pid of a daemon the run started (its CPU is metered too)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process, log))
        return process

    def check_alive(self) -> None:
        for name, process, _ in self.started:
            if process.poll() is not None:
                tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop_all(self) -> None:
        for _name, process, log in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
        for cleanup in reversed(self.cleanups):
            cleanup()


def wait_until(what: str, ready: Callable[[], bool], processes: Processes, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        with contextlib.suppress(OSError, ConnectionError):
            if ready():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def start_redis(processes: Processes) -> str:
    """Start /usr/bin/redis-server on a unix socket in the run's temp dir (no persistence); return its URL."""
    socket_path = processes.tmp / "redis.sock"
    processes.start(
        "redis",
        [REDIS_SERVER, "--port", "0", "--unixsocket", str(socket_path), "--save", "", "--appendonly", "no", "--dir", str(processes.tmp)],
    )
    wait_until("redis", lambda: bool(Redis(unix_socket_path=str(socket_path)).ping()), processes, 20)
    return f"unix://{socket_path}"


def start_postgres(processes: Processes) -> str:
    """Start a throwaway PostgreSQL cluster for the run (pg_cluster.DURABLE), stopped and deleted with the processes."""
    from loadtests.harness.pg_cluster import DURABLE, PostgresUnavailable, ThrowawayPostgres

    cluster = ThrowawayPostgres(DURABLE)
    try:
        url = cluster.start()
    except PostgresUnavailable as why:
        raise RuntimeError(str(why)) from None
    processes.cleanups.append(cluster.stop)
    if cluster.pid is not None:
        processes.daemons["postgres"] = cluster.pid
    return url


def tsunagu_env(
    processes: Processes, redis_url: str, base: str = "", env: dict[str, str] | None = None, *, name: str = "tsunagu"
) -> dict[str, str]:
    """Return the environment of a tsunagu process (`serve` or a CLI command) on the run's var dir and Redis.

    The demo directory is loaded into an empty database; env entries override the defaults
    (TSUNAGU_DATABASE_URL to bring an imported directory, TSUNAGU_CLOCK for a surge drill, ...).
    """
    var = processes.tmp / f"{name}-var"
    var.mkdir(exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_", "PROMETHEUS_"))}
    full |= {
        "TSUNAGU_VAR_DIR": str(var),
        "TSUNAGU_REDIS_URL": redis_url,
        "TWILIO_AUTH_TOKEN": BENCH_TOKEN,
        "TSUNAGU_METRICS_TOKEN": BENCH_TOKEN,
        "TSUNAGU_SECRET_KEY": BENCH_SECRET_KEY,  # with a Twilio token, `tsunagu serve` refuses the development secret
        "TSUNAGU_PUBLIC_URL": base,
        "TSUNAGU_LOG_LEVEL": "WARNING",
        "TSUNAGU_LOAD_DEMO_DIRECTORY": "true",
    }
    return full | (env or {})


def start_tsunagu(
    processes: Processes, redis_url: str, *, workers: int = 1, env: dict[str, str] | None = None, name: str = "tsunagu"
) -> tuple[str, subprocess.Popen]:
    """Run the real `tsunagu serve` on a fresh var dir (tsunagu_env) and wait for GET /readyz; return (base URL, process)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = processes.start(
        name,
        [str(BIN / "tsunagu"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        tsunagu_env(processes, redis_url, base, env, name=name),
    )
    wait_until(f"{name} (GET /readyz)", lambda: get(base + "/readyz")[0] == 200, processes)
    return base, server


def summary(checks: list[tuple[str, bool, str]]) -> bool:
    """Print a benchmark's summary, one target per line with its figure below, in the form loadtests/bench reads; True if all passed."""
    print("\nsummary")
    for what, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}\n        {detail}")
    return all(ok for _, ok, _ in checks)


def run_with_processes(run: Callable[[Processes], bool], *, prefix: str, check: bool) -> int:
    """Run a benchmark in a temp dir with every process stopped at the end (also on Ctrl-C, SIGTERM or an error).

    Return the exit code: 0 when it passed (or check is off), 1 when a target failed, 2 when it
    could not run, 130 when interrupted.
    """

    def stop(_signum, _frame):  # type: ignore[no-untyped-def]
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (a background job)
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        processes = Processes(Path(name))
        try:
            passed = run(processes)
        except (KeyboardInterrupt, Stop):
            print("\ninterrupted", file=sys.stderr)
            return 130
        except (RuntimeError, subprocess.CalledProcessError) as error:
            print(f"\nrun failed: {error}", file=sys.stderr)
            return 2
        finally:
            processes.stop_all()
    return 0 if passed or not check else 1
