"""What the surge runner reads after (and while) the load runs: the service's metrics, database and Redis, and Locust's CSV.

Reading is I/O; turning what was read into figures is done by small pure functions beside each reader.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from loadtests.surge.baseline import voice_lines
from loadtests.surge.call_figures import call_reach
from loadtests.surge.gates import EndpointLatency, RunFacts, evaluate, histogram_percentile, max_concurrent, percentile
from loadtests.surge.handoff_reach import ReferralRow, handoff_reach
from loadtests.surge.record import WorldLog
from loadtests.surge.report import Summary, by_simulated_day, median_skew_minutes, profile_text, rate_buckets
from loadtests.surge.shapes import Timeline
from loadtests.surge.world import WorldParams
from referral_directory.hours import japanese_holidays
from referral_directory.interchange.hsds import parse_hsds
from referral_directory.regions import build_regions
from referral_directory.snapshot import Snapshot, build_snapshot
from routing.live.keys import SLOTS_PATTERN, WAITING_KEY, slot_key

if TYPE_CHECKING:
    from loadtests.harness.servers import Processes
    from loadtests.surge.callbacks import CallbackLegs
    from loadtests.surge.chat_drill import ChatReading

VOICE_SLOTS = slot_key("*", "voice")  # every service's voice slot set
CHAT_SLOTS = slot_key("*", "sns")  # every service's chat slot set
SLOTS_PREFIX = SLOTS_PATTERN.removesuffix("*")  # a slot set's key is this, its service id, ":" and its channel


@dataclass(frozen=True)
class ServiceLine:
    service_id: str
    name: str
    tier: str
    capacity: int  # voice
    numbers: tuple[str, ...]
    chat_capacity: int = 0  # capacity_sns
    console: bool = False  # answers chats in tsunagu's console (channel sns, no sns_url)


def services_from_hsds(path: Path) -> dict[str, ServiceLine]:
    """Return every service with its voice and chat capacity and numbers, from `tsunagu directory export --format hsds`."""
    result = parse_hsds(json.loads(path.read_text(encoding="utf-8")))
    if result.problems:
        raise RuntimeError(f"the exported directory does not read back: {result.problems[0]}")
    return {
        s.id: ServiceLine(
            s.id,
            s.name,
            s.tier,
            dict(s.capacity).get("voice", 0),
            tuple(p.number for p in s.phones),
            dict(s.capacity).get("sns", 0),
            "sns" in s.channels and not s.sns_url,
        )
        for s in result.records.services
    }


def service_of_number(services: Mapping[str, ServiceLine]) -> dict[str, str]:
    return {number: s.service_id for s in services.values() for number in s.numbers}


def directory_snapshot(path: Path, year: int) -> Snapshot:
    """Return the routing snapshot of the exported directory, built as the service builds its own for a clock in `year`."""
    records = parse_hsds(json.loads(path.read_text(encoding="utf-8"))).records
    holidays = japanese_holidays(year - 1, year + 5)
    return build_snapshot(records, build_regions(), version=0, holidays=holidays, built_at=datetime.now(UTC))


# -- /metrics --

SERVER_CHAT_HISTOGRAMS = {"tsunagu_line_webhook_seconds_bucket": "webhook", "tsunagu_chat_first_reply_seconds_bucket": "first-reply"}


@dataclass(frozen=True)
class MetricsView:
    calls: Mapping[str, float]  # outcome → tsunagu_calls_total
    fallbacks: float  # tsunagu_webhook_fallbacks_total, all steps
    webhook_buckets: Mapping[str, tuple[tuple[float, float], ...]]  # step → cumulative (le seconds, count)
    # LINE's webhook acknowledgement is kept as step "webhook" (its path's last segment), the first automated reply as
    # "first-reply" (from accepting the event to the answer sent, as the service sees it).
    queue_length: float
    # What overload cost, by counter: "fallback STEP (REASON)", "shed STEP", "record kept in WHERE", "status callback failed"
    overload: Mapping[str, float] = field(default_factory=dict)


OVERLOAD_COUNTERS = {
    "tsunagu_webhook_fallbacks_total": lambda labels: f"fallback {labels['step']} ({labels.get('reason', '?')})",
    "tsunagu_webhook_sheds_total": lambda labels: f"shed {labels['step']}",
    "tsunagu_call_records_kept_total": lambda labels: f"record kept in {labels['where']}",
    "tsunagu_status_callback_failures_total": lambda _labels: "status callback failed",
    "tsunagu_call_records_retries_total": lambda _labels: "record drainer rounds failed",
}


def parse_metrics(text: str) -> MetricsView:
    """Return the figures the surge reads from tsunagu's Prometheus exposition."""
    calls: dict[str, float] = defaultdict(float)
    fallbacks = queue = 0.0
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    overload: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in OVERLOAD_COUNTERS:
                overload[OVERLOAD_COUNTERS[sample.name](sample.labels)] += sample.value
            if sample.name == "tsunagu_calls_total":
                calls[sample.labels["outcome"]] += sample.value
            elif sample.name == "tsunagu_webhook_fallbacks_total":
                fallbacks += sample.value
            elif sample.name == "tsunagu_webhook_seconds_bucket":
                buckets[sample.labels["step"]].append((float(sample.labels["le"]), sample.value))
            elif sample.name in SERVER_CHAT_HISTOGRAMS:
                buckets[SERVER_CHAT_HISTOGRAMS[sample.name]].append((float(sample.labels["le"]), sample.value))
            elif sample.name == "tsunagu_queue_length":
                queue = sample.value
    return MetricsView(dict(calls), fallbacks, {k: tuple(sorted(v)) for k, v in buckets.items()}, queue, dict(overload))


