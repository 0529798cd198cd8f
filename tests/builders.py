"""Plain builders of directory records for tests: valid by default, override what the test is about."""

from __future__ import annotations

from datetime import date
from typing import Any

from referral_directory.records import (
    NATION,
    WEEKDAYS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    ScheduleRecord,
    ServiceRecord,
    derived_id,
)

ORGANIZATION_ID = derived_id("test", "organization")
OFFICE_DAYS = WEEKDAYS[:5]


def make_organization(**overrides: Any) -> OrganizationRecord:
    """Return a valid organization; its default id is ORGANIZATION_ID, the one make_service refers to."""
    fields: dict[str, Any] = {"id": ORGANIZATION_ID, "name": "一般社団法人 テスト相談支援会"}
    return OrganizationRecord(**(fields | overrides))


def make_phone(**overrides: Any) -> PhoneRecord:
    """Return a valid Tokyo voice number whose id is derived from the number."""
    number = overrides.get("number", "+81312345678")
    return PhoneRecord(**({"id": derived_id("test", "phone", number), "number": number} | overrides))


def make_schedule(**overrides: Any) -> ScheduleRecord:
    """Return weekday office hours (MO-FR 09:00-17:00), or a dated schedule when kind says so; the id hashes the content."""
    kind = overrides.get("kind", "weekly")
    if kind == "closed":
        fields: dict[str, Any] = {"valid_from": "2026-12-29", "valid_to": "2027-01-03"}
    else:
        fields = {"byday": OFFICE_DAYS, "opens_at": "09:00", "closes_at": "17:00"}
        if kind == "open":
            fields |= {"valid_from": "2026-12-29", "valid_to": "2027-01-03"}
    fields = {"kind": kind} | {k: _date(v) if k.startswith("valid_") else v for k, v in (fields | overrides).items()}
    fields.setdefault("id", derived_id("test", "schedule", repr(sorted(fields.items(), key=str))))
    return ScheduleRecord(**fields)


def make_service(**overrides: Any) -> ServiceRecord:
    """Return a valid national voice service of ORGANIZATION_ID; phone and schedule ids derive from its id."""
    name = overrides.get("name", "テスト相談ダイヤル")
    service_id = overrides.get("id", derived_id("test", "service", name))
    fields: dict[str, Any] = {
        "id": service_id,
        "organization_id": ORGANIZATION_ID,
        "name": name,
        "tier": "national",
        "topics": ("general",),
        "channels": ("voice",),
        "areas": (NATION,),
        "capacity": (("voice", 3),),
        "phones": (make_phone(id=derived_id(service_id, "phone", "0")),),
        "schedules": (make_schedule(id=derived_id(service_id, "schedule", "0")),),
    }
    return ServiceRecord(**(fields | overrides))


def make_records(*services: ServiceRecord, organizations: tuple[OrganizationRecord, ...] | None = None) -> DirectoryRecords:
    """Return records of the services with, by default, one organization per organization id they use."""
    if organizations is None:
        used = dict.fromkeys(s.organization_id for s in services)
        organizations = tuple(make_organization(id=org_id, name=f"テスト団体 {i + 1}") for i, org_id in enumerate(used))
    return DirectoryRecords(organizations=organizations, services=services)


def make_varied_records() -> DirectoryRecords:
    """Return records using every part of the profile: both channels, all schedule kinds, several areas."""
    crisis = make_service(
        name="24時間 危機相談",
        topics=("crisis", "youth"),
        channels=("voice", "sns"),
        capacity=(("voice", 10), ("sns", 4)),
        holidays="open",
        sns_url="https://sns.example.jp/queues/crisis",
        phones=(make_phone(number="+81345550101", description="代表"), make_phone(number="+81645550707")),
        schedules=(make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00", description="終日"),),
    )
    tokyo = make_service(
        name="東京都 総合窓口",
        organization_id=derived_id("tokyo"),
        tier="prefecture",
        topics=("life", "mind", "general"),
        areas=("130001", "271004"),
        description="都と市の共同窓口",
        schedules=(
            make_schedule(),
            make_schedule(byday=("FR", "SA"), opens_at="18:00", closes_at="02:00"),
            make_schedule(kind="closed", description="年末年始"),
            make_schedule(kind="open", byday=WEEKDAYS, opens_at="10:00", closes_at="22:00", valid_from="2027-12-29", valid_to="2028-01-03"),
        ),
    )
    organizations = (
        make_organization(email="info@example.jp", website="https://example.jp/"),
        make_organization(id=derived_id("tokyo"), name="東京都", description="都庁"),
    )
    return make_records(crisis, tokyo, organizations=organizations)


def _date(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value
