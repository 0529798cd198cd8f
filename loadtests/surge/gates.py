"""The pass/fail gates of a surge run: pure functions of what the run measured.

A run passes only when every gate passes:
- no failed request (Locust's failures — HTTP errors such as a 403, invalid TwiML, no answer in
  15 s — the callback legs' failures, and calls the world could not play);
- no fallback answer (tsunagu_webhook_fallbacks_total did not grow, and no call got the bare
  "dial TSUNAGU_FALLBACK_NUMBER" answer of degraded mode);
- webhook p99 at or under the target: over all webhook requests together, and on every webhook
  endpoint with at least P99_MIN_REQUESTS requests; an endpoint with fewer (but at least
  P95_MIN_REQUESTS) is held to the target at its p95. A p99 of n requests is the (n/100)th
  slowest: from 185 requests, the second slowest, which a single slow request decides (a May
  run on 2026-11-27 failed by 0.1 ms at such an endpoint whose server-side p99 was ≤ 50 ms).
  From 1,000 requests on, ten lie above it; a p95 of 100 or more has five or more above it.
- every call ended in a defined outcome (the world's inbound calls = tsunagu's call records =
  tsunagu_calls_total, all in the defined outcomes, and the calls the world saw answered by a
  window = the records that say connected);
- no slot over-assignment: at no moment did the world have more calls dialled to a service than
  its voice capacity (from the ordered dial stream), nor did the service's own slot sets, sampled
  in Redis, hold more;
- no slot held after the drain, and every dial the world started also ended.

With chats in the run (`RunFacts.chats`), the SNS gates of chat_gates.py follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from loadtests.surge.chat_gates import ChatFacts

OUTCOMES = (
    "connected",
    "callback_booked",
    "abandoned_in_queue",
    "abandoned",
    "no_service_open",
    "fallback",
)  # routing/telephony/records.py
DEFAULT_P99_MS = 100.0
P99_MIN_REQUESTS = 1000  # an endpoint's own p99 is judged from this many requests on
P95_MIN_REQUESTS = 100  # below P99_MIN_REQUESTS, its p95 from this many on; below that it counts only in the whole


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    figures: str  # what was measured against what was allowed, in one line
    details: tuple[str, ...] = ()  # where it failed

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass(frozen=True)
class EndpointLatency:
    name: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float  # milliseconds


@dataclass(frozen=True)
class Concurrency:
    """The most calls dialled at once to each service, from the world's dial stream."""

    by_service: Mapping[str, int]
    unknown_numbers: Mapping[str, int]  # numbers no service has (the fallback number among them)
    unfinished: int  # dials started that never ended


@dataclass(frozen=True)
class RunFacts:
    """Everything the gates look at."""

    failures: Mapping[str, int]  # what failed → how often (requests, callback legs, world)
    latency: Sequence[EndpointLatency]  # webhook endpoints only
    webhook_p99_ms: float | None  # over every webhook request of the run together (None: no requests)
    webhook_fallbacks: float  # growth of tsunagu_webhook_fallbacks_total over the run
    degraded: Mapping[str, int]  # step → calls answered with the bare fallback TwiML
    world_outcomes: Mapping[str, int]  # inbound calls by the world's view of their ending
    recorded_outcomes: Mapping[str, int]  # tsunagu's call_record rows by outcome
    metric_outcomes: Mapping[str, int]  # growth of tsunagu_calls_total by outcome
    concurrency: Concurrency
    sampled_held: Mapping[str, int]  # service → most slots seen held in its Redis slot set
    capacities: Mapping[str, int]  # service → voice capacity
    held_after_drain: Mapping[str, int]  # slot set key → leases still in it after the drain
    p99_target_ms: float = DEFAULT_P99_MS
    names: Mapping[str, str] = field(default_factory=dict)  # service → name, for people
    chats: ChatFacts | None = None  # None: the run had no chats


def max_concurrent(events: Iterable[tuple[str, bool, str]], service_of: Mapping[str, str]) -> Concurrency:
    """Return the most simultaneous dials per service from an ordered stream of (number, started, call sid)."""
    now: dict[str, int] = {}
    most: dict[str, int] = {}
    open_dials: set[tuple[str, str]] = set()
    for number, started, call in events:
        key = service_of.get(number, "number:" + number)
        if started:
            open_dials.add((call, number))
            now[key] = now.get(key, 0) + 1
            most[key] = max(most.get(key, 0), now[key])
        elif (call, number) in open_dials:
            open_dials.discard((call, number))
            now[key] -= 1
    services = {k: v for k, v in most.items() if not k.startswith("number:")}
    unknown = {k.removeprefix("number:"): v for k, v in most.items() if k.startswith("number:")}
    return Concurrency(services, unknown, len(open_dials))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def no_failed_requests(facts: RunFacts) -> Gate:
    total = sum(facts.failures.values())
    forbidden = sum(n for what, n in facts.failures.items() if "403" in what)
    worst = sorted(facts.failures.items(), key=lambda item: -item[1])[:8]
    return Gate("no failed request", total == 0, f"{total} failed (403: {forbidden})", tuple(f"{n} × {what}" for what, n in worst))