def metrics_growth(before: MetricsView, after: MetricsView) -> tuple[dict[str, float], float]:
    """Return (calls by outcome, fallbacks) counted between two scrapes."""
    calls = {k: v - before.calls.get(k, 0.0) for k, v in after.calls.items() if v - before.calls.get(k, 0.0)}
    return calls, after.fallbacks - before.fallbacks


def overload_growth(before: MetricsView, after: MetricsView) -> dict[str, float]:
    """Return the overload counters that grew between two scrapes, and by how much."""
    grown = {k: v - before.overload.get(k, 0.0) for k, v in after.overload.items()}
    return {k: v for k, v in sorted(grown.items()) if v}


def histogram_p99(buckets: tuple[tuple[float, float], ...], before: tuple[tuple[float, float], ...] = ()) -> float | None:
    """Return the upper bound (ms) of the bucket holding the 99th percentile, from cumulative buckets."""
    earlier = dict(before)
    counts = [(le, n - earlier.get(le, 0.0)) for le, n in buckets]
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return None
    return next(le * 1000 for le, n in counts if n >= 0.99 * total)


# -- the service's database (SQLite or PostgreSQL) --


def _rows(database: str, sql: str) -> list[tuple]:
    """Run one read-only query on the service's database: a SQLite file's path, or a postgresql:// URL."""
    if database.startswith("postgresql://"):
        import asyncio

        import asyncpg

        async def fetch() -> list[tuple]:
            connection = await asyncpg.connect(database)
            try:
                return [tuple(row) for row in await connection.fetch(sql)]
            finally:
                await connection.close()

        return asyncio.run(fetch())
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql).fetchall()


def recorded_outcomes(database: str) -> dict[str, int]:
    """Return call_record rows by outcome."""
    return dict(_rows(database, "SELECT outcome, count(*) FROM call_record GROUP BY outcome"))


def callback_requests(database: str) -> dict[str, int]:
    """Return callback requests by status (pending, calling, connected, failed)."""
    return dict(_rows(database, "SELECT status, count(*) FROM callback_request GROUP BY status"))


def referrals_by_status(database: str) -> dict[str, int]:
    """Return referral rows by kind and status ("refer accepted": n)."""
    return {
        f"{kind} {status}": n for kind, status, n in _rows(database, "SELECT kind, status, count(*) FROM referral GROUP BY kind, status")
    }


def referral_rows(database: str) -> list[ReferralRow]:
    """Return every referral with its tiers, status and times (handoff_reach counts them)."""
    sql = "SELECT case_id, kind, from_tier, to_tier, status, created_at, deadline_at, accepted_at, contacted_at FROM referral"
    return [ReferralRow(*row[:5], *(_instant(t) for t in row[5:])) for row in _rows(database, sql)]


