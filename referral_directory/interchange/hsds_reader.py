"""Reading a JP-profile HSDS file (docs/hsds-jp-profile.md) into directory records.

Structural problems (wrong types, missing fields, codes outside the profile's taxonomies) are
reported with the file's own field paths; `hsds.load_hsds` adds the semantic checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from referral_directory.hours import parse_byday, parse_hhmm
from referral_directory.records import (
    CHANNELS,
    TIERS,
    TOPICS,
    WEEKDAYS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    Problem,
    ScheduleRecord,
    ServiceRecord,
)
from referral_directory.validation import (
    HOLIDAY_BEHAVIOURS,
    STATUSES,
    capacity_problem,
    one_of,
    organization_where,
    read_capacity_digits,
    service_where,
    shown,
)

TIER_TAXONOMY = "tsunagu-tier"
TOPIC_TAXONOMY = "tsunagu-topic"
CHANNEL_TAXONOMY = "tsunagu-channel"
CAPACITY_TAXONOMY = "tsunagu-capacity"
HOLIDAYS_TAXONOMY = "tsunagu-holidays"
SCHEDULE_KIND_TAXONOMY = "tsunagu-schedule-kind"
DATED_KINDS: tuple[str, ...] = ("open", "closed")
LGCODE_URN = "urn:jp:lgcode:"
JST_OFFSET = 9

_LGCODE_URI = re.compile(r"urn:jp:lgcode:([0-9]{6})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL = re.compile(r"[0-9]+")
# The record field a list of the file becomes, where the names differ.
_RECORD_FIELDS = {"service_areas": "areas", "attributes": "tier"}


@dataclass
class Reading:
    """What reading a file found: the records, the problems, and which record fields the problems cover."""

    organizations: dict[str, OrganizationRecord] = field(default_factory=dict)
    services: list[ServiceRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # (where, record field) already reported here, so that semantic checks do not report them again.
    covered: set[tuple[str, str]] = field(default_factory=set)

    def records(self) -> DirectoryRecords:
        return DirectoryRecords(tuple(self.organizations.values()), tuple(self.services))

    def is_covered(self, problem: Problem) -> bool:
        """Return whether a semantic problem restates one this reading already reported."""
        path = problem.field
        return any((problem.where, f) in self.covered for f in (path, path.split(".")[0], path.split("[")[0]))


class _Service:
    """Reports problems about one service in the file."""

    def __init__(self, reading: Reading, where: str) -> None:
        self.reading = reading
        self.where = where

    def problem(self, path: str, message: str, *, covers: str = "") -> None:
        self.reading.problems.append(Problem(self.where, path, message))
        if covers:
            self.reading.covered.add((self.where, covers))

    def warning(self, path: str, message: str) -> None:
        self.reading.warnings.append(Problem(self.where, path, message))

    def text(self, obj: dict[str, Any], key: str, path: str, *, required: bool = False, covers: str = "") -> str:
        """Return obj[key] as a string ("" when absent), reporting a missing or ill-typed value."""
        value = obj.get(key)
        if value is None:
            if required:
                self.problem(f"{path}{key}", f"{key} is missing", covers=covers or f"{path}{key}")
            return ""
        if not isinstance(value, str):
            self.problem(f"{path}{key}", f"{key} must be a string; got {value!r}", covers=covers or f"{path}{key}")
            return ""
        return value

    def objects(self, obj: dict[str, Any], key: str, path: str = "") -> list[tuple[int, dict[str, Any]]]:
        """Return the (index, object) items of the list obj[key], reporting items that are not objects."""
        value = obj.get(key)
        covers = _RECORD_FIELDS.get(key, key) if not path else f"{path}{key}"
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"{path}{key}", f"{key} must be a list; got {type(value).__name__}", covers=covers)
            return []
        items = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                items.append((index, item))
            else:
                self.problem(f"{path}{key}[{index}]", f"each of {key} must be an object; got {item!r}", covers=covers)
        return items

    def term(self, attribute: dict[str, Any], path: str) -> tuple[str, str] | None:
        """Return (taxonomy, code) of an attribute of a tsunagu taxonomy, or None for other attributes."""
        term = attribute.get("taxonomy_term")
        if not isinstance(term, dict) or not str(term.get("taxonomy", "")).startswith("tsunagu-"):
            return None
        code = term.get("code")
        if not isinstance(code, str):
            self.problem(f"{path}.taxonomy_term.code", f"a {term['taxonomy']} attribute needs a code; got {code!r}")
            return None
        return term["taxonomy"], code


def read_document(doc: Any) -> Reading:
    """Return what a JP-profile service-list document holds, with every structural problem."""
    reading = Reading()
    if not isinstance(doc, dict):
        reading.problems.append(Problem("file", "", "the file must be a JSON object with a contents list of services"))
        return reading
    contents = doc.get("contents")
    if not isinstance(contents, list):
        reading.problems.append(Problem("file", "contents", "contents, the list of services, is missing or not a list"))
        return reading
    for index, raw in enumerate(contents):
        if isinstance(raw, dict):
            _read_service(reading, raw)
        else:
            reading.problems.append(Problem(f"contents[{index}]", "", f"a service must be an object; got {raw!r}"))
    return reading


def _read_service(reading: Reading, raw: dict[str, Any]) -> None:
    raw_id, raw_name = raw.get("id"), raw.get("name")
    service_id = raw_id if isinstance(raw_id, str) else ""
    name = raw_name if isinstance(raw_name, str) else ""
    s = _Service(reading, service_where(service_id, name))
    s.text(raw, "id", "", required=True)
    s.text(raw, "name", "", required=True)
    status = s.text(raw, "status", "", required=True)
    if status and status not in STATUSES:
        s.problem("status", f'unknown status "{status}"; use one of: {one_of(STATUSES)}', covers="status")
    organization_id = _read_organization(s, raw)
    codes = _read_attributes(s, raw)
    reading.services.append(
        ServiceRecord(
            id=service_id,
            organization_id=organization_id,
            name=name,
            tier=codes.tier,  # type: ignore[arg-type]  # a TIERS member, or "" when a problem says why
            topics=tuple(t for t in TOPICS if t in codes.topics),
            channels=tuple(c for c in CHANNELS if c in codes.channels),
            areas=_read_areas(s, raw),
            # A zero capacity on a channel the service does not take says nothing; the database keeps none.
            capacity=tuple((c, n) for c, n in codes.capacity.items() if n or c in codes.channels),
            holidays=codes.holidays,  # type: ignore[arg-type]  # a HOLIDAY_BEHAVIOURS member: others are problems
            status=status or "active",  # type: ignore[arg-type]  # a STATUSES member, else a problem (checked above)
            description=s.text(raw, "description", ""),
            sns_url=s.text(raw, "url", "", covers="sns_url"),
            phones=_read_phones(s, raw),
            schedules=tuple(_read_schedule(s, index, item) for index, item in s.objects(raw, "schedules")),
        )
    )


def _read_organization(s: _Service, raw: dict[str, Any]) -> str:
    """Return the service's organization id, adding its embedded organization to the reading."""
    organization_id = s.text(raw, "organization_id", "")
    embedded = raw.get("organization")
    if embedded is None:
        if not organization_id:
            s.problem("organization", "the organization is missing: embed it (id, name, description)", covers="organization_id")
        return organization_id
    if not isinstance(embedded, dict):
        s.problem("organization", "organization must be an object (id, name, description)", covers="organization_id")
        return organization_id
    org_id = s.text(embedded, "id", "organization.", required=True, covers="organization_id")
    if organization_id and org_id and organization_id != org_id:
        s.problem("organization_id", f"organization_id {organization_id} is not the embedded organization's id {org_id}")
    record = OrganizationRecord(
        id=org_id,
        name=s.text(embedded, "name", "organization.", required=True, covers="organization_id"),
        description=s.text(embedded, "description", "organization."),
        email=s.text(embedded, "email", "organization."),
        website=s.text(embedded, "website", "organization."),
    )
    earlier = s.reading.organizations.setdefault(org_id, record)
    if earlier != record:
        s.problem("organization", f"{organization_where(org_id, record.name)} differs from the same organization in an earlier service")
    return org_id


