"""One change for many services at once, for the surges: a dated closure (年末年始) or a period of extended hours.

Pure: a service and the change in, the changed service out. The change is added to each service as one schedule whose
id is derived from the service and the change, so the schedule previewed is the schedule applied, and a service that
already has the same closure or the same extended hours is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from referral_directory.records import WEEKDAYS, ScheduleRecord, ServiceRecord, derived_id

BulkKind = Literal["closed", "open"]
BULK_KINDS: tuple[BulkKind, ...] = ("closed", "open")


@dataclass(frozen=True, slots=True)
class BulkChange:
    """Close whole days from `valid_from` to `valid_to` (inclusive, JST), or open on them at extra hours."""

    kind: BulkKind
    valid_from: date
    valid_to: date
    byday: tuple[str, ...] = ()  # extended hours only: the weekdays they apply to
    opens_at: str | None = None  # extended hours only: "HH:MM"
    closes_at: str | None = None  # extended hours only: "HH:MM"; earlier than opens_at runs past midnight
    description: str = ""


def _content(schedule: ScheduleRecord) -> tuple[object, ...]:
    """Return what a schedule says, without its id and note: two schedules saying the same are one."""
    return (
        schedule.kind,
        tuple(d for d in WEEKDAYS if d in schedule.byday),
        schedule.opens_at,
        schedule.closes_at,
        schedule.valid_from,
        schedule.valid_to,
    )


def bulk_schedule(service_id: str, change: BulkChange) -> ScheduleRecord:
    """Return the schedule a change adds to one service (the same id whenever it is asked for)."""
    dated = change.kind == "open"
    schedule = ScheduleRecord(
        id="",
        kind=change.kind,
        byday=tuple(d for d in WEEKDAYS if d in change.byday) if dated else (),
        opens_at=change.opens_at if dated else None,
        closes_at=change.closes_at if dated else None,
        valid_from=change.valid_from,
        valid_to=change.valid_to,
        description=change.description,
    )
    return replace(schedule, id=derived_id(service_id, "bulk", *(str(part) for part in _content(schedule))))


def has_change(record: ServiceRecord, change: BulkChange) -> bool:
    """Return whether the service already has the closure or the extended hours (whatever their note)."""
    wanted = _content(bulk_schedule(record.id, change))
    return any(_content(s) == wanted for s in record.schedules)


def with_bulk_change(record: ServiceRecord, change: BulkChange) -> ServiceRecord:
    """Return the service with the change added; the service itself when it has it already."""
    if has_change(record, change):
        return record
    return replace(record, schedules=(*record.schedules, bulk_schedule(record.id, change)))


def overridden(record: ServiceRecord, change: BulkChange) -> tuple[ScheduleRecord, ...]:
    """Return the service's dated schedules the change meets on some day, where closures win over everything.

    Adding a closure: the extended hours it cancels on its days. Adding extended hours: the closures that keep
    the service shut on some of their days anyway.
    """
    other = "open" if change.kind == "closed" else "closed"
    return tuple(
        s
        for s in record.schedules
        if s.kind == other
        and s.valid_from is not None
        and s.valid_to is not None
        and s.valid_from <= change.valid_to
        and change.valid_from <= s.valid_to
    )


def coming_year_end(today: date) -> tuple[date, date]:
    """Return the 年末年始 holidays of government offices (Dec 29 to Jan 3) now under way or next to come."""
    year = today.year - 1 if today <= date(today.year, 1, 3) else today.year
    return date(year, 12, 29), date(year + 1, 1, 3)
