"""Whom the calls reached, reported beside the outcome table and never gated: pure functions of the world's call reports.

Three views of the inbound calls of a run (player.CallReport, as the world log keeps them):

- the single number: the same callers on the one number tsunagu replaces, at equal capacity
  (baseline.py), against tsunagu's connected calls plus the callbacks kept (callback legs in
  which a window answered the person called back);
- 988-style figures: the share answered (a window's counsellor answered: outcome connected); the
  average speed to answer, from the first ring of the number to a window answering, over those
  answered; abandonment in queue, the share of callers put in a queue who hung up before an
  answer (abandoned_in_queue); the shares told that nothing is open (no_service_open) and sent
  to the fallback number (fallback), all of the inbound callers;
- the queue's honesty: for each caller answered after being put in a queue, the actual wait
  (from the answer that put them in the queue to a window answering) less the likely wait that
  answer told them (prompts.queue_place); its median and its 90th percentile (nearest rank).

Durations are given in call time, the call's own clock: what a caller goes through (prompts,
rings, waits in the queue, their patience) lasts as long as in a real call there, and the world
plays it `time_scale` times as fast (world.py). They are given on the service's compressed
clock too ("simulated", `speed` × real, as the report's calendar and clock skew): the drill
compresses the calendar far more than the calls, so a 40-second menu played in 2 real seconds
lasts 40 simulated minutes at ×1,200, and a simulated-clock figure mostly measures the drill.
"""

from __future__ import annotations

import statistics
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from loadtests.surge.baseline import Caller, Pool, Redial, SingleNumber, open_lines, pool_of, single_number
from loadtests.surge.gates import percentile
from loadtests.surge.shapes import Timeline
from loadtests.surge.world import WorldParams
from referral_directory.hours import JST, Hours


@dataclass(frozen=True)
class Clocks:
    """How the drill's clocks relate to call time."""

    time_scale: float  # real seconds per second of call time
    speed: float  # simulated seconds (the service's clock) per real second

    def simulated(self, call_seconds: float) -> float:
        """Return a duration in call time as seconds on the service's clock."""
        return call_seconds * self.time_scale * self.speed


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def like_988(inbound: Sequence[Mapping], clocks: Clocks) -> dict:
    """Return the 988-style figures of the inbound calls (the module docstring says what each is)."""
    outcomes = [c["outcome"] for c in inbound]
    answered = [c["answered_at"] for c in inbound if c["outcome"] == "connected" and c.get("answered_at") is not None]
    queued = [c for c in inbound if c.get("queued_at") is not None]
    abandoned = sum(1 for c in queued if c["outcome"] == "abandoned_in_queue")
    speed = statistics.fmean(answered) if answered else None
    return {
        "callers": len(inbound),
        "answered": outcomes.count("connected"),
        "answered_share": share(outcomes.count("connected"), len(inbound)),
        "speed_to_answer": {
            "n": len(answered),
            "call_s": _round(speed, 1),
            "real_s": _round(None if speed is None else speed * clocks.time_scale, 2),
            "simulated_s": _round(None if speed is None else clocks.simulated(speed), 0),
        },
        "queued": len(queued),
        "abandoned_in_queue": abandoned,
        "abandoned_in_queue_share": share(abandoned, len(queued)),
        "told_closed": outcomes.count("no_service_open"),
        "told_closed_share": share(outcomes.count("no_service_open"), len(inbound)),
        "fallback": outcomes.count("fallback"),
        "fallback_share": share(outcomes.count("fallback"), len(inbound)),
    }


def queue_honesty(inbound: Sequence[Mapping], clocks: Clocks) -> dict:
    """Return the actual wait less the first estimate, in minutes, over callers answered after being put in a queue."""
    waited = [
        (c["answered_at"] - c["queued_at"], c["first_estimate"])
        for c in inbound
        if c["outcome"] == "connected" and c.get("queued_at") is not None and c.get("answered_at") is not None
    ]
    in_call_time = [seconds / 60 - told for seconds, told in waited]
    simulated = [clocks.simulated(seconds) / 60 - told for seconds, told in waited]
    return {
        "answered_after_queueing": len(waited),
        "error_call_min": _spread(in_call_time),
        "error_simulated_min": _spread(simulated),
        "told_min": _spread([float(told) for _seconds, told in waited]),
    }


def _spread(values: Sequence[float]) -> dict:
    if not values:
        return {"median": None, "p90": None}
    return {"median": round(statistics.median(values), 1), "p90": round(percentile(values, 0.9), 1)}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def callers_of(inbound: Sequence[Mapping], world: WorldParams) -> list[Caller]:
    """Return the inbound callers as the single number sees them, in real seconds: when they rang, talk, patience."""
    return [Caller(c["started"], c.get("talk_needed") or 0.0, (c.get("patience") or 0.0) * world.time_scale) for c in inbound]


def single_number_of_run(
    inbound: Sequence[Mapping], lines: Mapping[Hours, int], holidays: Container[date], timeline: Timeline, world: WorldParams, seed: int
) -> tuple[SingleNumber, Pool]:
    """Play the run's callers on one number with every line the directory has open, on the run's calendar."""
    callers = callers_of(inbound, world)
    redial = Redial(world.redial_seconds * world.time_scale, world.redial_jitter)
    first = min([timeline.epoch0, *(c.arrival for c in callers)])
    last = max([timeline.epoch_end, *(c.arrival + c.patience for c in callers)])
    steps = open_lines(lines, timeline.simulated(first), timeline.simulated(last) + timedelta(minutes=1), holidays)
    pool = pool_of(steps, timeline.epoch)
    return single_number(callers, pool, redial, seed=seed), pool


