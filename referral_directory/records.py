"""Plain, frozen directory records: the common currency of import, export, storage and snapshot.

Importers produce these, exporters consume them, the database loads into them and the
snapshot is built from them. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

Tier = Literal["national", "prefecture", "municipal"]
Channel = Literal["voice", "sns"]
ScheduleKind = Literal["weekly", "open", "closed"]
HolidayBehaviour = Literal["closed", "open"]
ServiceStatus = Literal["active", "inactive", "defunct", "temporarily closed"]

# Ordered by IVR digit: TOPICS[digit - 1].
TOPICS: tuple[str, ...] = ("life", "mind", "crisis", "violence", "family", "youth", "sogi", "foreign", "general")
# For request models: pydantic (and /docs) read the choices from the tuple; mypy cannot, as it is built at run time.
TopicCode = Literal[TOPICS]  # type: ignore[valid-type]  # a Literal of a run-time tuple
TOPIC_LABELS_JA: dict[str, str] = {
    "life": "暮らし・お金・仕事",
    "mind": "こころ・人間関係",
    "crisis": "死にたいほどつらい",
    "violence": "DV・性暴力",
    "family": "子育て・家族・ひとり親",
    "youth": "18歳以下",
    "sogi": "性別違和・同性愛",
    "foreign": "外国語",
    "general": "孤独・孤立、その他",
}
TIERS: tuple[str, ...] = ("national", "prefecture", "municipal")  # the handoff chain's order, national first
TIER_NAMES: dict[str, str] = {"national": "全国の窓口", "prefecture": "都道府県の窓口", "municipal": "市区町村の窓口"}
CHANNELS: tuple[str, ...] = ("voice", "sns")
WEEKDAYS: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
NATION = "000000"  # the whole country; not a real lgcode, no check digit
# The most sessions a service can hold at once on one channel: the API, validation and every importer use it.
# How large a directory record may grow, whichever way it comes in (the API, a sheet, an HSDS file, or
# one added line at a time): generous for real directories, small enough that nobody can fill the
# database or every staff member's lists.
NAME_MAX = 200  # characters of an organisation's or a service's name
DESCRIPTION_MAX = 4000  # characters of an organisation's or a service's description
AREAS_MAX = 2000  # areas of one service: more than every prefecture, municipality and ward of Japan
PHONES_MAX = 50  # phone lines of one service
SCHEDULES_MAX = 200  # opening hours, extra hours and closures of one service
MAX_CAPACITY = 10_000

# Namespace for ids derived from content when a source (a CSV sheet) carries none.
TSUNAGU_NAMESPACE = uuid.UUID("6f1c1b0e-3f5d-4c1e-9a53-2b7d1f0c9e11")


def derived_id(*parts: str) -> str:
    """Return a stable UUID string derived from the given parts (same parts, same id)."""
    return str(uuid.uuid5(TSUNAGU_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True, slots=True)
class PhoneRecord:
    id: str
    number: str  # E.164, "+81..."
    description: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """One HSDS schedule: weekly hours, a dated opening (extra hours) or a dated closure."""

    id: str
    kind: ScheduleKind = "weekly"
    byday: tuple[str, ...] = ()  # WEEKDAYS members, in week order
    opens_at: str | None = None  # "HH:MM"
    closes_at: str | None = None  # "HH:MM"; earlier than opens_at runs past midnight; "24:00" allowed
    valid_from: date | None = None  # inclusive, JST; required for kind open/closed
    valid_to: date | None = None  # inclusive, JST
    description: str = ""


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    id: str
    name: str
    description: str = ""
    email: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    id: str
    organization_id: str
    name: str
    tier: Tier
    topics: tuple[str, ...]  # TOPICS members, in TOPICS order
    channels: tuple[str, ...]  # CHANNELS members, in CHANNELS order
    areas: tuple[str, ...]  # 6-digit lgcodes with check digit, or NATION; sorted
    capacity: tuple[tuple[str, int], ...] = ()  # (channel, concurrent sessions), in CHANNELS order
    holidays: HolidayBehaviour = "closed"
    status: ServiceStatus = "active"
    description: str = ""
    sns_url: str = ""
    phones: tuple[PhoneRecord, ...] = ()
    schedules: tuple[ScheduleRecord, ...] = ()

    def capacity_for(self, channel: str) -> int:
        """Return the concurrent capacity on a channel (0 when the service does not take it)."""
        return dict(self.capacity).get(channel, 0)


@dataclass(frozen=True, slots=True)
class DirectoryRecords:
    organizations: tuple[OrganizationRecord, ...] = ()
    services: tuple[ServiceRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a directory file or request is refused, in words a coordinator can act on."""

    where: str  # "row 12", "service 0b6c… (新宿区こころの窓口)", "file"
    field: str  # "areas", "phones[0].number", "schedules[1].opens_at"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseResult:
    records: DirectoryRecords = field(default_factory=DirectoryRecords)
    problems: tuple[Problem, ...] = ()
    # What was read other than written, without refusing the file (a closure's hours, ignored): shown, never blocking.
    warnings: tuple[Problem, ...] = ()
    # Where each service stands in a sheet (its row), for pages that place problems; not part of what was read.
    service_rows: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems


def normalized(service: ServiceRecord) -> ServiceRecord:
    """Return the service in canonical order; capacity in channel order, for its channels only (a missing one stays
    missing, for validation to ask for: never a silent 0)."""
    topic_rank = {t: i for i, t in enumerate(TOPICS)}
    channels = tuple(c for c in CHANNELS if c in service.channels)
    capacity = dict(service.capacity)
    day_rank = {d: i for i, d in enumerate(WEEKDAYS)}
    return replace(
        service,
        topics=tuple(sorted(set(service.topics), key=lambda t: topic_rank.get(t, len(TOPICS)))),
        channels=channels,
        capacity=tuple((c, capacity[c]) for c in channels if c in capacity),
        areas=tuple(sorted(set(service.areas))),
        schedules=tuple(replace(s, byday=tuple(sorted(set(s.byday), key=lambda d: day_rank.get(d, 7)))) for s in service.schedules),
    )
