"""The service form: a stored service shown as the form, what a coordinator typed read into a directory record, and
the directory's problems placed beside the fields they are about.

Reading only turns text into values: a phone number as people write it (03-1234-5678) into E.164, "9:00" into
"09:00", 2026/12/29 into a date. Every rule about the values is the directory's own validation
(referral_directory/validation.py), run when the service is stored, exactly as for the API. Only text that cannot be
read at all (a date that is no date) is a problem here. Pure: no database, no clock.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from starlette.datastructures import FormData

from referral_directory.hours import supported
from referral_directory.records import (
    CHANNELS,
    MAX_CAPACITY,
    SCHEDULES_MAX,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    Problem,
    ScheduleRecord,
    ServiceRecord,
)
from referral_directory.regions import Regions
from referral_directory.validation import read_capacity_digits, validate_records
from routing.cases.schemas import typed_phone_number
from routing.web.case_views import readable_phone
from routing.web.directory_areas import typed_area
from routing.web.directory_wording import clock_text, problem_message

NEW_ORGANIZATION = "new"
ROW = re.compile(r"(phone|weekly|extra|closure)-([0-9]{1,3})-([a-z]+)")
ROW_PARTS = {
    "phone": ("id", "number", "note"),
    "weekly": ("id", "opens", "closes", "note"),
    "extra": ("id", "from", "to", "opens", "closes", "note"),
    "closure": ("id", "from", "to", "note"),
}
SECTIONS = {"phone": "phones", "weekly": "weekly", "extra": "extra", "closure": "closures"}
_CLOCK = re.compile(r"([0-9]{1,2})(?:[:時])?([0-9]{2})?分?")
_DATE = re.compile(r"([0-9]{4})[-/年]([0-9]{1,2})[-/月]([0-9]{1,2})日?")
_SCHEDULE_FIELDS = {  # a part of a line or of hours → its box in the row
    "byday": "days",
    "opens_at": "opens",
    "closes_at": "closes",
    "valid_from": "from",
    "valid_to": "to",
    "description": "note",
}
_FIELD_KEYS = {"organization_id": "organization", "schedules": "hours", "capacity.voice": "capacity-voice", "capacity.sns": "capacity-sns"}
NOT_A_DATE = "日付を 2026-12-29 のように入れてください。"
OUT_OF_RANGE = "2000年から2099年までの日付を入れてください。"
NOT_A_COUNT = "数を半角か全角の数字で入れてください（例：3）。"
NO_ORGANIZATION_NAME = "新しい運営団体の名前を入れてください。"
ORGANIZATION_NAME_PROBLEM = "団体の名前は200文字までで、目に見えない特殊な文字を含まないように入れてください。"


@dataclass
class Draft:
    """A typed form read into a record, with what could not be read and where each part of the record came from."""

    record: ServiceRecord
    new_organization: OrganizationRecord | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)  # form key → what to fix, in Japanese
    phone_keys: list[str] = field(default_factory=list)  # record's phones[i] came from form row phone_keys[i]
    schedule_keys: list[str] = field(default_factory=list)  # the same for schedules[i]

    def add(self, key: str, message: str) -> None:
        """Note a problem beside a form field (once)."""
        found = self.problems.setdefault(key, [])
        if message not in found:
            found.append(message)

    def place(self, problems: Iterable[Problem]) -> None:
        """Put the directory's problems beside the fields they are about, unless that field already has one of the form's."""
        read_problems = set(self.problems)
        for problem in problems:
            key = self.key_of(problem.field)
            if key not in read_problems:
                self.add(key, problem_message(problem))

    def key_of(self, field_path: str) -> str:
        """Return the form key a validation problem's field names: phones[0].number → phone-2-number."""
        found = re.fullmatch(r"(phones|schedules)\[([0-9]+)\](?:\.(\w+))?", field_path)
        if found:
            keys = self.phone_keys if found[1] == "phones" else self.schedule_keys
            index, part = int(found[2]), found[3] or "id"
            if index >= len(keys):
                return found[1]
            return keys[index] if part in ("id", "kind") else f"{keys[index]}-{_SCHEDULE_FIELDS.get(part, part)}"
        return _FIELD_KEYS.get(field_path, field_path)