def call_reach(
    calls: Sequence[Mapping], lines: Mapping[Hours, int], holidays: Container[date], timeline: Timeline, world: WorldParams, seed: int
) -> dict:
    """Return every figure of this module for a run's calls (the world log's reports), as summary.json keeps them."""
    inbound = [c for c in calls if c["kind"] == "inbound"]
    single, pool = single_number_of_run(inbound, lines, holidays, timeline, world, seed)
    connected = sum(1 for c in inbound if c["outcome"] == "connected")
    kept = sum(1 for c in calls if c["outcome"] == "callback_leg_connected")
    clocks = Clocks(world.time_scale, timeline.speed)
    return {
        "single_number": {
            "callers": single.callers,
            "connected": single.connected,
            "busy": single.busy,
            "gave_up": single.gave_up,
            "lines_open": dict(zip(("fewest", "most"), pool.span(timeline.epoch0, timeline.epoch_end), strict=True)),  # the calendar's
            "redial_call_s": world.redial_seconds,
            "seed": seed,
        },
        "tsunagu": {
            "connected": connected,
            "callbacks_kept": kept,
            "reached": connected + kept,
            "to_single_number": round((connected + kept) / single.connected, 3) if single.connected else None,
        },
        "by_day": by_day(inbound, [c for c in calls if c["outcome"] == "callback_leg_connected"], single, pool, timeline),
        "like_988": like_988(inbound, clocks),
        "queue_honesty": queue_honesty(inbound, clocks),
    }


def by_day(
    inbound: Sequence[Mapping], kept: Sequence[Mapping], single: SingleNumber, pool: Pool, timeline: Timeline
) -> list[dict[str, object]]:
    """Return, per simulated day (JST) of the callers' first ring, the single number's connected against tsunagu's reached.

    Where the pool holds the day's local offices (weekdays in office hours), it has lines that
    tsunagu keeps for their own region; at night and over 年末年始 it holds the national lines alone.
    """
    day_of = [timeline.simulated(c["started"]).astimezone(JST).date() for c in inbound]
    kept_on = [timeline.simulated(c["started"]).astimezone(JST).date() for c in kept]
    days = sorted({*day_of, *kept_on})
    rows = []
    for day in days:
        start = datetime.combine(day, time(), JST)
        rows.append(
            {
                "day": day.isoformat(),
                "callers": day_of.count(day),
                "single_connected": sum(1 for i in single.connected_callers if day_of[i] == day),
                "tsunagu_reached": sum(1 for i, c in enumerate(inbound) if day_of[i] == day and c["outcome"] == "connected")
                + kept_on.count(day),
                "most_lines": pool.span(timeline.epoch(start), timeline.epoch(start + timedelta(days=1)))[1],
            }
        )
    return rows


def call_reach_text(r: dict) -> list[str]:
    """Return the summary's lines on whom the calls reached (the figures of call_reach)."""
    single, ours, like, honesty = r["single_number"], r["tsunagu"], r["like_988"], r["queue_honesty"]
    asa, error, error_simulated = like["speed_to_answer"], honesty["error_call_min"], honesty["error_simulated_min"]
    ratio = "–" if ours["to_single_number"] is None else f"{ours['to_single_number']:.2f}×"
    return [
        f"Whom the calls reached (reported, not gated): {like['callers']} inbound callers",
        f"  single number at equal capacity ({single['lines_open']['fewest']}–{single['lines_open']['most']} lines open in the calendar): "
        f"{single['connected']} connected, {single['busy']} busy tones, {single['gave_up']} gave up",
        f"  tsunagu: {ours['connected']} connected + {ours['callbacks_kept']} callbacks kept = {ours['reached']}, "
        f"{ratio} the single number's connected",
        "  by day, single number connected / tsunagu reached (most lines open): "
        + ", ".join(f"{d['day'][5:]} {d['single_connected']}/{d['tsunagu_reached']} ({d['most_lines']})" for d in r.get("by_day", ())),
        f"  like 988: answered {_percent(like['answered_share'])}; average speed to answer {_seconds(asa)} over {asa['n']}",
        f"            abandoned in queue {_percent(like['abandoned_in_queue_share'])} of {like['queued']} queued; "
        f"told closed {_percent(like['told_closed_share'])}; fallback {_percent(like['fallback_share'])}",
        f"  queue honesty: actual wait − first told, over {honesty['answered_after_queueing']} answered after queueing: "
        f"median {_minutes(error['median'])}, p90 {_minutes(error['p90'])} min of call time "
        f"({_minutes(error_simulated['median'])}, {_minutes(error_simulated['p90'])} simulated)",
    ]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _seconds(asa: dict) -> str:
    if asa["call_s"] is None:
        return "–"
    return f"{asa['call_s']:.0f} s of call time ({asa['real_s']:.1f} s real, {asa['simulated_s'] / 60:.0f} simulated min)"


def _minutes(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"
