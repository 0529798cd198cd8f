"""Benchmark: many concurrent simulated calls through two uvicorn workers sharing one real Redis.

Run from the repository root:

    .venv/bin/python -m loadtests.benchmarks.workers [--calls N] [--in-flight K] [--seed S] [--check]

(about 50 s with the defaults: 200 calls, 50 in flight; see --help for the timings.)

What it starts (all stopped at the end, also on Ctrl-C or an error), through loadtests/harness/servers.py:
- /usr/bin/redis-server on a unix socket in a temp dir (no persistence);
- a small directory written as a CSV file and imported with the real CLI
  (`tsunagu directory import`, same environment as the server, TSUNAGU_LOAD_DEMO_DIRECTORY=false):
  five services open 24 h every day with 1–3 voice lines each — two national windows and a
  national crisis line, the Tokyo prefecture window and the Shinjuku ward window (10 lines);
- `tsunagu serve --workers 2` on that database and that Redis.

The calls: --calls simulated callers, --in-flight at a time (the first wave rings in over --ramp
seconds, then a new call starts as soon as one ends), each signed exactly as Twilio signs
(twilio's RequestValidator over TSUNAGU_PUBLIC_URL + path and the POST params) by the project's
own call simulator (routing/telephony/simulator.py; TimedCallRun below subclasses its per-call
runner to make dials and waits take real time), which follows the TwiML verb by verb and refuses
invalid TwiML. Every request goes on a new connection, as Twilio's come from many hosts,
so the steps of one call land on either worker. The mix (seeded): topic general 80 %, mind 10 %,
crisis 10 %; a Shinjuku postal code 60 %, another Tokyo one 25 %, "#" (unknown) 15 %. Each dialled
window answers after 0.05–0.3 s and talks for --hold (0.5–2 s), or is busy (8 %), rings out (7 %)
or fails (2 %); 3 % of callers hang up while a window rings (only the status callback tells the
service), and a waiting caller gives up with 3 % chance at each retry.

Time is compressed, and only there: a window that rings out rings for 0.5 s instead of the Dial's
20 s timeout, and a caller in the queue waits --wait seconds (default 1) where the TwiML says 20 s
(the <Gather> of the callback offer, or a <Pause>) before asking again; the other prompts take no
time. After nine retries the service sends a caller to the 24-hour fallback line (MAX_WAITS).

Measured from outside:
- per service number, the most dials ringing or talking at once (the bench's own bookkeeping:
  counted from the moment the Dial TwiML arrives until the dial ends, before its action is sent,
  which lies inside the service's own hold of the slot) against the service's capacity;
- the service's Redis slot sets (tsunagu:slots:{service_id}:voice), sampled every 10 ms, and once
  more when every call has ended and its status callback was answered: all must then be empty,
  no caller left in a queue, and the service must have counted every call's end (tsunagu_calls_total);
- webhook latency (p50/p95/p99, by the client, signing and a new TCP connection included);
- failed requests (non-200 or no answer), invalid TwiML, and tsunagu_webhook_fallbacks_total,
  which must not grow; the requests each worker answered (its tsunagu_webhook_seconds count).
--check exits 1 when a target fails: capacity never exceeded across workers, no slot held after
the drain, no failed request / invalid TwiML / fallback, both workers answered (each >= 10 % of
the webhooks). Latency has no target here (benchmarks/webhook.py measures it at a fixed rate).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from redis.asyncio import Redis

from loadtests.harness.servers import BENCH_TOKEN, BIN, Processes, get, run_with_processes, start_redis, start_tsunagu, tsunagu_env
from referral_directory.interchange.sheet import COLUMNS
from referral_directory.records import derived_id
from routing.live.keys import WAITING_KEY, queue_key, slot_key
from routing.settings import Settings
from routing.telephony.simulator import CallEnded, Caller, CallResult, CallRun, TwilioSimulator, twilio_sid
from routing.telephony.simulator_twiml import int_attribute
from routing.telephony.webhooks import CALLBACK_URL, WAIT_URL

FALLBACK_NUMBER = Settings().fallback_number  # what the server dials when it degrades or the wait is too long
SHINJUKU_POSTAL, TOKYO_POSTAL = "1600022", "1000001"  # 新宿区新宿, 千代田区千代田
TOPIC_KEYS = {"general": "9", "mind": "2", "crisis": "3"}
RING_OUT_SECONDS = 0.5  # a window that never answers: the Dial's 20 s timeout, compressed
FALLBACKS = re.compile(r"^tsunagu_webhook_fallbacks_total\{[^}]*\} ([0-9.e+]+)$", re.M)
WEBHOOK_BUCKETS = re.compile(r'^tsunagu_webhook_seconds_bucket\{(?=[^}]*le="([^"]+)")[^}]*\} ([0-9.e+]+)$', re.M)
CALLS_ENDED = re.compile(r'^tsunagu_calls_total\{outcome="([^"]+)",topic="[^"]*"\} ([0-9.e+]+)$', re.M)


@dataclass(frozen=True)
class BenchService:
    """One window of the bench directory."""

    label: str  # for the printed table
    name: str
    tier: str
    area: str  # lgcode, 000000 for the whole country
    topics: str
    phone: str
    capacity: int

    @property
    def id(self) -> str:
        return derived_id("bench-workers", self.name)


SERVICES = (
    BenchService("national A", "全国 孤独・孤立 相談窓口A", "national", "000000", "general mind", "+81345551001", 3),
    BenchService("national B", "全国 孤独・孤立 相談窓口B", "national", "000000", "general mind", "+81345551002", 2),
    BenchService("national crisis", "全国 いのちの危機ダイヤル", "national", "000000", "crisis", "+81345551003", 2),
    BenchService("Tokyo prefecture", "東京都 総合相談窓口", "prefecture", "130001", "general mind", "+81345551004", 2),
    BenchService("Shinjuku ward", "新宿区 くらしとこころの相談", "municipal", "131041", "general mind", "+81345551005", 1),
)
BY_PHONE = {s.phone: s for s in SERVICES}


def write_directory(path: Path) -> None:
    """Write the bench directory as a directory CSV (the columns coordinators use), open 24 h every day."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        for s in SERVICES:
            writer.writerow(
                dict.fromkeys(COLUMNS, "")
                | {
                    "service_id": s.id,
                    "organization_name": f"ベンチ相談会 {s.name}（架空）",
                    "service_name": s.name,
                    "tier": s.tier,
                    "topics": s.topics,
                    "channels": "voice",
                    "capacity_voice": str(s.capacity),
                    "holidays": "open",
                    "status": "active",
                    "areas": s.area,
                    "phones": s.phone,
                    "hours": "24h",
                }
            )


