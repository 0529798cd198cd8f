"""The single phone number tsunagu replaces, at equal capacity: whom would it have connected? (pure)

The drill's own callers ring it instead of tsunagu: the same arrival times and the same talk times
(each call's `started` and `talk_needed` in the world log; player.CallReport). Behind the number,
every voice line the directory has open at that instant forms one pool: the capacity["voice"] of
every active service with a phone that is open then by its hours, holidays and closures, whatever
its topic or region (the routing snapshot's services, their open spans read with
referral_directory.hours.open_spans, the engine's own reading of hours). A
caller who finds a line free is connected at once and holds it for their talk time; a caller who
finds every line taken hears busy, and rings again.

Retrying is the world's (world.py): each caller keeps the patience the world drew for them
(Persona.patience, exponential with mean WorldParams.patience_mean, recorded in their report) and,
after a busy tone, rings again `redial_seconds` of call time later (± `redial_jitter`, from a
seeded random so that callers who heard busy together do not ring again in step) for as long as
that patience lasts: as long as the same person would have waited in tsunagu's queue. Times here
are the drill's real seconds: call time is played at the world's time_scale, talk is real.

Generous to the single number on purpose, so that tsunagu's ratio to it is not flattered: its
lines always answer (a window tsunagu dials answers 70 % of the time in the world), no menu comes
before the line (the caller's whole patience goes to ringing), and the few who hang up during
tsunagu's first prompts ring it like anyone else.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from referral_directory.hours import Hours, open_spans
from referral_directory.snapshot import Snapshot

FREED, RINGS = 0, 1  # at one instant a line is freed before anyone rings: a caller then gets the line just hung up


@dataclass(frozen=True)
class Caller:
    """One person ringing the single number."""

    arrival: float
    talk: float  # how long they hold a line once connected
    patience: float  # from their arrival, the latest they still ring again


@dataclass(frozen=True)
class Pool:
    """The lines open over time, a step function: (from this time, lines open) in time order; no line before the first."""

    steps: tuple[tuple[float, int], ...]

    def lines_at(self, at: float) -> int:
        """Return how many lines are open at an instant."""
        i = bisect.bisect_right(self.steps, at, key=lambda step: step[0]) - 1
        return self.steps[i][1] if i >= 0 else 0

    def span(self, start: float, end: float) -> tuple[int, int]:
        """Return the fewest and the most lines open at once from start until end."""
        counts = [self.lines_at(start), *(n for at, n in self.steps if start < at < end)]
        return min(counts), max(counts)


@dataclass(frozen=True)
class Redial:
    """When a caller who heard busy rings again: `gap` later, drawn within gap × (1 ± jitter)."""

    gap: float
    jitter: float = 0.0


@dataclass(frozen=True)
class SingleNumber:
    """What the single number did with the callers."""

    callers: int
    connected: int
    busy: int  # attempts that heard busy (a caller may hear it several times)
    gave_up: int  # callers whose patience ran out before a line was free
    connected_callers: frozenset[int] = frozenset()  # the indexes of the callers it connected


def single_number(callers: Sequence[Caller], pool: Pool, redial: Redial, *, seed: int) -> SingleNumber:
    """Play the callers against one pool of lines, event by event; the same seed gives the same result."""
    rng = random.Random(seed)
    events = [(caller.arrival, RINGS, i, i) for i, caller in enumerate(callers)]
    heapq.heapify(events)
    order = len(events)  # ties at one instant and kind go in the order the events were made
    held = busy = gave_up = 0
    connected: set[int] = set()
    while events:
        at, kind, _order, who = heapq.heappop(events)
        if kind == FREED:
            held -= 1
            continue
        caller = callers[who]
        if held < pool.lines_at(at):
            held += 1
            connected.add(who)
            heapq.heappush(events, (at + caller.talk, FREED, order, who))
        else:
            busy += 1
            again = at + redial.gap * (1 + redial.jitter * (2 * rng.random() - 1))
            if again - caller.arrival <= caller.patience:
                heapq.heappush(events, (again, RINGS, order, who))
            else:
                gave_up += 1
        order += 1
    return SingleNumber(len(callers), len(connected), busy, gave_up, frozenset(connected))


def voice_lines(snapshot: Snapshot) -> dict[Hours, int]:
    """Return the directory's voice lines by opening hours: capacity["voice"] of every service in it with a phone."""
    lines: Counter[Hours] = Counter()
    for service in snapshot.services.values():
        if "voice" in service.channels and service.phones:
            lines[service.hours] += service.capacity.get("voice", 0)
    return {hours: n for hours, n in lines.items() if n > 0}


def open_lines(lines: Mapping[Hours, int], start: datetime, end: datetime, holidays: Container[date]) -> list[tuple[datetime, int]]:
    """Return (from this instant, lines open) at start and each time the count changes before end."""
    changes: Counter[datetime] = Counter()
    for hours, count in lines.items():
        for opens, closes in open_spans(hours, start, end, holidays):
            changes[opens] += count
            changes[closes] -= count
    steps, running = [(start, 0)], 0
    for at in sorted(changes):
        running += changes[at]
        if at >= end:
            break
        if at == steps[-1][0]:
            steps[-1] = (at, running)
        elif running != steps[-1][1]:
            steps.append((at, running))
    return steps


def pool_of(steps: Sequence[tuple[datetime, int]], time_of: Callable[[datetime], float]) -> Pool:
    """Return the pool of lines open, its instants put on the simulation's clock (e.g. Timeline.epoch)."""
    return Pool(tuple((time_of(at), n) for at, n in steps))
