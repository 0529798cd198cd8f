"""The surge run's summary: figures and gate verdicts as text (summary.txt) and JSON (summary.json). Pure."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadtests.surge.call_figures import call_reach_text
from loadtests.surge.gates import OUTCOMES, Concurrency, EndpointLatency, Gate
from loadtests.surge.handoff_reach import HandoffReach, handoff_text
from loadtests.surge.shapes import JST, Timeline
from routing.live.keys import WAITING_KEY


@dataclass(frozen=True)
class RateBucket:
    start: float  # real epoch
    seconds: float  # its width (the last bucket may be shorter)
    target: float  # attempts per second expected
    achieved: float  # attempts per second placed


def rate_buckets(attempts: Mapping[int, int], timeline: Timeline, seconds: int = 10) -> list[RateBucket]:
    """Return target and achieved attempts per second in buckets over the calendar's real period."""
    buckets = []
    start = timeline.epoch0
    while start < timeline.epoch_end:
        end = min(start + seconds, timeline.epoch_end)
        placed = sum(n for t, n in attempts.items() if start <= t < end)
        buckets.append(RateBucket(start, end - start, timeline.expected(start, end) / (end - start), placed / (end - start)))
        start = end
    return buckets


def by_simulated_day(attempts: Mapping[int, int], timeline: Timeline) -> dict[str, tuple[float, int]]:
    """Return, per simulated day (JST), the expected and the placed attempts."""
    days: dict[str, list[float]] = {}
    second = int(timeline.epoch0)
    while second < timeline.epoch_end:
        day = timeline.simulated(max(second + 0.5, timeline.epoch0)).astimezone(JST).date().isoformat()
        expected, placed = days.setdefault(day, [0.0, 0])
        days[day] = [expected + timeline.expected(second, second + 1, step=0.5), placed + attempts.get(second, 0)]
        second += 1
    return {day: (expected, int(placed)) for day, (expected, placed) in days.items()}