@dataclass
class Ledger:
    """Dials ringing or talking per number right now, and the most seen at once (one event loop: no lock needed)."""

    live: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)

    def start(self, number: str) -> None:
        self.live[number] += 1
        self.peak[number] = max(self.peak[number], self.live[number])

    def end(self, number: str) -> None:
        self.live[number] -= 1


@dataclass(frozen=True)
class Behaviour:
    """Timing and odds of the simulated callers and windows (seconds are real seconds)."""

    hold: tuple[float, float] = (0.5, 2.0)
    wait: float = 1.0
    busy: float = 0.08
    ring_out: float = 0.07
    fail: float = 0.02
    hang_up_ringing: float = 0.03
    give_up_waiting: float = 0.03


class TimedCallRun(CallRun):
    """A simulated call in real time: dials ring and talk for real, queue waits are compressed, all dials counted."""

    def __init__(self, sim: BenchSimulator, caller: Caller, sid: str, rng: random.Random) -> None:
        super().__init__(sim, caller, sid)
        self.bench, self.rng = sim, rng
        self.dials: list[tuple[str, str]] = []  # (number, outcome)
        self.gave_up = self.hung_up_ringing = False

    async def verb_dial(self, el: ET.Element, url: str, queue: object) -> object:
        numbers = [(child.text or "").strip() for child in el] if len(el) else [(el.text or "").strip()]
        if len(numbers) != 1 or not numbers[0]:
            return await super().verb_dial(el, url, queue)  # not what tsunagu sends: let the simulator judge it
        number, b = numbers[0], self.bench.behaviour
        if number not in BY_PHONE:  # the 24-hour fallback line: answers, not counted against the directory
            self.dials.append((number, "completed"))
            return await super().verb_dial(el, url, queue)
        odds = {"busy": b.busy, "no-answer": b.ring_out, "failed": b.fail, "hangup": b.hang_up_ringing}
        outcome = self.rng.choices([*odds, "completed"], [*odds.values(), 1 - sum(odds.values())])[0]
        ring = {"busy": 0.05, "no-answer": RING_OUT_SECONDS, "failed": 0.02}.get(outcome, self.rng.uniform(0.05, 0.3))
        talk = self.rng.uniform(*b.hold) if outcome == "completed" else 0.0
        self.bench.ledger.start(number)
        try:
            await asyncio.sleep(ring + talk)
        finally:
            self.bench.ledger.end(number)
        self.dials.append((number, outcome))
        self.event("dial", numbers=numbers, outcome=outcome)
        if outcome == "hangup":  # the caller hangs up while it rings: only the status callback will tell
            self.hung_up_ringing = True
            raise CallEnded("caller-hung-up")
        params = {"DialCallStatus": outcome, "DialCallSid": twilio_sid("CA")}
        if outcome == "completed":
            params["DialCallDuration"] = str(round(talk))
        if el.get("action") is None:
            return None
        return await self.fetch(urljoin(url, el.get("action", "")), params, el.get("method", "POST"))

    async def verb_gather(self, el: ET.Element, url: str, queue: object) -> object:
        if (el.get("action") or "").endswith(CALLBACK_URL):  # the callback offer while waiting: stay silent, for --wait s
            if self.rng.random() < self.bench.behaviour.give_up_waiting:
                self.gave_up = True
                self.event("hangup", by="caller")
                raise CallEnded("caller-hung-up")
            await asyncio.sleep(self.bench.behaviour.wait * self.rng.uniform(0.8, 1.2))
        return await super().verb_gather(el, url, queue)

    async def verb_pause(self, el: ET.Element, url: str, queue: object) -> None:
        await asyncio.sleep(min(int_attribute(el, "length", 1), self.bench.behaviour.wait))
        await super().verb_pause(el, url, queue)


