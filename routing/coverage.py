"""Where local help is missing: for a topic and a channel, which municipalities have no open window of
their prefecture or of their own municipality, at an instant, hour by hour, or over a whole range of days. Pure.

local_coverage(snapshot, places, topic=, channel=, spans=) asks, for each place and each span of
time, whether a prefecture-tier and a municipal-tier window reaching it (the same services routing
would offer: snapshot.reaching) is open at some moment of the span. National windows reach
everyone alike and are left aside. Each distinct set of opening hours is walked once for the whole
range (hours.open_spans) and kept as a bit mask over the spans (most local windows share a few
sets of office hours), so a week of hours over every municipality of Japan is a few hundred walks
and some bit operations.

A place is one of Regions.municipalities: a ward of a designated city counts as its own place,
reached by the city's services as routing reaches it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from referral_directory.hours import JST, Hours, is_open_at, open_spans
from referral_directory.regions import Municipality, Regions
from referral_directory.snapshot import Reach, Snapshot

LOCAL_TIERS: tuple[str, ...] = ("prefecture", "municipal")
ONE_MINUTE = timedelta(minutes=1)
ONE_HOUR = timedelta(hours=1)
ONE_DAY = timedelta(days=1)
WEEK_HOURS = 7 * 24

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class PlaceCoverage:
    """One municipality: the local tiers that have a window reaching it, and, per tier, the spans with one open."""

    code: str  # 5 digits
    name: str
    served: frozenset[str]  # the LOCAL_TIERS with a window for the topic and channel reaching the place
    open: tuple[int, ...]  # per LOCAL_TIERS entry, a bit mask over the spans: bit i is set when one is open in span i
    local: int = 0  # the bit mask of spans with some local window open (the union of `open`; set by local_coverage)

    def open_in(self, tier: str, span: int) -> bool:
        """Whether a window of a local tier is open at some moment of span `span`."""
        return bool(self.open[LOCAL_TIERS.index(tier)] >> span & 1)

    def hours_open(self, tier: str | None = None) -> int:
        """How many spans have a window of the tier (None: of either local tier) open."""
        return (self.local if tier is None else self.open[LOCAL_TIERS.index(tier)]).bit_count()


@dataclass(frozen=True, slots=True)
class Coverage:
    topic: str
    channel: str
    spans: tuple[Span, ...]
    places: tuple[PlaceCoverage, ...]

    def closed_throughout(self) -> tuple[PlaceCoverage, ...]:
        """The places that have local windows for the topic but none open at any moment of any span: they lose every one."""
        return tuple(p for p in self.places if p.served and not p.local)

    def unserved(self) -> tuple[PlaceCoverage, ...]:
        """The places no local window serves for the topic and channel at all: only national windows reach them."""
        return tuple(p for p in self.places if not p.served)

    def share_open(self, span: int) -> float:
        """The share of places with some local window open in span `span` (0 when there are no places)."""
        if not self.places:
            return 0.0
        return sum(1 for p in self.places if p.local >> span & 1) / len(self.places)

    def shares_open(self) -> tuple[float, ...]:
        """Per span, the share of places with some local window open in it: one pass over the places' open spans."""
        counts = [0] * len(self.spans)
        for place in self.places:
            mask = place.local
            while mask:
                lowest = mask & -mask
                counts[lowest.bit_length() - 1] += 1
                mask ^= lowest
        return tuple(n / len(self.places) if self.places else 0.0 for n in counts)


class OpenMasks:
    """The spans in which each service is open, as bit masks over one sequence of spans, each worked out once: found by
    the service's id (a cheap look-up), and shared by services with the same opening hours (most local windows share a
    few sets of office hours). Share one between calls for several topics over the same spans."""

    def __init__(self, spans: Sequence[Span], holidays: Container[date]) -> None:
        self.spans = tuple(spans)
        self.holidays = holidays
        self.by_service: dict[str, int] = {}
        self.by_hours: dict[Hours, int] = {}

    def of(self, service_id: str, hours: Hours) -> int:
        mask = self.by_service.get(service_id)
        if mask is None:
            mask = self.by_hours.get(hours)
            if mask is None:
                mask = self.by_hours[hours] = _open_mask(hours, self.spans, self.holidays)
            self.by_service[service_id] = mask
        return mask