@dataclass
class Summary:
    """Everything summary.txt shows; `to_json` is summary.json."""

    run: dict  # shape, window, speed, peak, workers, world parameters...
    rates: list[RateBucket]
    days: dict[str, tuple[float, int]]
    late_starts: tuple[int, float]  # (attempts started more than 1 s late, the latest in s)
    world_outcomes: Mapping[str, int]
    recorded_outcomes: Mapping[str, int]
    metric_outcomes: Mapping[str, float]
    callback_legs: Mapping[str, int]
    callback_requests: Mapping[str, int]
    referrals: Mapping[str, int]  # referral rows by kind and status ("refer accepted": n)
    desk_actions: Mapping[str, int]  # what the counsellors did (desks), by kind
    latency: Sequence[EndpointLatency]
    server_p99: Mapping[str, float | None]  # step → upper bound of the p99 bucket, ms
    peak_queue: int
    concurrency: Concurrency
    sampled_held: Mapping[str, int]
    capacities: Mapping[str, int]
    names: Mapping[str, str]
    tiers: Mapping[str, str]
    held_after_drain: Mapping[str, int]
    clock_skew_minutes: float | None
    gates: list[Gate]
    notes: list[str] = field(default_factory=list)
    call_reach: dict | None = None  # call_figures.call_reach: the single-number baseline, 988-style figures, the queue's honesty
    reach: HandoffReach | None = None  # what became of the referrals at the receiving side; None: not read
    chats: dict | None = None  # chat_drill.chat_figures: what people on LINE did and got; None: no chats in the run
    overload: dict | None = None  # collect.overload_figures: 500s, records lost, slots held, fallbacks and sheds counted

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def attempts(self) -> tuple[float, int, float, float]:
        """Return (expected attempts, placed attempts, busiest 10 s target /s, busiest 10 s achieved /s)."""
        expected = sum(b.target * b.seconds for b in self.rates)
        placed = sum(self.days[d][1] for d in self.days)
        whole = [b for b in self.rates if b.seconds >= 10]  # a last, shorter bucket would exaggerate its rate
        return expected, placed, max((b.target for b in whole), default=0.0), max((b.achieved for b in whole), default=0.0)

    def to_json(self) -> dict:
        expected, placed, peak_target, peak_achieved = self.attempts()
        seconds = self.run.get("real_seconds") or 1
        return {
            "run": self.run,
            "passed": self.passed,
            "attempts": {
                "expected": round(expected),
                "placed": placed,
                "per_second_target": round(expected / seconds, 2),
                "per_second_achieved": round(placed / seconds, 2),
                "busiest_10s_target": round(peak_target, 2),
                "busiest_10s_achieved": round(peak_achieved, 2),
                "late_over_1s": self.late_starts[0],
                "latest_start_s": round(self.late_starts[1], 2),
            },
            "attempts_by_day": {d: {"expected": round(e), "placed": p} for d, (e, p) in self.days.items()},
            "rate_buckets": [
                [round(b.start, 1), round(b.seconds, 1), round(b.target, 2), round(b.achieved, 2)] for b in self.rates
            ],  # [epoch, s, target/s, placed/s]
            "outcomes": {
                "world": dict(self.world_outcomes),
                "call_record": dict(self.recorded_outcomes),
                "metrics": dict(self.metric_outcomes),
            },
            "call_reach": self.call_reach,
            "callback_legs": dict(self.callback_legs),
            "callback_requests": dict(self.callback_requests),
            "referrals": dict(self.referrals),
            "desk_actions": dict(self.desk_actions),
            "handoff_reach": self.reach.to_json() if self.reach is not None else None,
            "latency_ms": {
                e.name: {
                    "requests": e.requests,
                    "failures": e.failures,
                    "p50": e.p50,
                    "p95": e.p95,
                    "p99": e.p99,
                    "server_p99_at_most": self.server_p99.get(_step(e.name)),
                }
                for e in self.latency
            },
            "peak_queue": self.peak_queue,
            "max_concurrent": {
                s: {
                    "name": self.names.get(s, s),
                    "tier": self.tiers.get(s),
                    "world": n,
                    "sampled": self.sampled_held.get(s, 0),
                    "capacity": self.capacities.get(s, 0),
                }
                for s, n in self.concurrency.by_service.items()
            },
            "other_numbers_dialled": dict(self.concurrency.unknown_numbers),
            "held_after_drain": dict(self.held_after_drain),
            "unfinished_dials": self.concurrency.unfinished,
            "clock_skew_simulated_minutes": self.clock_skew_minutes,
            "chats": self.chats,
            "overload": self.overload,
            "gates": [{"name": g.name, "passed": g.passed, "figures": g.figures, "details": list(g.details)} for g in self.gates],
            "notes": self.notes,
        }

    def text(self) -> str:
        return "\n".join(_text(self)) + "\n"


