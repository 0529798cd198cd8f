"""The frozen, indexed directory view that routing reads, and the one place that builds it.

Index: (channel, topic) → a bucket of services by reach: the whole nation, a prefecture
(2-digit code) or a municipality (5-digit code; a designated city's service is listed
under the city's own code and under each of its wards).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Literal

from referral_directory.hours import DatedHours, Hours, Window, window
from referral_directory.records import NATION, DirectoryRecords, ScheduleRecord, ServiceRecord
from referral_directory.regions import Regions

Match = Literal["nation", "prefecture", "designated_city", "municipality"]
# How specific a match is: a service reaching the caller several ways keeps its most specific one.
MATCH_RANK: Mapping[str, int] = MappingProxyType({"nation": 0, "prefecture": 1, "designated_city": 2, "municipality": 3})


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    id: str
    name: str
    organization: str
    tier: str
    topics: frozenset[str]
    channels: frozenset[str]
    capacity: Mapping[str, int]
    hours: Hours
    phones: tuple[str, ...]
    sns_url: str
    areas: tuple[str, ...]
    organization_id: str = ""
    # Memo of opening-hours answers, each with the span of instants it holds for (see routing.engine).
    memo: dict[str, tuple[datetime, datetime]] = field(default_factory=dict, compare=False, repr=False, hash=False)


@dataclass(frozen=True, slots=True)
class Reach:
    entry: ServiceEntry
    match: Match


@dataclass(frozen=True, slots=True)
class Bucket:
    nation: tuple[Reach, ...] = ()
    prefecture: Mapping[str, tuple[Reach, ...]] = field(default_factory=dict)
    municipality: Mapping[str, tuple[Reach, ...]] = field(default_factory=dict)


EMPTY_BUCKET = Bucket()


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    built_at: datetime
    services: Mapping[str, ServiceEntry]
    buckets: Mapping[tuple[str, str], Bucket]
    holidays: Container[date]
    # (channel, topic, prefecture, municipality) → every service reaching such a contact, merged
    # ahead of time so that routing a contact starts with one dictionary look-up.
    reaches: Mapping[tuple[str, str, str | None, str | None], tuple[Reach, ...]] = field(default_factory=dict, repr=False)

    def bucket(self, channel: str, topic: str) -> Bucket:
        """Return the services for a channel and topic, indexed by reach."""
        return self.buckets.get((channel, topic), EMPTY_BUCKET)

    def reaching(self, channel: str, topic: str, prefecture: str | None, municipality: str | None) -> tuple[Reach, ...]:
        """Return the services reaching a contact, each once at its most specific match."""
        found = self.reaches.get((channel, topic, prefecture, municipality))
        if found is None:
            found = merge_reaches(self.bucket(channel, topic), prefecture, municipality)
        return found


def merge_reaches(bucket: Bucket, prefecture: str | None, municipality: str | None) -> tuple[Reach, ...]:
    """Return a bucket's services reaching a place, each once, at its most specific match."""
    found: dict[str, Reach] = {}
    groups = [bucket.nation]
    if prefecture is not None:
        groups.append(bucket.prefecture.get(prefecture, ()))
    if municipality is not None:
        groups.append(bucket.municipality.get(municipality, ()))
    for group in groups:
        for reach in group:
            seen = found.get(reach.entry.id)
            if seen is None or MATCH_RANK[reach.match] > MATCH_RANK[seen.match]:
                found[reach.entry.id] = reach
    return tuple(found.values())


def compile_hours(service: ServiceRecord) -> Hours:
    """Turn a service's schedules into the Hours the opening-hours functions read."""
    weekly: list[Window] = []
    extra: list[DatedHours] = []
    closures: list[tuple[date, date]] = []
    for schedule in service.schedules:
        if schedule.kind == "closed":
            closures.append(_dates(schedule))
        elif schedule.kind == "open":
            extra.append(DatedHours(*_dates(schedule), (_window(schedule),)))
        else:
            weekly.append(_window(schedule))
    return Hours(weekly=tuple(weekly), extra=tuple(extra), closures=tuple(closures), closed_on_holidays=service.holidays != "open")