@dataclass
class _Codes:
    tier: str = ""
    topics: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    capacity: dict[str, int] = field(default_factory=dict)
    holidays: str = "closed"


def _read_attributes(s: _Service, raw: dict[str, Any]) -> _Codes:
    codes = _Codes()
    tiers: list[str] = []
    holidays: list[str] = []
    for index, attribute in s.objects(raw, "attributes"):
        path = f"attributes[{index}]"
        found = s.term(attribute, path)
        if found is None:
            continue
        taxonomy, code = found
        code_path = f"{path}.taxonomy_term.code"
        if taxonomy == TIER_TAXONOMY:
            if code in TIERS:
                tiers.append(code)
            else:
                s.problem(code_path, f'unknown tier "{code}"; use one of: {one_of(TIERS)}', covers="tier")
        elif taxonomy == TOPIC_TAXONOMY:
            if code in TOPICS:
                codes.topics.add(code)
            else:
                s.problem(code_path, f'unknown topic "{code}"; use one of: {one_of(TOPICS)}', covers="topics")
        elif taxonomy == CHANNEL_TAXONOMY:
            if code in CHANNELS:
                codes.channels.add(code)
            else:
                s.problem(code_path, f'unknown channel "{code}"; use one of: {one_of(CHANNELS)}', covers="channels")
        elif taxonomy == CAPACITY_TAXONOMY:
            _read_capacity(s, path, code, attribute.get("value"), codes.capacity)
        elif taxonomy == HOLIDAYS_TAXONOMY:
            value = attribute.get("value")
            if code not in HOLIDAY_BEHAVIOURS:
                s.problem(code_path, f'unknown holiday behaviour "{code}"; use one of: {one_of(HOLIDAY_BEHAVIOURS)}')
            elif value is not None and value != code:
                s.problem(f"{path}.value", f'holiday value "{value}" disagrees with its code "{code}"')
            else:
                holidays.append(code)
        else:
            s.problem(f"{path}.taxonomy_term.taxonomy", f'unknown taxonomy "{taxonomy}" for a service attribute')
    if not tiers and (s.where, "tier") not in s.reading.covered:
        s.problem("attributes", f"the tier is missing: add a {TIER_TAXONOMY} attribute ({one_of(TIERS)})", covers="tier")
    if len(set(tiers)) > 1:
        s.problem("attributes", f"more than one tier: {one_of(sorted(set(tiers)))}", covers="tier")
    if len(set(holidays)) > 1:
        s.problem("attributes", f"the holiday behaviour is given as both {one_of(sorted(set(holidays)))}")
    codes.tier = tiers[0] if tiers else ""
    codes.holidays = holidays[0] if holidays else "closed"
    return codes