class BenchSimulator(TwilioSimulator):
    """The call simulator with TimedCallRun calls, a shared ledger and a seeded random source per call."""

    def __init__(self, client: httpx.AsyncClient, *, public_url: str, behaviour: Behaviour) -> None:
        super().__init__(client, public_url=public_url, auth_token=BENCH_TOKEN, max_steps=200)
        self.behaviour, self.ledger = behaviour, Ledger()

    async def timed_call(self, caller: Caller, rng: random.Random) -> tuple[CallResult, TimedCallRun]:
        """Place one call in real time; return its result and its run (dials, whether the caller gave up)."""
        run = TimedCallRun(self, caller, twilio_sid("CA"), rng)
        return await run.run(), run


def make_caller(rng: random.Random) -> Caller:
    """Return a caller of the bench mix: a topic key, then a postal code (Shinjuku, elsewhere in Tokyo, or '#')."""
    topic = rng.choices(list(TOPIC_KEYS), [80, 10, 10])[0]
    postal = rng.choices([SHINJUKU_POSTAL, TOKYO_POSTAL, "#"], [60, 25, 15])[0]
    keys: list[str | None] = [TOPIC_KEYS[topic]] if topic == "crisis" else [TOPIC_KEYS[topic], postal]
    return Caller(number=f"+8190{rng.randrange(10**8):08d}", keys=keys)