def _instant(value: str | datetime | None) -> datetime | None:
    """Return a stored time as an aware datetime: SQLite gives text, PostgreSQL a datetime; both without a zone, in UTC."""
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- the service's Redis --


def slot_sets(redis: Redis, pattern: str = SLOTS_PATTERN) -> dict[str, int]:
    """Return every non-empty slot set and how many leases it holds."""
    keys = sorted(redis.scan_iter(match=pattern, count=1000))
    if not keys:
        return {}
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.zcard(key)
    return {key: n for key, n in zip(keys, pipe.execute(), strict=True) if n}


def lasting_leases(redis: Redis, pattern: str = SLOTS_PATTERN, *, apart: float = 3.0) -> dict[str, int]:
    """Return every slot set holding the same lease in two readings `apart` seconds apart, and how many.

    After the drain the service still tries the callbacks left booked: each try claims a line and
    gives it back as soon as the stand-in for Twilio refuses the call, and the next try claims it
    again with a new expiry. A single reading can catch such a try; a line held, for real, is there
    in both with the same holder and expiry.
    """

    def holders() -> dict[str, set[tuple[str, float]]]:
        keys = sorted(redis.scan_iter(match=pattern, count=1000))
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.zrange(key, 0, -1, withscores=True)
        return {key: set(leases) for key, leases in zip(keys, pipe.execute(), strict=True) if leases}

    first = holders()
    if not first:
        return {}
    time.sleep(apart)
    second = holders()
    return {key: n for key, leases in first.items() if (n := len(leases & second.get(key, set())))}


def service_in(key: str) -> str:
    """Return the service id in a slot set key (routing.live.keys.slot_key: the prefix, the service id, ":" and the channel)."""
    return key.removeprefix(SLOTS_PREFIX).rsplit(":", 1)[0]


@dataclass
class Sampler:
    """Samples the service's live state in Redis every `period` seconds: slots held per service, and the queue."""

    redis: Redis
    period: float = 0.5
    most_held: dict[str, int] = field(default_factory=dict)
    most_chats_held: dict[str, int] = field(default_factory=dict)  # service → most chat slots held at once
    peak_queue: int = 0
    series: list[tuple[float, int, int, int]] = field(default_factory=list)  # (epoch, waiting, slots held, chat slots held)
    errors: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="redis-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.sample()
            except Exception as error:  # a sample lost is not a failed run; counted and shown
                self.errors[type(error).__name__] += 1

    def sample(self) -> None:
        held = slot_sets(self.redis, VOICE_SLOTS)
        chats = slot_sets(self.redis, CHAT_SLOTS)
        waiting = int(self.redis.zcard(WAITING_KEY))
        for most, sets in ((self.most_held, held), (self.most_chats_held, chats)):
            for key, n in sets.items():
                service = service_in(key)
                most[service] = max(most.get(service, 0), n)
        self.peak_queue = max(self.peak_queue, waiting)
        self.series.append((time.time(), waiting, sum(held.values()), sum(chats.values())))


# -- Locust's CSV --


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def locust_latency(stats_csv: Path) -> list[EndpointLatency]:
    """Return each named request's count, failures and p50/p95/p99 (ms) from Locust's *_stats.csv."""
    with stats_csv.open(newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["Name"] != "Aggregated"]
    return [
        EndpointLatency(
            row["Name"], int(row["Request Count"]), int(row["Failure Count"]), _number(row["50%"]), _number(row["95%"]), _number(row["99%"])
        )
        for row in rows
    ]


def locust_failures(failures_csv: Path) -> dict[str, int]:
    """Return Locust's failures as "name: error" → occurrences."""
    if not failures_csv.exists():
        return {}
    with failures_csv.open(newline="") as file:
        return {f"{row['Name']}: {row['Error']}": int(row["Occurrences"]) for row in csv.DictReader(file)}


# -- CPU --