def no_fallback_answers(facts: RunFacts) -> Gate:
    degraded = sum(facts.degraded.values())
    passed = facts.webhook_fallbacks == 0 and degraded == 0
    details = tuple(f"{n} call(s) got the fallback number from {step}" for step, n in sorted(facts.degraded.items()))
    return Gate(
        "no fallback answer",
        passed,
        f"tsunagu_webhook_fallbacks_total +{facts.webhook_fallbacks:g}; {degraded} degraded answer(s) seen",
        details,
    )


def histogram_percentile(counts: Mapping[int, int], fraction: float) -> float | None:
    """Return the nearest-rank percentile of a histogram (value → how many), or None when it is empty."""
    total = sum(counts.values())
    if not total:
        return None
    rank, seen = max(1, -(-total * fraction // 1)), 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return float(max(counts))


class Judged(NamedTuple):
    """An endpoint, the percentile of its latency the gate holds to the target, and that figure."""

    endpoint: EndpointLatency
    percentile: str
    ms: float


def webhook_p99(facts: RunFacts) -> Gate:
    target, overall = facts.p99_target_ms, facts.webhook_p99_ms
    judged = [Judged(e, "p99", e.p99) for e in facts.latency if e.requests >= P99_MIN_REQUESTS]
    judged += [Judged(e, "p95", e.p95) for e in facts.latency if P95_MIN_REQUESTS <= e.requests < P99_MIN_REQUESTS]
    over = sorted((j for j in judged if j.ms > target), key=lambda j: -j.ms)
    worst = max((j for j in judged if j.percentile == "p99"), key=lambda j: j.ms, default=None)
    figures = "no webhook requests" if overall is None else f"all webhooks p99 {overall:g} ms (target ≤ {target:g} ms)"
    if worst is not None:
        figures += f"; worst endpoint p99 {round(worst.ms, 1):g} ms at {worst.endpoint.name}"  # Locust keeps fractions of a ms below 100
    details = tuple(f"{j.endpoint.name}: {j.percentile} {round(j.ms, 1):g} ms over {j.endpoint.requests} requests" for j in over)
    passed = overall is not None and overall <= target and not over
    return Gate("webhook p99", passed, figures, details)


def every_call_has_outcome(facts: RunFacts) -> Gate:
    world_total = sum(facts.world_outcomes.values())
    recorded_total = sum(facts.recorded_outcomes.values())
    metric_total = sum(facts.metric_outcomes.values())
    undefined = facts.world_outcomes.get("undefined", 0)
    unknown = {k: v for k, v in facts.recorded_outcomes.items() if k not in OUTCOMES}
    world_connected, recorded_connected = facts.world_outcomes.get("connected", 0), facts.recorded_outcomes.get("connected", 0)
    problems = []
    if undefined:
        problems.append(f"{undefined} call(s) ended with no defined outcome in the world's view")
    if not world_total == recorded_total == metric_total:
        problems.append(f"calls: {world_total} finished by the world, {recorded_total} call records, {metric_total} in tsunagu_calls_total")
    if unknown:
        problems.append(f"records with an undefined outcome: {unknown}")
    if world_connected != recorded_connected:
        problems.append(f"connected: the world saw {world_connected} answered by a window, the records say {recorded_connected}")
    figures = f"{world_total} calls, {recorded_total} records, {metric_total} counted; {undefined} undefined"
    return Gate("every call has an outcome", not problems and world_total > 0, figures, tuple(problems))


def no_over_assignment(facts: RunFacts) -> Gate:
    over = []
    for service, seen in sorted(facts.concurrency.by_service.items()):
        if seen > facts.capacities.get(service, 0):
            over.append(f"{facts.names.get(service, service)}: {seen} dialled at once, capacity {facts.capacities.get(service, 0)} (world)")
    for service, held in sorted(facts.sampled_held.items()):
        if held > facts.capacities.get(service, 0):
            over.append(
                f"{facts.names.get(service, service)}: {held} slots held, capacity {facts.capacities.get(service, 0)} (Redis sample)"
            )
    full = sum(1 for s, n in facts.concurrency.by_service.items() if n >= facts.capacities.get(s, 0) > 0)
    figures = f"{len(facts.concurrency.by_service)} services dialled, {full} reached capacity, {len(over)} over it"
    return Gate("no slot over-assignment", not over, figures, tuple(over))


def no_slot_held_after_drain(facts: RunFacts) -> Gate:
    held = sum(facts.held_after_drain.values())
    unfinished = facts.concurrency.unfinished
    details = tuple(f"{key}: {n} lease(s)" for key, n in sorted(facts.held_after_drain.items()))
    if unfinished:
        details += (f"{unfinished} dial(s) the world started never ended",)
    return Gate("no slot held after drain", held == 0 and unfinished == 0, f"{held} slot(s) held, {unfinished} dial(s) unfinished", details)


GATES = (no_failed_requests, no_fallback_answers, webhook_p99, every_call_has_outcome, no_over_assignment, no_slot_held_after_drain)


def evaluate(facts: RunFacts) -> list[Gate]:
    """Return every gate's verdict, in a fixed order (the SNS gates after the voice gates, when the run had chats)."""
    from loadtests.surge.chat_gates import chat_gates  # it builds on this module's gates

    return [gate(facts) for gate in GATES] + (chat_gates(facts.chats) if facts.chats is not None else [])