def outcome_of(result: CallResult, run: TimedCallRun) -> str:
    """Return how a call ended, from the caller's side."""
    if result.errors():
        return "error"
    if run.gave_up:
        return "gave up waiting"
    if run.hung_up_ringing:
        return "hung up while ringing"
    if run.dials and run.dials[-1] == (FALLBACK_NUMBER, "completed"):
        waited = any(e.kind == "redirect" and e.detail["url"].endswith(WAIT_URL) for e in result.events)
        return "fallback line after the longest wait" if waited else "fallback line (degraded)"
    if run.dials and run.dials[-1][1] == "completed":
        return "connected"
    return f"other ({result.ended_by})"


@dataclass
class SlotWatch:
    """The largest slot set seen per service while the calls ran."""

    peak: Counter[str] = field(default_factory=Counter)
    samples: int = 0

    async def sample(self, redis: Redis, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for service, held in (await held_slots(redis)).items():
                self.peak[service] = max(self.peak[service], held)
            self.samples += 1
            await asyncio.sleep(0.01)


async def held_slots(redis: Redis) -> dict[str, int]:
    """Return the size of each bench service's voice slot set, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for s in SERVICES:
        pipe.zcard(slot_key(s.id))
    return {s.id: int(held) for s, held in zip(SERVICES, await pipe.execute(), strict=True)}


@dataclass
class Measured:
    """What the bench saw from outside."""

    calls: list[tuple[CallResult, TimedCallRun]]
    elapsed: float
    ledger: Ledger
    watch: SlotWatch
    held_after: dict[str, int]  # slot set sizes once every call has ended
    queued_after: int  # callers still in a queue (or marked waiting) then


async def place_calls(base: str, redis_url: str, args: argparse.Namespace) -> Measured:
    """Place the calls with at most --in-flight at once, sampling the slot sets meanwhile; then look at Redis once more."""
    rng = random.Random(args.seed)
    plans = [(make_caller(rng), random.Random(rng.random())) for _ in range(args.calls)]
    behaviour = Behaviour(hold=(args.hold_min, args.hold_max), wait=args.wait)
    limits = httpx.Limits(max_connections=args.in_flight * 2, max_keepalive_connections=0)  # a new connection per request
    redis = Redis.from_url(redis_url, decode_responses=True)
    watch, stop, gate = SlotWatch(), asyncio.Event(), asyncio.Semaphore(args.in_flight)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=20) as client:
        sim = BenchSimulator(client, public_url=base, behaviour=behaviour)

        async def one(index: int, caller: Caller, call_rng: random.Random) -> tuple[CallResult, TimedCallRun]:
            async with gate:  # tasks take the gate in order; the first wave rings in over --ramp s, not in one millisecond
                await asyncio.sleep(args.ramp * index / args.in_flight if index < args.in_flight else 0)
                return await sim.timed_call(caller, call_rng)

        sampler = asyncio.create_task(watch.sample(redis, stop))
        started = time.perf_counter()
        calls = await asyncio.gather(*(one(i, caller, call_rng) for i, (caller, call_rng) in enumerate(plans)))
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
    held_after = await held_slots(redis)
    queued_after = await redis.zcard(WAITING_KEY) + sum([await redis.zcard(k) async for k in redis.scan_iter(queue_key("*"))])
    await redis.aclose()
    return Measured(calls, elapsed, sim.ledger, watch, held_after, queued_after)


@dataclass
class Server:
    """What the service reports about the run: /metrics after it, and each worker's own metrics file."""

    fallbacks: float  # growth of tsunagu_webhook_fallbacks_total during the run
    ended: Counter[str]  # tsunagu_calls_total by outcome
    per_worker: dict[str, int]  # webhooks answered, by worker pid
    p50: str
    p99: str

    @classmethod
    def read(cls, metrics: str, fallbacks_before: float, metrics_dir: Path) -> Server:
        ended = Counter[str]()
        for outcome, value in CALLS_ENDED.findall(metrics):
            ended[outcome] += float(value)
        fallbacks = metric_sum(FALLBACKS, metrics) - fallbacks_before
        return cls(fallbacks, ended, requests_per_worker(metrics_dir), server_quantile(metrics, 0.5), server_quantile(metrics, 0.99))


def metric_sum(pattern: re.Pattern[str], text: str) -> float:
    """Return the sum of every sample a pattern's last group captures."""
    return sum(float(m.groups()[-1]) for m in pattern.finditer(text))


def requests_per_worker(metrics_dir: Path) -> dict[str, int]:
    """Return each worker process's count of answered webhooks, from its own multiprocess metrics file."""
    counts = {}
    for path in sorted(metrics_dir.glob("histogram_*.db")):
        total = sum(
            sample.value
            for metric in MultiProcessCollector.merge([str(path)], accumulate=True)
            if metric.name == "tsunagu_webhook_seconds"
            for sample in metric.samples
            if sample.name.endswith("_count")
        )
        if total:
            counts[path.stem.removeprefix("histogram_")] = int(total)
    return counts


def server_quantile(metrics: str, q: float) -> str:
    """Return the bucket bound tsunagu_webhook_seconds (every step, every worker) puts quantile q under."""
    buckets = Counter[float]()
    for bound, count in WEBHOOK_BUCKETS.findall(metrics):
        buckets[float(bound)] += float(count)
    total = buckets[float("inf")]
    bound = next((b for b in sorted(buckets) if total and buckets[b] >= q * total), float("inf"))
    return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> 5 s"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(m: Measured, server: Server) -> bool:
    """Print the figures and the targets; return whether every target passed."""
    requests = [e.detail for result, _ in m.calls for e in result.requests()]
    latencies = [r["elapsed_ms"] for r in requests if r.get("elapsed_ms") is not None]
    failed = sum(1 for r in requests if r["status"] is None or not 200 <= r["status"] < 300)
    errors = [why for result, _ in m.calls for why in result.errors()]
    invalid = sum("invalid TwiML" in why for why in errors)
    outcomes = Counter(outcome_of(result, run) for result, run in m.calls)
    waited = sum(any(e.kind == "redirect" and e.detail["url"].endswith(WAIT_URL) for e in result.events) for result, _ in m.calls)
    rolled = sum(any(o != "completed" for _, o in run.dials[:-1]) for _, run in m.calls)
    dials = Counter(o for _, run in m.calls for n, o in run.dials if n in BY_PHONE)
    steps: dict[str, list[float]] = {}
    for r in requests:
        if r.get("elapsed_ms") is not None:
            steps.setdefault(r["url"].rsplit("/", 1)[-1], []).append(r["elapsed_ms"])
    answered = sum(server.per_worker.values())
    share = ", ".join(f"pid {pid}: {n} ({n / max(1, answered):.0%})" for pid, n in server.per_worker.items())

    print(
        f"\ncalls: {len(m.calls)} placed in {m.elapsed:.1f} s = {len(m.calls) / m.elapsed:.1f} calls/s; "
        f"{len(requests)} webhook requests = {len(requests) / m.elapsed:.0f}/s"
    )
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(f"  waited in the queue at least once: {waited}; rolled over to another window after busy/no answer/failure: {rolled}")
    print("  dials to windows: " + ", ".join(f"{k} {v}" for k, v in dials.most_common()))
    print(
        "  ended calls as the service counts them (tsunagu_calls_total): "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(server.ended.items()))
    )
    print(
        f"webhook latency, client side ({len(latencies)} requests, new connection and signing included): "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
    )
    print("  p99 by step: " + ", ".join(f"{step} {percentile(ms, 0.99):.0f} ms ({len(ms)})" for step, ms in steps.items()))
    print(f"  server side (tsunagu_webhook_seconds buckets): p50 {server.p50}, p99 {server.p99}")
    print(f"webhooks answered per worker (status callbacks not counted): {share}")
    print("\nper service: most dials at once (bench) / largest Redis slot set (sampled) / capacity; held after drain")
    for s in SERVICES:
        print(f"  {s.label:<17} {m.ledger.peak[s.phone]:>2} / {m.watch.peak[s.id]:>2} / {s.capacity}; held {m.held_after[s.id]}")
    print(f"  ({m.watch.samples} Redis samples; callers still queued after drain: {m.queued_after})")

    over = [s.label for s in SERVICES if max(m.ledger.peak[s.phone], m.watch.peak[s.id]) > s.capacity]
    held, recorded = sum(m.held_after.values()), sum(server.ended.values())
    full = sum(m.ledger.peak[s.phone] >= s.capacity for s in SERVICES)
    checks = [
        (
            "capacity never exceeded across workers",
            not over,
            f"over: {', '.join(over) or 'none'}; {full}/{len(SERVICES)} services were full at some point",
        ),
        (
            "no slot held after drain",
            held == 0 and m.queued_after == 0 and recorded == len(m.calls),
            f"{held} slots held, {m.queued_after} callers queued; {recorded:g}/{len(m.calls)} call ends recorded",
        ),
        (
            "no failed request / invalid TwiML / fallback",
            failed == 0 and not errors and server.fallbacks == 0,
            f"{failed} failed requests, {invalid} invalid TwiML, {len(errors)} call errors, {server.fallbacks:g} fallbacks",
        ),
        (
            "both workers answered webhooks (each >= 10 %)",
            len(server.per_worker) >= 2 and min(server.per_worker.values()) >= 0.1 * answered,
            share or "no counts",
        ),
    ]
    print("\nsummary")
    for what, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}\n        {detail}")
    for why in errors[:5]:
        print(f"  error: {why}")
    return all(ok for _, ok, _ in checks)