def _dates(schedule: ScheduleRecord) -> tuple[date, date]:
    """Return the inclusive dates of a dated opening or closure (validation requires both)."""
    if schedule.valid_from is None or schedule.valid_to is None:
        raise ValueError(f"{schedule.kind} schedule {schedule.id} needs both valid_from and valid_to")
    return schedule.valid_from, schedule.valid_to


def _window(schedule: ScheduleRecord) -> Window:
    return window(",".join(schedule.byday), schedule.opens_at or "00:00", schedule.closes_at or "24:00")


def build_snapshot(records: DirectoryRecords, regions: Regions, *, version: int, holidays: Container[date], built_at: datetime) -> Snapshot:
    """Build the routing snapshot of the active services in a validated directory."""
    organizations = {o.id: o.name for o in records.organizations}
    services: dict[str, ServiceEntry] = {}
    nation: dict[tuple[str, str], list[Reach]] = defaultdict(list)
    by_prefecture: dict[tuple[str, str], dict[str, list[Reach]]] = defaultdict(lambda: defaultdict(list))
    by_municipality: dict[tuple[str, str], dict[str, list[Reach]]] = defaultdict(lambda: defaultdict(list))
    for record in records.services:
        if record.status != "active":
            continue
        entry = ServiceEntry(
            id=record.id,
            name=record.name,
            organization=organizations.get(record.organization_id, ""),
            organization_id=record.organization_id,
            tier=record.tier,
            topics=frozenset(record.topics),
            channels=frozenset(record.channels),
            capacity=MappingProxyType(dict(record.capacity)),
            hours=compile_hours(record),
            phones=tuple(p.number for p in record.phones),
            sns_url=record.sns_url,
            areas=record.areas,
        )
        services[entry.id] = entry
        # A channel with no capacity is paused: it takes nobody, so it is not offered at all.
        channels = [channel for channel in record.channels if entry.capacity.get(channel, 0) > 0]
        keys = [(channel, topic) for channel in channels for topic in record.topics]
        for lgcode in record.areas:
            for key in keys:
                _index(lgcode, entry, key, regions, nation, by_prefecture, by_municipality)
    buckets = {
        key: Bucket(
            nation=tuple(nation.get(key, ())),
            prefecture=MappingProxyType({k: tuple(v) for k, v in by_prefecture.get(key, {}).items()}),
            municipality=MappingProxyType({k: tuple(v) for k, v in by_municipality.get(key, {}).items()}),
        )
        for key in set(nation) | set(by_prefecture) | set(by_municipality)
    }
    places: list[tuple[str | None, str | None]] = [(None, None), *((code, None) for code in regions.prefectures)]
    places += [(m.prefecture, m.code) for m in regions.municipalities.values()]
    places += [(c.prefecture, c.code) for c in regions.designated_cities.values()]
    reaches = {
        (channel, topic, prefecture, municipality): merge_reaches(bucket, prefecture, municipality)
        for (channel, topic), bucket in buckets.items()
        for prefecture, municipality in places
    }
    return Snapshot(
        version=version,
        built_at=built_at,
        services=MappingProxyType(services),
        buckets=MappingProxyType(buckets),
        holidays=holidays,
        reaches=MappingProxyType(reaches),
    )


def _index(
    lgcode: str,
    entry: ServiceEntry,
    key: tuple[str, str],
    regions: Regions,
    nation: dict[tuple[str, str], list[Reach]],
    by_prefecture: dict[tuple[str, str], dict[str, list[Reach]]],
    by_municipality: dict[tuple[str, str], dict[str, list[Reach]]],
) -> None:
    if lgcode == NATION:
        nation[key].append(Reach(entry, "nation"))
        return
    area = regions.area(lgcode)
    if area.kind == "prefecture":
        by_prefecture[key][area.code].append(Reach(entry, "prefecture"))
    elif area.kind == "designated_city":
        for code in (area.code, *area.municipalities):
            by_municipality[key][code].append(Reach(entry, "designated_city"))
    else:
        by_municipality[key][area.code].append(Reach(entry, "municipality"))