def typed_from_record(record: ServiceRecord | None, *, version: int = 0) -> dict:
    """Return the form's values for a stored service (or a new one's defaults)."""
    if record is None:
        return {
            "organization": "",
            "new_organization": "",
            "name": "",
            "tier": "municipal",
            "topics": [],
            "channels": ["voice"],
            "capacity": {"voice": "", "sns": ""},
            "areas": [],
            "holidays": "closed",
            "status": "active",
            "description": "",
            "sns_url": "",
            "phones": [],
            "weekly": [],
            "extra": [],
            "closures": [],
            "based_on": "",
        }
    capacity = dict(record.capacity)
    return {
        "organization": record.organization_id,
        "new_organization": "",
        "name": record.name,
        "tier": record.tier,
        "topics": list(record.topics),
        "channels": list(record.channels),
        "capacity": {c: str(capacity[c]) if c in capacity else "" for c in CHANNELS},
        "areas": list(record.areas),
        "holidays": record.holidays,
        "status": record.status,
        "description": record.description,
        "sns_url": record.sns_url,
        "phones": [{"id": p.id, "number": readable_phone(p.number), "note": p.description} for p in record.phones],
        "weekly": [_schedule_row(s) for s in record.schedules if s.kind == "weekly"],
        "extra": [_schedule_row(s) for s in record.schedules if s.kind == "open"],
        "closures": [_schedule_row(s) for s in record.schedules if s.kind == "closed"],
        "based_on": str(version),
    }


# The form's values that show a field of the record.
TYPED_KEYS = {"organization_id": ("organization",), "phones": ("phones",), "schedules": ("weekly", "extra", "closures")}


def take_current(typed: dict, current: ServiceRecord, fields: Iterable[str]) -> None:
    """Put the stored values of some fields into the typed form (those someone else changed and the coordinator did not)."""
    fresh = typed_from_record(current)
    for name in fields:
        for key in TYPED_KEYS.get(name, (name,)):
            if key in fresh:
                typed[key] = fresh[key]


def _schedule_row(schedule: ScheduleRecord) -> dict:
    return {
        "id": schedule.id,
        "days": list(schedule.byday),
        "opens": clock_text(schedule.opens_at),
        "closes": clock_text(schedule.closes_at),
        "from": schedule.valid_from.isoformat() if schedule.valid_from else "",
        "to": schedule.valid_to.isoformat() if schedule.valid_to else "",
        "note": schedule.description,
    }


def typed_from_form(form: FormData) -> dict:
    """Return what was typed into the form, as the form shows it again: rows left empty or marked for removal are left out."""
    rows: dict[str, dict[int, dict]] = defaultdict(dict)
    for name in form:
        found = ROW.fullmatch(name)
        if found and int(found[2]) < SCHEDULES_MAX + 10:  # beyond any service's rows: not this form's
            row = rows[found[1]].setdefault(int(found[2]), {})
            row[found[3]] = [v for v in form.getlist(name) if isinstance(v, str)] if found[3] == "days" else _text(form, name)
    typed: dict[str, object] = {
        "organization": _text(form, "organization"),
        "new_organization": _text(form, "new_organization"),
        "name": _text(form, "name"),
        "tier": _text(form, "tier"),
        "topics": _list(form, "topics"),
        "channels": _list(form, "channels"),
        "capacity": {c: _text(form, f"capacity-{c}") for c in CHANNELS},
        "areas": list(dict.fromkeys(_list(form, "areas"))),
        "add_prefecture": _text(form, "add_prefecture"),
        "add_area": _text(form, "add_area"),
        "holidays": _text(form, "holidays"),
        "status": _text(form, "status"),
        "description": _text(form, "description"),
        "sns_url": _text(form, "sns_url"),
        "based_on": _text(form, "based_on"),
    }
    for kind, section in SECTIONS.items():
        kept = [rows[kind][i] for i in sorted(rows[kind]) if not _left_out(rows[kind][i])]
        typed[section] = [{part: row.get(part, "") for part in ROW_PARTS[kind]} | {"days": row.get("days", [])} for row in kept]
    return typed