def import_directory(tmp: Path, env: dict[str, str]) -> None:
    """Write the bench directory and import it with the real CLI, in the environment the server will have (tsunagu_env)."""
    directory = tmp / "bench-directory.csv"
    write_directory(directory)
    imported = subprocess.run([str(BIN / "tsunagu"), "directory", "import", str(directory)], env=env, capture_output=True, text=True)
    if imported.returncode != 0:
        raise RuntimeError(f"tsunagu directory import failed:\n{imported.stdout}{imported.stderr}")
    print(imported.stdout.strip())


def run(args: argparse.Namespace, processes: Processes) -> bool:
    redis_url = start_redis(processes)
    env = {"TSUNAGU_DATABASE_URL": f"sqlite:///{processes.tmp / 'bench.db'}", "TSUNAGU_LOAD_DEMO_DIRECTORY": "false"}
    served = tsunagu_env(processes, redis_url, env=env)
    import_directory(processes.tmp, served)
    started = time.monotonic()
    base, _ = start_tsunagu(processes, redis_url, workers=2, env=env)
    print(
        f"tsunagu serve --workers 2 ready in {time.monotonic() - started:.1f} s at {base}; {args.calls} calls, "
        f"{args.in_flight} in flight, hold {args.hold_min:g}–{args.hold_max:g} s, queue wait {args.wait:g} s"
    )
    fallbacks_before = metric_sum(FALLBACKS, get(base + "/metrics")[1])
    measured = asyncio.run(place_calls(base, redis_url, args))
    processes.check_alive()
    return report(measured, Server.read(get(base + "/metrics")[1], fallbacks_before, Path(served["TSUNAGU_VAR_DIR"]) / "metrics"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200, help="simulated calls (default 200)")
    parser.add_argument("--in-flight", type=int, default=50, help="calls in progress at once (default 50)")
    parser.add_argument("--hold-min", type=float, default=0.5, help="shortest answered call, s (default 0.5)")
    parser.add_argument("--hold-max", type=float, default=2.0, help="longest answered call, s (default 2)")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the first --in-flight calls start (default 2)")
    parser.add_argument("--wait", type=float, default=1.0, help="real seconds for each 20 s queue wait (default 1)")
    parser.add_argument("--seed", type=int, default=20261229)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    return run_with_processes(lambda processes: run(args, processes), prefix="tsunagu-bench-workers-", check=args.check)


if __name__ == "__main__":
    sys.exit(main())
