"""Checks on directory records before they are stored: every problem at once, for a coordinator to fix.

Pure: a function of the records, the regions and the ids already in the database. Importers
(HSDS, CSV, XLSX) and the coordinator API all run their records through `validate_records`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable
from typing import TYPE_CHECKING, get_args
from urllib.parse import urlsplit

import phonenumbers

from referral_directory.hours import parse_byday, parse_hhmm
from referral_directory.records import (
    AREAS_MAX,
    CHANNELS,
    DESCRIPTION_MAX,
    MAX_CAPACITY,
    NAME_MAX,
    NATION,
    PHONES_MAX,
    SCHEDULES_MAX,
    TIERS,
    TOPICS,
    DirectoryRecords,
    HolidayBehaviour,
    OrganizationRecord,
    Problem,
    ScheduleKind,
    ScheduleRecord,
    ServiceRecord,
    ServiceStatus,
)
from referral_directory.regions import RegionError

if TYPE_CHECKING:
    from referral_directory.regions import Regions

EXAMPLE_NUMBER = "+81312345678"
EXAMPLE_UUID = "0b6c5e6e-8a1f-4f5e-9d43-2f6f8f1c2a77"
SCHEDULE_KINDS: tuple[str, ...] = get_args(ScheduleKind)
HOLIDAY_BEHAVIOURS: tuple[str, ...] = get_args(HolidayBehaviour)
STATUSES: tuple[str, ...] = get_args(ServiceStatus)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DAY_MINUTES = 1440
_CAPACITY_DIGITS = len(str(MAX_CAPACITY))
_SHOWN = 40  # characters of a refused value a message repeats, at most
# Characters no directory file can carry: control characters but tab and line breaks (XML, so
# XLSX, has no place for them), noncharacters, and lone surrogates (no UTF-8 for them).
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")

AddProblem = Callable[[str, str], None]  # (field, message)


def service_where(service_id: str, name: str) -> str:
    """Return how problems name a service: `service <id> (<name>)`."""
    return f"service {service_id or '(no id)'} ({name})"


def organization_where(organization_id: str, name: str) -> str:
    """Return how problems name an organization: `organization <id> (<name>)`."""
    return f"organization {organization_id or '(no id)'} ({name})"


def one_of(codes: Iterable[str]) -> str:
    """Return the allowed codes for a message: "life, mind, crisis"."""
    return ", ".join(codes)


def is_uuid(text: object) -> bool:
    """Return whether text is a UUID written in the usual 8-4-4-4-12 hex form."""
    return isinstance(text, str) and bool(_UUID.fullmatch(text))


def phone_problem(number: str) -> str | None:
    """Return why a phone number is not a valid Japanese E.164 number, or None when it is."""
    hint = f'write it in E.164 form, like "{EXAMPLE_NUMBER}"'
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return f'"{number}" is not an E.164 number; {hint}'
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
        return f'"{number}" is not an E.164 number; {hint}'
    if parsed.country_code != 81:
        return f'"{number}" is not a Japanese number; {hint}'
    if not phonenumbers.is_valid_number(parsed):
        return f'"{number}" is not a valid Japanese phone number; {hint}'
    return None


def cut(text: str) -> str:
    """Return text as a message repeats it: cut short when long."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def shown(value: object) -> str:
    """Return a refused value as a message repeats it: its repr, cut short when long."""
    return cut(repr(value))


def capacity_problem(channel: str, sessions: object) -> str | None:
    """Return why a channel's capacity is not a whole number of sessions from 0 to MAX_CAPACITY, or None when it is."""
    if type(sessions) is int and 0 <= sessions <= MAX_CAPACITY:
        return None
    return f"capacity for {channel} must be a whole number from 0 to {MAX_CAPACITY}; got {shown(sessions)}"


def read_capacity_digits(digits: str) -> int | None:
    """Return the number ASCII digits write, or None when it has more digits than any capacity may have.

    A file may hold digits by the thousand; int() is never asked to read more than a capacity's few.
    """
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _CAPACITY_DIGITS else None