def local_coverage(
    snapshot: Snapshot, places: Iterable[Municipality], *, topic: str, channel: str, spans: Sequence[Span], masks: OpenMasks | None = None
) -> Coverage:
    """Return, for each place and span, whether a prefecture and a municipal window for the topic and channel is open in it.

    `spans` must be in order and must not overlap. `masks`: the open spans of services worked out
    already for these same spans, filled in as they are worked out.
    """
    spans = tuple(spans)
    masks = OpenMasks(spans, snapshot.holidays) if masks is None else masks
    if masks.spans != spans:
        raise ValueError("the open masks given were worked out for other spans")
    # The services reaching a place are those of the whole country, of its prefecture and of its own municipality
    # (snapshot.reaching merges the same three groups): the first two are worked out once, not once per place.
    bucket = snapshot.bucket(channel, topic)
    country = _with_local(NOBODY, bucket.nation, masks)
    prefectures: dict[str, Local] = {}
    found: list[PlaceCoverage] = []
    for place in places:
        prefecture = prefectures.get(place.prefecture)
        if prefecture is None:
            prefecture = prefectures[place.prefecture] = _with_local(country, bucket.prefecture.get(place.prefecture, ()), masks)
        served, open_masks = _with_local(prefecture, bucket.municipality.get(place.code, ()), masks)
        local = 0
        for tier_mask in open_masks:
            local |= tier_mask
        found.append(PlaceCoverage(place.code, place.name, served, open_masks, local))
    return Coverage(topic, channel, spans, tuple(found))


Local = tuple[frozenset[str], tuple[int, ...]]  # the local tiers with a window reaching a place, and per tier its open spans
NOBODY: Local = (frozenset(), (0,) * len(LOCAL_TIERS))


def _with_local(known: Local, reaches: tuple[Reach, ...], masks: OpenMasks) -> Local:
    """`known` with the local windows among `reaches` added (national windows are left aside)."""
    if not reaches:
        return known  # most places have no window of their own municipality
    served, open_masks = set(known[0]), list(known[1])
    for reach in reaches:
        entry = reach.entry
        if entry.tier in LOCAL_TIERS:
            served.add(entry.tier)
            open_masks[LOCAL_TIERS.index(entry.tier)] |= masks.of(entry.id, entry.hours)
    return frozenset(served), tuple(open_masks)


def _open_mask(hours: Hours, spans: tuple[Span, ...], holidays: Container[date]) -> int:
    """The bit mask of the spans in which a service with these hours is open at some moment."""
    if not spans:
        return 0
    if len(spans) == 1 and spans[0][1] - spans[0][0] <= ONE_MINUTE:  # one minute: hours are whole minutes
        return int(is_open_at(hours, spans[0][0], holidays))
    starts = [lo for lo, _ in spans]
    mask = 0
    for opens, closes in open_spans(hours, spans[0][0], spans[-1][1], holidays):
        i = max(bisect_right(starts, opens) - 1, 0)
        while i < len(spans) and spans[i][0] < closes:
            if spans[i][1] > opens:
                mask |= 1 << i
            i += 1
    return mask


def places_of(regions: Regions, prefecture: str | None) -> tuple[Municipality, ...]:
    """The municipalities (designated cities' wards each on their own) of a prefecture, or of the whole country, in JIS code order."""
    return tuple(m for code, m in sorted(regions.municipalities.items()) if prefecture is None or m.prefecture == prefecture)


def instant_spans(at: datetime) -> tuple[Span, ...]:
    """One span: the minute of `at` (opening hours are kept in whole minutes)."""
    start = at.astimezone(JST).replace(second=0, microsecond=0)
    return ((start, start + ONE_MINUTE),)


def week_spans(monday: date) -> tuple[Span, ...]:
    """The 168 hours of the week starting on `monday` (JST), Monday 0:00-1:00 first."""
    start = datetime.combine(monday, time(0), JST)
    return tuple((start + i * ONE_HOUR, start + (i + 1) * ONE_HOUR) for i in range(WEEK_HOURS))


def range_spans(first: date, last: date) -> tuple[Span, ...]:
    """One span: every moment from the start of `first` to the end of `last` (JST, both days included)."""
    return ((datetime.combine(first, time(0), JST), datetime.combine(last, time(0), JST) + ONE_DAY),)