def _read_capacity(s: _Service, path: str, channel: str, value: Any, capacity: dict[str, int]) -> None:
    if channel not in CHANNELS:
        s.problem(f"{path}.taxonomy_term.code", f'capacity for unknown channel "{channel}"; use one of: {one_of(CHANNELS)}')
        return
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        message = f'capacity value must be a decimal integer written as a string, like "5"; got {shown(value)}'
        s.problem(f"{path}.value", message, covers=f"capacity.{channel}")
        return
    sessions = read_capacity_digits(value)
    if sessions is None:  # more digits than any capacity has: validation's bound, said here
        s.problem(f"{path}.value", str(capacity_problem(channel, value)), covers=f"capacity.{channel}")
        return
    if capacity.setdefault(channel, sessions) != sessions:
        s.problem(f"{path}.value", f"capacity for {channel} is given twice: {capacity[channel]} and {sessions}")


def _read_areas(s: _Service, raw: dict[str, Any]) -> tuple[str, ...]:
    areas: set[str] = set()
    bad = 0
    for index, item in s.objects(raw, "service_areas"):
        uri = item.get("uri")
        match = _LGCODE_URI.fullmatch(uri) if isinstance(uri, str) else None
        if match:
            areas.add(match[1])
        else:
            bad += 1
            s.problem(
                f"service_areas[{index}].uri",
                f'{uri!r} is not an lgcode URI like "{LGCODE_URN}131016" ("{LGCODE_URN}000000" is the whole country)',
            )
    if bad and not areas:
        s.reading.covered.add((s.where, "areas"))
    return tuple(sorted(areas))