def _left_out(row: dict) -> bool:
    return row.get("remove") == "yes" or not any(v for k, v in row.items() if k not in ("id", "remove"))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _list(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def read_draft(typed: dict, *, service_id: str, old: ServiceRecord | None, regions: Regions) -> Draft:
    """Read the typed form into a record of the service (ids of its lines and hours kept), noting what cannot be read."""
    phones_known = {p.id for p in old.phones} if old else set()
    schedules_known = {s.id for s in old.schedules} if old else set()
    draft = Draft(record=ServiceRecord(id=service_id, organization_id="", name="", tier="municipal", topics=(), channels=(), areas=()))
    organization_id = typed["organization"]
    if organization_id == NEW_ORGANIZATION:
        if not typed["new_organization"]:
            draft.add("new_organization", NO_ORGANIZATION_NAME)
        organization_id = str(uuid.uuid4())
        draft.new_organization = OrganizationRecord(id=organization_id, name=typed["new_organization"])
        if typed["new_organization"] and validate_records(DirectoryRecords(organizations=(draft.new_organization,)), regions):
            draft.add("new_organization", ORGANIZATION_NAME_PROBLEM)
    areas = list(typed["areas"])
    added, why = typed_area(regions, typed.get("add_area", ""), typed.get("add_prefecture", ""))
    if why:
        draft.add("add_area", why)
    elif added and added not in areas:
        areas.append(added)
    used: set[str] = set()
    phones = []
    for index, row in enumerate(typed["phones"]):
        draft.phone_keys.append(f"phone-{index}")
        phones.append(PhoneRecord(id=_kept_id(row["id"], phones_known, used), number=_e164(row["number"]), description=row["note"]))
    schedules = []
    for kind, section, prefix in (("weekly", "weekly", "weekly"), ("open", "extra", "extra"), ("closed", "closures", "closure")):
        for index, row in enumerate(typed[section]):
            key = f"{prefix}-{index}"
            draft.schedule_keys.append(key)
            dated = kind != "weekly"
            schedules.append(
                ScheduleRecord(
                    id=_kept_id(row["id"], schedules_known, used),
                    kind=kind,  # type: ignore[arg-type]  # one of ScheduleKind, from the loop above
                    byday=tuple(row["days"]) if kind != "closed" else (),
                    opens_at=typed_clock(row["opens"]) if kind != "closed" else None,
                    closes_at=typed_clock(row["closes"]) if kind != "closed" else None,
                    valid_from=_date(draft, f"{key}-from", row["from"]) if dated else None,
                    valid_to=_date(draft, f"{key}-to", row["to"]) if dated else None,
                    description=row["note"],
                )
            )
    draft.record = ServiceRecord(
        id=service_id,
        organization_id=organization_id,
        name=typed["name"],
        tier=typed["tier"],  # checked by validation, as the API's are
        topics=tuple(typed["topics"]),
        channels=tuple(typed["channels"]),
        areas=tuple(areas),
        capacity=_capacity(draft, typed),
        holidays=typed["holidays"],  # checked by validation
        status=typed["status"],
        description=typed["description"],
        sns_url=typed["sns_url"],
        phones=tuple(phones),
        schedules=tuple(schedules),
    )
    return draft


def _kept_id(typed_id: str, known: set[str], used: set[str]) -> str:
    """Keep a line's or an hour's id when it is this service's own (its history reads better); else a new one."""
    kept = typed_id if typed_id in known and typed_id not in used else str(uuid.uuid4())
    used.add(kept)
    return kept


def _e164(typed: str) -> str:
    """Return a number as people write it in E.164; as typed when it is no number, for validation to say why."""
    try:
        return typed_phone_number(typed)
    except ValueError:
        return typed


def typed_clock(typed: str) -> str | None:
    """Return a time as HH:MM ("9:00", "９時", "930" → "09:00", "09:00", "09:30"); as typed when it is none, for validation."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return None
    found = _CLOCK.fullmatch(text)
    return f"{int(found[1]):02d}:{found[2] or '00'}" if found else text


def _date(draft: Draft, key: str, typed: str) -> date | None:
    day, problem = typed_date(typed)
    if problem:
        draft.add(key, problem)
    return day  # None without a problem: validation says it is missing


def typed_date(typed: str) -> tuple[date | None, str | None]:
    """Return a date as typed (2026-12-29, 2026/12/29, 2026年12月29日) or None when empty; else None and why, in Japanese."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return None, None
    found = _DATE.fullmatch(text)
    try:
        if found is None:
            raise ValueError(text)
        day = date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None, NOT_A_DATE
    try:
        return supported(day), None
    except ValueError:
        return None, OUT_OF_RANGE


def _capacity(draft: Draft, typed: dict) -> tuple[tuple[str, int], ...]:
    """Return the capacity of the channels taken; an empty box is left out (validation asks for it)."""
    counts = []
    for channel in CHANNELS:
        text = unicodedata.normalize("NFKC", typed["capacity"].get(channel, "")).strip()
        if channel not in typed["channels"] or not text:
            continue
        if not (text.isascii() and text.isdigit()):
            draft.add(f"capacity-{channel}", NOT_A_COUNT)
            continue
        count = read_capacity_digits(text)
        counts.append((channel, MAX_CAPACITY + 1 if count is None else count))  # too many digits: validation says the most
    return tuple(counts)
