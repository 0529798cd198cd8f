"""Surge calendars and their target rate of call attempts, on a compressed clock (pure: no Locust, no I/O).

A `Calendar` says how busy the dial is at each instant of a simulated period, relative to its
busiest instant (1.0). A `Timeline` puts a calendar on the real clock: the simulated period runs
`speed` simulated seconds per real second from the real instant `epoch0`, and the busiest instant
gets `peak` call attempts per real second. tsunagu runs with TSUNAGU_CLOCK / TSUNAGU_CLOCK_SPEED
from the same start instant and speed, so the service and the load agree on the date and hour.

The rates are modelled, not measured; what they rest on:
- hotlines peak around 22:00 and are quietest around 05:00 (よりそいホットライン);
- the 年末年始 trial week (Dec 28 – Jan 4) saw twice a normal week's attempts, with local windows
  closed from Dec 29 to Jan 3, and a spike right after midnight on New Year's Day;
- May is the 強化月間: a campaign launch steps the rate to several times the usual, and weekday
  evenings peak more than weekends.

Chats (LINE) follow the same calendar at a share of the call attempts of their own (`chat_share`),
raised by the chat profile (`chat_boost`): the campaign's launch in May, with its LINE QR code on
every poster, brings a burst of chats that fades over the following hours, and on New Year's night
people who would not phone write after midnight.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9))

# Relative busyness at each hour of the day (value at HH:00; linear in between): quiet before dawn,
# rising through the day, peaking around 22:00.
DIURNAL: tuple[float, ...] = (
    0.75,
    0.60,
    0.45,
    0.32,
    0.22,
    0.18,
    0.20,
    0.27,
    0.35,
    0.42,
    0.47,
    0.50,
    0.52,
    0.53,
    0.55,
    0.58,
    0.62,
    0.67,
    0.73,
    0.80,
    0.87,
    0.95,
    1.00,
    0.90,
)

# 年末年始: how busy each day is (at its noon; linear in between), from the trial week's shape.
NEW_YEAR_DAYS: dict[date, float] = {
    date(2026, 12, 28): 0.55,
    date(2026, 12, 29): 0.70,
    date(2026, 12, 30): 0.75,
    date(2026, 12, 31): 0.85,
    date(2027, 1, 1): 0.90,
    date(2027, 1, 2): 0.80,
    date(2027, 1, 3): 0.75,
    date(2027, 1, 4): 0.55,
}
NEW_YEAR_MIDNIGHT = datetime(2027, 1, 1, 0, 0, tzinfo=JST)
SPIKE_CENTRE_HOURS, SPIKE_WIDTH_HOURS, SPIKE_HEIGHT = 1.0, 1.2, 0.55  # a bump after 00:00 on Jan 1, for a few hours

MAY_CAMPAIGN_LAUNCH = datetime(2027, 5, 17, 10, 0, tzinfo=JST)  # Monday of the second week, 10:00
MAY_CAMPAIGN_FACTOR = 5.0
WEEKEND_FLATNESS = 0.5  # weekends: half the daily curve, half a flat 0.6 (no sharp evening peak)

# The chat profile: how much busier the chat channel is than its share of the calls, at an instant.
CHAT_SHARE = 0.3  # chats started per call attempt, outside the profile's spikes
NEW_YEAR_CHAT_SPIKE = (1.5, 1.5, 1.2)  # after midnight on Jan 1: centre and width (hours), height (× the share, added)
MAY_CHAT_SPIKE = (2.0, 6.0)  # from the campaign launch: height (× the share, added) and half-life in hours


@dataclass(frozen=True)
class Calendar:
    """A simulated period and how busy the dial is at each instant of it, relative to the busiest (1.0)."""

    name: str
    start: datetime
    end: datetime
    raw: Callable[[datetime], float]  # un-normalised busyness
    scale: float = 1.0  # 1 / the busiest raw value in [start, end]

    def relative(self, at: datetime) -> float:
        """Return the busyness at an instant, 0 outside the period, 1.0 at the busiest instant."""
        if not self.start <= at < self.end:
            return 0.0
        return self.raw(at) * self.scale

    def window(self, start: datetime, end: datetime) -> Calendar:
        """Return the same calendar over a part of its period, still relative to the whole period's peak."""
        if not (self.start <= start < end <= self.end):
            raise ValueError(f"{start.isoformat()} – {end.isoformat()} is not inside {self.name}'s period")
        return Calendar(self.name, start, end, self.raw, self.scale)