class CpuMeter:
    """CPU seconds each started process (with its children) uses from now on: who had the machine's cores.

    The drill's own process is metered too, without its children: it serves the fake LINE platform
    and the stand-in for Twilio's API, which take a share of the cores under load.
    """

    SELF = "drill (fake LINE, Twilio stand-in)"

    def __init__(self, processes: Processes) -> None:
        self.processes = {name: process.pid for name, process, _ in processes.started} | processes.daemons
        self.start = self.read()
        self.last = dict(self.start)

    def sample(self) -> None:
        """Read again (often: a process that has exited can no longer be read)."""
        self.last |= self.read()

    def read(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, pid in self.processes.items():
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            total = 0.0
            for process in tree:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            used[name] = total
        times = psutil.Process().cpu_times()
        used[self.SELF] = times.user + times.system
        return used

    def report(self, seconds: float) -> str:
        """Return a line with the CPU seconds used since the meter started, per process, over `seconds` of wall time."""
        self.sample()
        used = {name: self.last[name] - self.start[name] for name in self.start}
        parts = ", ".join(f"{name} {cpu:.0f} s" for name, cpu in sorted(used.items(), key=lambda item: -item[1]) if cpu >= 0.5)
        return f"CPU used over {seconds:.0f} s of load ({psutil.cpu_count()} CPUs): {parts}"


# -- judging --


@dataclass
class RunRecord:
    """Everything a finished run left to read."""

    run: dict
    timeline: Timeline
    out: Path
    log: WorldLog
    legs: CallbackLegs
    sampler: Sampler
    services: Mapping[str, ServiceLine]
    before: MetricsView
    after: MetricsView
    redis: Redis
    database: str  # a SQLite file's path, or a postgresql:// URL
    p99_ms: float
    notes: list[str]
    desk_actions: Mapping[str, int]
    chats: ChatReading | None = None  # None: the run had no chats
    directory: Path | None = None  # the exported directory (HSDS), for the single-number baseline; None: no baseline


def summarise(r: RunRecord) -> Summary:
    """Read everything the run left, judge it with the gates, and return the summary."""
    calls = r.log.calls()
    inbound = [c for c in calls if c["kind"] == "inbound"]
    outcomes = Counter(c["outcome"] for c in inbound)
    leg_rows = [
        EndpointLatency(
            name,
            len(ms),
            sum(n for what, n in r.legs.failures.items() if what.startswith(name + ":")),
            percentile(ms, 0.5),
            percentile(ms, 0.95),
            percentile(ms, 0.99),
        )
        for name, ms in sorted(r.legs.latency.items())
    ]
    latency = [*locust_latency(r.out / "locust_stats.csv"), *leg_rows]
    metric_calls, fallbacks = metrics_growth(r.before, r.after)
    concurrency = max_concurrent(r.log.dial_events(), service_of_number(r.services))
    names = {s.service_id: s.name for s in r.services.values()}
    facts = RunFacts(
        failures={**locust_failures(r.out / "locust_failures.csv"), **r.legs.failures},
        latency=[e for e in latency if e.name.startswith("/twilio/")],
        webhook_p99_ms=histogram_percentile(webhook_times(r), 0.99),
        webhook_fallbacks=fallbacks,
        degraded=Counter(c["degraded_from"] for c in inbound if c["degraded_from"]),
        world_outcomes=outcomes,
        recorded_outcomes=recorded_outcomes(r.database),
        metric_outcomes=metric_calls,
        concurrency=concurrency,
        sampled_held=r.sampler.most_held,
        capacities={s.service_id: s.capacity for s in r.services.values()},
        held_after_drain=lasting_leases(r.redis, VOICE_SLOTS),
        p99_target_ms=r.p99_ms,
        names=names,
        chats=r.chats.facts if r.chats is not None else None,
    )
    notes = list(r.notes)
    if r.sampler.errors:
        notes.append(f"Redis samples lost: {dict(r.sampler.errors)}")
    lags = r.log.loop_lags()
    if lags:
        notes.append(
            f"Locust's event loop woke sleepers up to {max(lags):.2f} s late "
            f"(over 0.5 s in {sum(1 for x in lags if x > 0.5)} of {len(lags)} s)"
        )
    late = [c["late"] for c in inbound]
    server_p99 = {step: histogram_p99(buckets, r.before.webhook_buckets.get(step, ())) for step, buckets in r.after.webhook_buckets.items()}
    attempts = r.log.attempts()
    chats = None
    if r.chats is not None:
        first_reply_ms = server_p99.pop("first-reply", None)
        chats = {**r.chats.figures, "server_first_reply_p99_s_at_most": None if first_reply_ms is None else first_reply_ms / 1000}
    return Summary(
        run=r.run,
        rates=rate_buckets(attempts, r.timeline),
        days=by_simulated_day(attempts, r.timeline),
        late_starts=(sum(1 for x in late if x > 1), max(late, default=0.0)),
        world_outcomes=outcomes,
        recorded_outcomes=facts.recorded_outcomes,
        metric_outcomes=metric_calls,
        callback_legs=Counter(c["outcome"] for c in calls if c["kind"] == "callback"),
        callback_requests=callback_requests(r.database),
        referrals=referrals_by_status(r.database),
        desk_actions=r.desk_actions,
        reach=handoff_reach(referral_rows(r.database), as_of=r.timeline.simulated(time.time())),
        latency=latency,
        server_p99=server_p99,
        peak_queue=r.sampler.peak_queue,
        concurrency=concurrency,
        sampled_held=r.sampler.most_held,
        capacities=facts.capacities,
        names=names,
        tiers={s.service_id: s.tier for s in r.services.values()},
        held_after_drain=facts.held_after_drain,
        clock_skew_minutes=median_skew_minutes(r.log.clock_samples()),
        gates=evaluate(facts),
        notes=notes,
        call_reach=read_call_reach(r, calls),
        chats=chats,
        overload=overload_figures(facts, r, world_total=len(inbound)),
    )


def overload_figures(facts: RunFacts, r: RunRecord, *, world_total: int) -> dict:
    """Return what the run cost under load: HTTP 500s, records lost, slots left held, and every fallback and shed counted."""
    return {
        "http_500": sum(n for what, n in facts.failures.items() if "500" in what),
        "records_lost": world_total - sum(facts.recorded_outcomes.values()),
        "held_after_drain": sum(facts.held_after_drain.values()),
        "unfinished_dials": facts.concurrency.unfinished,
        "degraded_answers_seen": dict(facts.degraded),
        "counters": overload_growth(r.before, r.after),
    }


def webhook_times(r: RunRecord) -> Counter:
    """Return every webhook response time of the run (Locust's callers and the callback legs), whole ms → requests."""
    times = Counter(r.log.latency())
    times.update(round(ms) for values in r.legs.latency.values() for ms in values)
    return times


def read_call_reach(r: RunRecord, calls: list[dict]) -> dict | None:
    """Return whom the calls reached (call_figures.call_reach) against the exported directory's lines; None without it."""
    if r.directory is None:
        return None
    snapshot = directory_snapshot(r.directory, r.timeline.calendar.start.year)
    world = WorldParams.from_json(r.run["world"])
    return call_reach(calls, voice_lines(snapshot), snapshot.holidays, r.timeline, world, seed=r.run.get("seed", 1))


def write_reports(r: RunRecord, summary: Summary) -> None:
    """Write summary.txt and summary.json, the world's calls (calls.jsonl) and chats (chats.jsonl, made-up LINE user ids),
    the Redis samples (samples.csv) and the profile's summary."""
    (r.out / "summary.txt").write_text(summary.text(), encoding="utf-8")
    (r.out / "summary.json").write_text(json.dumps(summary.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    with (r.out / "calls.jsonl").open("w", encoding="utf-8") as file:
        file.writelines(json.dumps(call, ensure_ascii=False) + "\n" for call in r.log.calls())
    if r.chats is not None:
        with (r.out / "chats.jsonl").open("w", encoding="utf-8") as file:
            file.writelines(json.dumps(chat, ensure_ascii=False) + "\n" for chat in r.log.chats())
    with (r.out / "samples.csv").open("w", encoding="utf-8") as file:
        file.write("epoch,waiting,slots_held,chat_slots_held\n")
        file.writelines(f"{t:.2f},{waiting},{held},{chats}\n" for t, waiting, held, chats in r.sampler.series)
    raw = r.out / "profile.raw"
    if raw.exists():
        (r.out / "profile.txt").write_text(profile_text(raw.read_text()), encoding="utf-8")