def _step(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def _text(s: Summary) -> list[str]:
    run = s.run
    expected, placed, peak_target, peak_achieved = s.attempts()
    seconds = run.get("real_seconds") or 1
    lines = [
        f"tsunagu surge: {run['shape']}, {run['window_start']} → {run['window_end']} (simulated) in {seconds:.0f} s "
        f"(clock ×{run['speed']:.0f}), peak {run['peak']:g} attempts/s",
        f"service: tsunagu serve --workers {run['workers']}, {run.get('database', 'sqlite')}, redis-server; "
        f"Locust processes: {run['locust_processes']}; "
        f"talk mean {run['talk_mean']:g} s (real), IVR time scale {run['time_scale']:g}",
        "",
        "Call attempts",
        f"  target    {expected:8.0f} ({expected / seconds:5.1f}/s mean, busiest 10 s {peak_target:5.1f}/s)",
        f"  achieved  {placed:8d} ({placed / seconds:5.1f}/s mean, busiest 10 s {peak_achieved:5.1f}/s); "
        f"started >1 s late: {s.late_starts[0]} (latest {s.late_starts[1]:.1f} s)",
    ]
    lines += [f"    {day}: {p:6d} placed / {e:8.0f} expected" for day, (e, p) in s.days.items()]
    lines += ["", f"Outcomes of inbound calls      {'world':>7} {'records':>8} {'metrics':>8}"]
    for outcome in (*OUTCOMES, *sorted(set(s.world_outcomes) - set(OUTCOMES))):
        row = (s.world_outcomes.get(outcome, 0), s.recorded_outcomes.get(outcome, 0), s.metric_outcomes.get(outcome, 0))
        if any(row):
            lines.append(f"  {outcome:28} {row[0]:7d} {row[1]:8d} {row[2]:8.0f}")
    total = sum(s.world_outcomes.values())
    lines.append(f"  {'total':28} {total:7d} {sum(s.recorded_outcomes.values()):8d} {sum(s.metric_outcomes.values()):8.0f}")
    legs = ", ".join(f"{k} {v}" for k, v in sorted(s.callback_legs.items())) or "none"
    requests = ", ".join(f"{k} {v}" for k, v in sorted(s.callback_requests.items())) or "none"
    lines += [f"  callback legs played: {legs}; callback requests: {requests}", ""]
    if s.call_reach is not None:
        lines += [*call_reach_text(s.call_reach), ""]
    referrals = ", ".join(f"{k} {v}" for k, v in sorted(s.referrals.items())) or "none"
    actions = ", ".join(f"{k} {v}" for k, v in sorted(s.desk_actions.items())) or "none"
    lines += ["Counsellors at the API", f"  referrals in the database: {referrals}", f"  desk actions: {actions}", ""]
    if s.reach is not None:
        lines += [*handoff_text(s.reach), ""]
    lines.append(
        f"Latency, ms (client side; server p99 ≤ bucket)  {'requests':>8} {'fail':>5} {'p50':>5} {'p95':>5} {'p99':>5} {'server':>7}"
    )
    for e in sorted(s.latency, key=lambda e: -e.requests):
        server = s.server_p99.get(_step(e.name))
        lines.append(
            f"  {e.name:46} {e.requests:8d} {e.failures:5d} {e.p50:5.0f} {e.p95:5.0f} {e.p99:5.0f} "
            f"{'' if server is None else f'≤{server:.0f}':>7}"
        )
    lines += ["", f"Queue: peak {s.peak_queue} callers waiting ({WAITING_KEY}, sampled every 0.5 s)"]
    lines.append("Most calls dialled at once per service (world) / most slots held (Redis sample) / capacity:")
    by_tier = Counter()
    at_capacity = Counter()
    for service, n in s.concurrency.by_service.items():
        tier = s.tiers.get(service, "?")
        by_tier[tier] += 1
        at_capacity[tier] += n >= s.capacities.get(service, 0)
    ranked = sorted(s.concurrency.by_service.items(), key=lambda item: (-item[1] / max(1, s.capacities.get(item[0], 1)), -item[1]))
    for service, n in ranked[:12]:
        lines.append(
            f"  {s.tiers.get(service, '?'):10} {s.names.get(service, service)[:34]:34} "
            f"{n:4d} / {s.sampled_held.get(service, 0):4d} / {s.capacities.get(service, 0):4d}"
        )
    lines.append(
        "  services dialled by tier: " + ", ".join(f"{t} {n} ({at_capacity[t]} reached capacity)" for t, n in sorted(by_tier.items()))
    )
    if s.concurrency.unknown_numbers:
        lines.append("  other numbers: " + ", ".join(f"{k} (most {v} at once)" for k, v in s.concurrency.unknown_numbers.items()))
    lines.append(f"Slots held after the drain: {sum(s.held_after_drain.values())}; dials never ended: {s.concurrency.unfinished}")
    if s.overload is not None:
        lines += ["", *overload_text(s.overload), ""]
    if s.clock_skew_minutes is not None:
        lines.append(f"Clock: the service's clock minus the load's simulated clock, median {s.clock_skew_minutes:+.1f} simulated minutes")
    if s.chats is not None:
        lines += ["", *chat_text(s.chats)]
    lines += [*(f"Note: {n}" for n in s.notes), "", "Gates"]
    for gate in s.gates:
        lines.append(f"  {gate.verdict}  {gate.name}: {gate.figures}")
        lines += [f"        {d}" for d in gate.details[:10]]
    lines += ["", f"RESULT: {'PASS' if s.passed else 'FAIL'}"]
    return lines


def overload_text(o: dict) -> list[str]:
    """Return the summary's lines on what the load cost: nothing may be lost or left held, and every fallback is counted."""
    counted = ", ".join(f"{k} {v:g}" for k, v in o["counters"].items()) or "none"
    degraded = ", ".join(f"{k} {v}" for k, v in sorted(o["degraded_answers_seen"].items())) or "none"
    return [
        "Overload",
        f"  HTTP 500 answers: {o['http_500']}; call records lost (world's calls - records): {o['records_lost']}; "
        f"slots held after the drain: {o['held_after_drain']}; dials never ended: {o['unfinished_dials']}",
        f"  counted by the service: {counted}",
        f"  bare fallback answers the callers got, by step: {degraded}",
    ]


def chat_text(c: dict) -> list[str]:
    """Return the summary's lines on chats (the figures of chat_drill.chat_figures)."""
    people, service, messages = c["people"], c["service"], c["messages"]
    first, answers, hook = c["first_reply_s"], c["intake_answer_reply_s"], c["line_webhook_ms"]

    def listed(counts: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda item: -item[1])) or "none"

    lines = [
        f"Chats on LINE (share {c['chat_share']:g} of call attempts, with the chat profile)",
        f"  started   {c['chats_started']:8d} / {c['chats_expected']:8d} expected; started >1 s late: {people['late_over_1s']}",
        f"  people: plans {listed(people['by_plan'])}",
        f"          outcomes {listed(people['by_outcome'])}",
        f"          reached a counsellor {people['reached_a_counsellor']}, handed on {people['handed_on']}, "
        f"left open on purpose {people['left_open_on_purpose']}",
        f"  service: {service['chats']} chats, {service['reached_a_counsellor']} reached a counsellor, {service['abandoned']} abandoned; "
        f"bands {listed(service['by_band'])}",
        f"          closed by {listed(service['closed_by'])}; now {listed(service['by_status'])}",
        f"  first automated reply: p50 {first.get('p50', 0):.3f} s, p95 {first.get('p95', 0):.3f} s, p99 {first.get('p99', 0):.3f} s "
        f"over {first['n']}; answers in the questions: p99 {answers.get('p99', 0):.3f} s over {answers['n']}",
        f"  LINE webhook: {hook['requests']} requests, p50 {hook['p50']} ms, p95 {hook['p95']} ms, p99 {hook['p99']} ms",
        f"  the service's own p99 (upper bucket bound): first automated reply ≤ {c.get('server_first_reply_p99_s_at_most')} s",
        f"  messages: {messages['stored_as_sent']} stored as sent, {messages['delivered']} delivered, {messages['lost']} lost, "
        f"{messages['twice']} twice, unsent {listed(messages['unsent'])}, {messages['held_back_after_a_block']} held back after a block",
        "  fake LINE: " + ", ".join(f"{k} {v}" for k, v in c["fake_line"].items() if v),
        "  fake LINE's own answer to a trivial request (timed every 0.5 s): "
        + (", ".join(f"{k} {v}" for k, v in (c.get("fake_line_answer_s") or {}).items())),
        f"  chat counsellors: {listed(c['counsellors'])}",
        "  most chats held at once / capacity_sns:",
    ]
    lines += [f"    {w['name'][:40]:40} {w['held']:4d} / {w['capacity_sns']:4d}" for w in list(c["windows"].values())[:10]]
    return lines


def median_skew_minutes(samples: Sequence[Mapping[str, float]]) -> float | None:
    """Return the median of (service clock − load clock) in simulated minutes."""
    if not samples:
        return None
    return statistics.median((x["service"] - x["expected"]) / 60 for x in samples)


def profile_text(raw: str, top: int = 30) -> str:
    """Return the hottest functions of a py-spy raw (collapsed) profile: by own samples, and by endpoint handler."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    handlers: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        handler = next((f.split(" (")[0] for f in frames if "webhooks.py" in f or "preview.py" in f), None)  # the outermost: the endpoint
        handlers[handler or "(outside the endpoints: server, middleware, event loop, background tasks)"] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "Own time (where the CPU was):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "Inclusive time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "By endpoint (inclusive):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in handlers.most_common(top)]
    return "\n".join(lines) + "\n"