def normalised(name: str, start: datetime, end: datetime, raw: Callable[[datetime], float]) -> Calendar:
    """Return a calendar scaled so that its busiest minute is 1.0."""
    minutes = int((end - start).total_seconds() // 60)
    busiest = max(raw(start + timedelta(minutes=m)) for m in range(minutes))
    return Calendar(name, start, end, raw, 1.0 / busiest)


def diurnal(at: datetime) -> float:
    """Return the time-of-day busyness at an instant (JST), interpolated between hours."""
    local = at.astimezone(JST)
    hours = local.hour + local.minute / 60 + local.second / 3600
    low = int(hours) % 24
    fraction = hours - int(hours)
    return DIURNAL[low] * (1 - fraction) + DIURNAL[(low + 1) % 24] * fraction


def by_day(days: dict[date, float], at: datetime) -> float:
    """Return a per-day factor interpolated between the days' noons (no jump at midnight)."""
    local = at.astimezone(JST)
    noon = datetime.combine(local.date(), datetime.min.time(), JST) + timedelta(hours=12)
    other = local.date() + timedelta(days=1 if local >= noon else -1)
    here = days.get(local.date(), min(days.values()))
    there = days.get(other, here)
    fraction = abs((local - noon).total_seconds()) / 86400
    return here * (1 - fraction) + there * fraction


def new_year_raw(at: datetime) -> float:
    """年末年始: daily curve × day factor, plus the spike after midnight on Jan 1."""
    hours = (at - NEW_YEAR_MIDNIGHT).total_seconds() / 3600
    spike = SPIKE_HEIGHT * math.exp(-(((hours - SPIKE_CENTRE_HOURS) / SPIKE_WIDTH_HOURS) ** 2) / 2) if hours >= 0 else 0.0
    return diurnal(at) * by_day(NEW_YEAR_DAYS, at) + spike


def may_raw(at: datetime) -> float:
    """May: weekday evening peaks, flatter weekends; five times the rate from the campaign launch on."""
    local = at.astimezone(JST)
    day = diurnal(at) if local.weekday() < 5 else WEEKEND_FLATNESS * diurnal(at) + (1 - WEEKEND_FLATNESS) * 0.6
    return day * (MAY_CAMPAIGN_FACTOR if at >= MAY_CAMPAIGN_LAUNCH else 1.0)


def calendar(name: str) -> Calendar:
    """Return a named surge calendar: "newyear" (Dec 28 09:00 – Jan 4 12:00) or "may" (two weeks)."""
    if name == "newyear":
        return normalised(name, datetime(2026, 12, 28, 9, tzinfo=JST), datetime(2027, 1, 4, 12, tzinfo=JST), new_year_raw)
    if name == "may":
        return normalised(name, datetime(2027, 5, 10, tzinfo=JST), datetime(2027, 5, 24, tzinfo=JST), may_raw)
    raise ValueError(f"unknown shape {name!r}; choose newyear or may")


SHAPES: Sequence[str] = ("newyear", "may")


def chat_boost(name: str, at: datetime) -> float:
    """Return the chat profile of a named calendar at an instant: 1.0 outside its spikes, more within them."""
    if name == "newyear":
        centre, width, height = NEW_YEAR_CHAT_SPIKE
        hours = (at - NEW_YEAR_MIDNIGHT).total_seconds() / 3600
        return 1.0 + (height * math.exp(-(((hours - centre) / width) ** 2) / 2) if hours >= 0 else 0.0)
    if name == "may":
        height, half_life = MAY_CHAT_SPIKE
        hours = (at - MAY_CAMPAIGN_LAUNCH).total_seconds() / 3600
        return 1.0 + (height * 0.5 ** (hours / half_life) if hours >= 0 else 0.0)
    return 1.0


def chat_boost_ceiling(name: str) -> float:
    """Return the highest value chat_boost takes for a named calendar."""
    return 1.0 + {"newyear": NEW_YEAR_CHAT_SPIKE[2], "may": MAY_CHAT_SPIKE[0]}.get(name, 0.0)


@dataclass(frozen=True)
class Timeline:
    """A calendar on the real clock: simulated = start + (real - epoch0) × speed; peak attempts/s at the busiest instant."""

    calendar: Calendar
    epoch0: float  # real epoch seconds at which the simulated clock reads calendar.start
    speed: float  # simulated seconds per real second
    peak: float  # call attempts per real second at relative busyness 1.0

    @property
    def seconds(self) -> float:
        """Real seconds the calendar takes."""
        return (self.calendar.end - self.calendar.start).total_seconds() / self.speed

    @property
    def epoch_end(self) -> float:
        return self.epoch0 + self.seconds

    def simulated(self, epoch: float) -> datetime:
        """Return the simulated instant at a real epoch time."""
        return self.calendar.start + timedelta(seconds=(epoch - self.epoch0) * self.speed)

    def epoch(self, simulated: datetime) -> float:
        """Return the real epoch time at which the simulated clock reads `simulated` (the inverse of simulated())."""
        return self.epoch0 + (simulated - self.calendar.start).total_seconds() / self.speed

    def rate(self, epoch: float) -> float:
        """Return the target call attempts per real second at a real epoch time (0 outside the period)."""
        return self.peak * self.calendar.relative(self.simulated(epoch))

    def expected(self, start: float, end: float, step: float = 0.25) -> float:
        """Return the expected number of attempts between two real epoch times (midpoint rule)."""
        steps = max(1, math.ceil((end - start) / step))
        width = (end - start) / steps
        return sum(self.rate(start + (i + 0.5) * width) for i in range(steps)) * width

    def busiest_ahead(self, epoch: float, seconds: float) -> float:
        """Return the highest target rate in the next `seconds` (sampled every quarter second)."""
        return max(self.rate(epoch + s / 4) for s in range(int(seconds * 4) + 1))

    def chat_rate(self, epoch: float, chat_share: float) -> float:
        """Return the target chats started per real second at a real epoch time: the calls' rate × share × the chat profile."""
        rate = self.rate(epoch)
        return rate * chat_share * chat_boost(self.calendar.name, self.simulated(epoch)) if rate else 0.0

    def expected_chats(self, start: float, end: float, chat_share: float, step: float = 0.25) -> float:
        """Return the expected number of chats started between two real epoch times (midpoint rule)."""
        steps = max(1, math.ceil((end - start) / step))
        width = (end - start) / steps
        return sum(self.chat_rate(start + (i + 0.5) * width, chat_share) for i in range(steps)) * width


def arrivals(timeline: Timeline, rng: random.Random, *, start: float, share: float = 1.0) -> Iterator[float]:
    """Yield the real epoch times of call attempts from `start`: a Poisson process following the target rate × share.

    Thinning: candidates at the peak rate, each kept with probability rate(t) / peak. Several
    processes with share 1/N each add up to one Poisson process at the full rate.
    """
    return _thinned(timeline, rng, lambda t: timeline.rate(t) * share, timeline.peak * share, start)


def chat_arrivals(timeline: Timeline, rng: random.Random, *, start: float, chat_share: float, share: float = 1.0) -> Iterator[float]:
    """Yield the real epoch times at which people start a chat: a Poisson process following the chat rate × share."""
    ceiling = timeline.peak * chat_share * chat_boost_ceiling(timeline.calendar.name) * share
    return _thinned(timeline, rng, lambda t: timeline.chat_rate(t, chat_share) * share, ceiling, start)


def _thinned(timeline: Timeline, rng: random.Random, rate: Callable[[float], float], ceiling: float, start: float) -> Iterator[float]:
    """Yield a Poisson process of the given rate (at most ceiling) from start to the calendar's end, by thinning."""
    if ceiling <= 0:
        return
    t = max(start, timeline.epoch0)
    while True:
        t += rng.expovariate(ceiling)
        if t >= timeline.epoch_end:
            return
        if rng.random() * ceiling < rate(t):
            yield t


def speed_for(calendar: Calendar, real_seconds: float) -> float:
    """Return the clock speed that plays the calendar's period in `real_seconds`."""
    return (calendar.end - calendar.start).total_seconds() / real_seconds


def service_clock_start(calendar: Calendar, speed: float, lead_seconds: float) -> datetime:
    """Return TSUNAGU_CLOCK for a service that starts `lead_seconds` (real) before the calendar should begin."""
    return (calendar.start - timedelta(seconds=lead_seconds * speed)).astimezone(JST)