def _read_phones(s: _Service, raw: dict[str, Any]) -> tuple[PhoneRecord, ...]:
    phones = []
    for index, item in s.objects(raw, "phones"):
        path = f"phones[{index}]."
        kind = item.get("type")
        if kind is not None and kind != "voice":
            s.problem(f"{path}type", f'phone type must be "voice" (a number the dial can ring); got {kind!r}')
        phones.append(
            PhoneRecord(
                id=s.text(item, "id", path, required=True, covers=f"{path}id"),
                number=s.text(item, "number", path, required=True, covers=f"{path}number"),
                description=s.text(item, "description", path),
            )
        )
    return tuple(phones)


def _read_schedule(s: _Service, index: int, item: dict[str, Any]) -> ScheduleRecord:
    path = f"schedules[{index}]."
    before = len(s.reading.problems)
    freq = item.get("freq")
    if freq is not None and freq != "WEEKLY":
        s.problem(f"{path}freq", f'freq must be "WEEKLY"; got {freq!r}')
    timezone = item.get("timezone")
    if timezone is not None and (type(timezone) not in (int, float) or timezone != JST_OFFSET):
        s.problem(f"{path}timezone", f"timezone must be {JST_OFFSET} (JST); got {timezone!r}")
    valid_from = _read_date(s, item, "valid_from", path)
    valid_to = _read_date(s, item, "valid_to", path)
    schedule_id = s.text(item, "id", path, required=True)
    kind = _read_kind(s, item, path, dated=valid_from is not None or valid_to is not None)
    window: dict[str, Any] = item
    if kind == "closed":  # it shuts whole days (docs/hsds-jp-profile.md): its own days and times, if written, are read as absent
        window = {}
        if ignored := [key for key in ("byday", "opens_at", "closes_at") if item.get(key) not in (None, "")]:
            s.warning(f"{path}{ignored[0]}", f"a closure shuts whole days, whatever its {'/'.join(ignored)} say: they are ignored")
    record = ScheduleRecord(
        id=schedule_id,
        kind=kind,  # type: ignore[arg-type]  # always a ScheduleKind: other codes are problems
        byday=_read_byday(s, window, path),
        opens_at=_read_time(s, window, "opens_at", path),
        closes_at=_read_time(s, window, "closes_at", path),
        valid_from=valid_from,
        valid_to=valid_to,
        description=s.text(item, "description", path),
    )
    if len(s.reading.problems) > before:
        s.reading.covered.add((s.where, f"schedules[{index}]"))
    return record


def _read_kind(s: _Service, item: dict[str, Any], path: str, *, dated: bool) -> str:
    kinds = []
    for index, attribute in s.objects(item, "attributes", path):
        found = s.term(attribute, f"{path}attributes[{index}]")
        if found is None:
            continue
        taxonomy, code = found
        code_path = f"{path}attributes[{index}].taxonomy_term.code"
        if taxonomy != SCHEDULE_KIND_TAXONOMY:
            s.problem(f"{path}attributes[{index}].taxonomy_term.taxonomy", f'unknown taxonomy "{taxonomy}" for a schedule')
        elif code not in DATED_KINDS:
            s.problem(code_path, f'unknown schedule kind "{code}"; use one of: {one_of(DATED_KINDS)}')
        else:
            kinds.append(code)
    if len(set(kinds)) > 1:
        s.problem(f"{path}attributes", "the schedule is both an opening (open) and a closure (closed)")
    if kinds:
        return kinds[0]
    return "open" if dated else "weekly"


def _read_byday(s: _Service, item: dict[str, Any], path: str) -> tuple[str, ...]:
    value = item.get("byday")
    if value is None:
        return ()
    if not isinstance(value, str):
        s.problem(f"{path}byday", f'byday must be a day list like "MO,TU,WE,TH,FR"; got {value!r}')
        return ()
    try:
        days = parse_byday(value)
    except ValueError as error:
        s.problem(f"{path}byday", str(error))
        return ()
    return tuple(WEEKDAYS[day] for day in sorted(days))


def _read_time(s: _Service, item: dict[str, Any], key: str, path: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        s.problem(f"{path}{key}", f'{key} must be a time like "09:00"; got {value!r}')
        return None
    try:
        minutes = parse_hhmm(value)
    except ValueError as error:
        s.problem(f"{path}{key}", str(error))
        return value
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _read_date(s: _Service, item: dict[str, Any], key: str, path: str) -> date | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, str) and _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    s.problem(f"{path}{key}", f'{key} must be a date like "2026-12-29"; got {value!r}')
    return None