def validate_records(records: DirectoryRecords, regions: Regions, *, known_organization_ids: Container[str] = ()) -> tuple[Problem, ...]:
    """Return every problem in the records (empty when they can be stored), never stopping at the first."""
    problems: list[Problem] = []
    seen: dict[str, dict[str, str]] = {"organization": {}, "service": {}, "phone": {}, "schedule": {}}

    def check_id(kind: str, value: str, where: str, field: str, add: AddProblem) -> None:
        if not is_uuid(value):
            add(field, f'{kind} id "{value}" is not a UUID (like "{EXAMPLE_UUID}")')
        elif value in seen[kind]:
            add(field, f"{kind} id {value} is used twice: also by {seen[kind][value]}")
        else:
            seen[kind][value] = f"{where} {field}" if kind in ("phone", "schedule") else where

    organization_ids = {o.id for o in records.organizations}
    for organization in records.organizations:
        where = organization_where(organization.id, organization.name)
        add = _adder(problems, where)
        check_id("organization", organization.id, where, "id", add)
        _check_organization(organization, add)
    for service in records.services:
        where = service_where(service.id, service.name)
        add = _adder(problems, where)
        check_id("service", service.id, where, "id", add)
        for index, phone in enumerate(service.phones):
            check_id("phone", phone.id, where, f"phones[{index}].id", add)
        for index, schedule in enumerate(service.schedules):
            check_id("schedule", schedule.id, where, f"schedules[{index}].id", add)
        if service.organization_id not in organization_ids and service.organization_id not in known_organization_ids:
            add("organization_id", f"organization {service.organization_id} is neither in this file nor in the directory")
        _check_service(service, regions, add)
    return tuple(problems)


def _adder(problems: list[Problem], where: str) -> AddProblem:
    return lambda field, message: problems.append(Problem(where, field, message))


def _prefixed(add: AddProblem, prefix: str) -> AddProblem:
    return lambda field, message: add(prefix + field, message)


def _check_organization(organization: OrganizationRecord, add: AddProblem) -> None:
    if not organization.name.strip():
        add("name", "the organization has no name")
    _check_writable(organization, ("name", "description", "email", "website"), add)
    _check_lengths(organization, add)


def _check_lengths(record: OrganizationRecord | ServiceRecord, add: AddProblem) -> None:
    for field, most in (("name", NAME_MAX), ("description", DESCRIPTION_MAX)):
        length = len(getattr(record, field))
        if length > most:
            add(field, f"{field} has {length:,} characters; at most {most:,}")


def _check_writable(record: object, fields: tuple[str, ...], add: AddProblem) -> None:
    """Refuse texts holding a character no export could write: the directory must always export."""
    for field in fields:
        found = _UNWRITABLE.search(getattr(record, field))
        if found:
            add(field, f"{field} holds a character no directory file can carry (U+{ord(found[0]):04X}, unseen on screen); remove it")


def _check_service(service: ServiceRecord, regions: Regions, add: AddProblem) -> None:
    if not service.name.strip():
        add("name", "the service has no name")
    if service.tier not in TIERS:
        add("tier", f'unknown tier "{service.tier}"; use one of: {one_of(TIERS)}')
    _check_codes("topics", "topic", service.topics, TOPICS, add)
    _check_codes("channels", "channel", service.channels, CHANNELS, add)
    if service.holidays not in HOLIDAY_BEHAVIOURS:
        add("holidays", f'unknown holiday behaviour "{service.holidays}"; use one of: {one_of(HOLIDAY_BEHAVIOURS)}')
    if service.status not in STATUSES:
        add("status", f'unknown status "{service.status}"; use one of: {one_of(STATUSES)}')
    _check_capacity(service, add)
    _check_areas(service.areas, regions, add)
    _check_contact(service, add)
    _check_writable(service, ("name", "description", "sns_url"), add)
    _check_lengths(service, add)
    for field, parts, most in (
        ("areas", service.areas, AREAS_MAX),
        ("phones", service.phones, PHONES_MAX),
        ("schedules", service.schedules, SCHEDULES_MAX),
    ):
        if len(parts) > most:
            add(field, f"{len(parts)} {field}: a service holds at most {most}")
    for index, phone in enumerate(service.phones):
        _check_writable(phone, ("description",), _prefixed(add, f"phones[{index}]."))
    for index, schedule in enumerate(service.schedules):
        _check_writable(schedule, ("description",), _prefixed(add, f"schedules[{index}]."))
        _check_schedule(schedule, _prefixed(add, f"schedules[{index}]."))
    if service.status == "active" and not any(s.kind in ("weekly", "open") for s in service.schedules):
        add("schedules", "the service is active but has no weekly hours or dated openings, so it is never open")


def _check_codes(field: str, noun: str, codes: tuple[str, ...], allowed: tuple[str, ...], add: AddProblem) -> None:
    if not codes:
        add(field, f"no {field}; give at least one of: {one_of(allowed)}")
    for code in codes:
        if code not in allowed:
            add(field, f'unknown {noun} "{code}"; use one of: {one_of(allowed)}')


def _check_capacity(service: ServiceRecord, add: AddProblem) -> None:
    given: dict[str, object] = {}
    for channel, count in service.capacity:
        if channel not in CHANNELS:
            add("capacity", f'capacity for unknown channel "{channel}"; use one of: {one_of(CHANNELS)}')
        elif channel in given:
            add(f"capacity.{channel}", f"capacity for {channel} is given twice")
        given[channel] = count
    for channel in CHANNELS:
        sessions = given.get(channel)
        taken = channel in service.channels
        if taken and sessions is None:
            add(f"capacity.{channel}", f"capacity for {channel} is missing: how many sessions can it hold at once?")
        elif sessions is not None and (problem := capacity_problem(channel, sessions)):
            add(f"capacity.{channel}", problem)
        elif not taken and sessions:
            add(
                f"capacity.{channel}",
                f"capacity {sessions} for {channel}, but the service does not take {channel}; "
                f"add {channel} to its channels or leave the capacity empty",
            )


def _check_areas(areas: tuple[str, ...], regions: Regions, add: AddProblem) -> None:
    if not areas:
        add("areas", f"no service area; give lgcodes such as 131016, or {NATION} for the whole country")
    for code in areas:
        try:
            area = regions.area(code)
        except RegionError as error:
            add("areas", str(error))
            continue
        if area.lgcode != code:
            add("areas", f'write area "{code}" as {area.lgcode}')


def _check_contact(service: ServiceRecord, add: AddProblem) -> None:
    for index, phone in enumerate(service.phones):
        problem = phone_problem(phone.number)
        if problem:
            add(f"phones[{index}].number", problem)
    if "voice" in service.channels and not service.phones:
        add("phones", "a voice service needs at least one phone number")
    if service.sns_url:
        url = urlsplit(service.sns_url)
        if not (url.scheme in ("http", "https") and url.netloc):
            add("sns_url", f'"{service.sns_url}" is not a web address like "https://sns.example.jp/queues/tokyo"')


def _check_schedule(schedule: ScheduleRecord, add: AddProblem) -> None:
    kind = schedule.kind
    if kind not in SCHEDULE_KINDS:
        add("kind", f'unknown schedule kind "{kind}"; use one of: {one_of(SCHEDULE_KINDS)}')
        return
    dated = kind in ("open", "closed")
    label = {"open": "a dated opening", "closed": "a closure"}.get(kind, "")
    for field in ("valid_from", "valid_to"):
        value = getattr(schedule, field)
        if dated and value is None:
            add(field, f"{field} is missing: {label} needs inclusive dates valid_from and valid_to")
        elif not dated and value is not None:
            add(field, f"weekly hours have no {field}; to limit hours to some dates, make it a dated opening (kind open)")
    if schedule.valid_from and schedule.valid_to and schedule.valid_to < schedule.valid_from:
        add("valid_to", f"valid_to {schedule.valid_to} is before valid_from {schedule.valid_from}")
    if kind == "closed":
        extra = [f for f in ("byday", "opens_at", "closes_at") if getattr(schedule, f)]
        if extra:
            add(extra[0], f"a closure shuts whole days and has no {'/'.join(extra)}; remove them, or make it kind open")
        return
    _check_window(schedule, add)


def _check_window(schedule: ScheduleRecord, add: AddProblem) -> None:
    if not schedule.byday:
        add("byday", 'byday is missing: give the days the hours apply to, such as "MO,TU,WE,TH,FR"')
    else:
        try:
            parse_byday(",".join(schedule.byday))
        except ValueError as error:
            add("byday", str(error))
    minutes: dict[str, int] = {}
    for field in ("opens_at", "closes_at"):
        value = getattr(schedule, field)
        if not value:
            add(field, f'{field} is missing: give a time such as "09:00"')
            continue
        try:
            minutes[field] = parse_hhmm(value)
        except ValueError as error:
            add(field, str(error))
    if minutes.get("opens_at") == _DAY_MINUTES:
        add("opens_at", 'hours cannot open at "24:00"; write "00:00"')
    elif len(minutes) == 2 and minutes["opens_at"] == minutes["closes_at"]:
        add("closes_at", f"impossible hours: opens and closes at {schedule.opens_at}; for all day write 00:00-24:00")
