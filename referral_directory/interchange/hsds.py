"""The directory as Open Referral HSDS 3.0 JSON, Japan consultation-dial profile (docs/hsds-jp-profile.md).

One document shaped like the HSDS API's paginated service list: every service with its
organization embedded and its phones, schedules, service areas and attributes nested.

- `load_hsds(doc, regions)` reads a parsed JSON document into records with every structural
  and semantic problem; `parse_hsds(doc)` gives the structural ones alone.
- `to_hsds(records, regions)` writes the document; `dumps_hsds` its canonical JSON text. Ids of
  the parts records do not carry (attributes, taxonomy terms, service areas) are derived from
  the ids they hang off, so exporting the same records twice gives the same bytes.

The profile carries no organization without a service, nor per-language entries; an export
omits both. A service whose organization is not in the records is written with its
`organization_id` alone.
"""

from __future__ import annotations

import json
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from referral_directory.interchange.hsds_reader import (
    CAPACITY_TAXONOMY,
    CHANNEL_TAXONOMY,
    HOLIDAYS_TAXONOMY,
    JST_OFFSET,
    LGCODE_URN,
    SCHEDULE_KIND_TAXONOMY,
    TIER_TAXONOMY,
    TOPIC_TAXONOMY,
    read_document,
)
from referral_directory.records import (
    TIER_NAMES,
    TOPIC_LABELS_JA,
    DirectoryRecords,
    OrganizationRecord,
    ParseResult,
    ScheduleRecord,
    ServiceRecord,
    derived_id,
)
from referral_directory.regions import RegionError
from referral_directory.validation import validate_records

if TYPE_CHECKING:
    from referral_directory.regions import Regions

__all__ = ["dumps_hsds", "load_hsds", "parse_hsds", "to_hsds"]

# Names and descriptions of the profile's taxonomy terms, written into every export.
TAXONOMY_DESCRIPTIONS: dict[str, str] = {
    TIER_TAXONOMY: "tsunagu JP profile: which tier of the consultation dial the window belongs to",
    TOPIC_TAXONOMY: "tsunagu JP profile: a topic the service takes (one attribute per topic)",
    CHANNEL_TAXONOMY: "tsunagu JP profile: a channel the service takes",
    CAPACITY_TAXONOMY: "tsunagu JP profile: concurrent sessions on the channel named by the code (value)",
    HOLIDAYS_TAXONOMY: "tsunagu JP profile: whether the service opens on Japanese national holidays",
    SCHEDULE_KIND_TAXONOMY: "tsunagu JP profile: a dated schedule opens (extra hours) or closes (whole days)",
}
TERM_NAMES: dict[str, dict[str, str]] = {
    TIER_TAXONOMY: TIER_NAMES,
    TOPIC_TAXONOMY: TOPIC_LABELS_JA,
    CHANNEL_TAXONOMY: {"voice": "電話", "sns": "SNS"},
    CAPACITY_TAXONOMY: {"voice": "電話の同時対応数", "sns": "SNSの同時対応数"},
    HOLIDAYS_TAXONOMY: {"closed": "祝日は休み", "open": "祝日も受付"},
    SCHEDULE_KIND_TAXONOMY: {"open": "期間限定の受付", "closed": "休業日"},
}


def parse_hsds(doc: Any) -> ParseResult:
    """Return the records in a JP-profile document with its structural problems (types, fields, codes)."""
    reading = read_document(doc)
    return ParseResult(reading.records(), tuple(reading.problems), warnings=tuple(reading.warnings))


def load_hsds(doc: Any, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Return the records in a JP-profile document with every structural and semantic problem."""
    reading = read_document(doc)
    records = reading.records()
    semantic = validate_records(records, regions, known_organization_ids=known_organization_ids)
    fresh = tuple(p for p in semantic if not reading.is_covered(p))
    return ParseResult(records, tuple(reading.problems) + fresh, warnings=tuple(reading.warnings))


def to_hsds(records: DirectoryRecords, regions: Regions) -> dict[str, Any]:
    """Return the records as a JP-profile service-list document (a JSON-ready dict)."""
    organizations = {o.id: o for o in records.organizations}
    contents = [_service(s, organizations.get(s.organization_id), regions) for s in records.services]
    return {
        "total_items": len(contents),
        "total_pages": 1,
        "page_number": 1,
        "size": len(contents),
        "first_page": True,
        "last_page": True,
        "empty": not contents,
        "contents": contents,
    }


def dumps_hsds(records: DirectoryRecords, regions: Regions) -> str:
    """Return the canonical JSON text of `to_hsds` (UTF-8 Japanese, two-space indent, final newline)."""
    return json.dumps(to_hsds(records, regions), ensure_ascii=False, indent=2) + "\n"


def _service(service: ServiceRecord, organization: OrganizationRecord | None, regions: Regions) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": service.id,
        "organization_id": service.organization_id,
        "name": service.name,
        "description": service.description,
    }
    if service.sns_url:
        doc["url"] = service.sns_url
    doc["status"] = service.status
    if organization is not None:
        doc["organization"] = _organization(organization)
    doc["phones"] = [
        {"id": p.id, "service_id": service.id, "number": p.number, "type": "voice"}
        | ({"description": p.description} if p.description else {})
        for p in service.phones
    ]
    doc["schedules"] = [_schedule(service.id, s) for s in service.schedules]
    doc["service_areas"] = [
        {
            "id": derived_id(service.id, "service_area", code),
            "service_id": service.id,
            "name": _area_name(code, regions),
            "uri": LGCODE_URN + code,
        }
        for code in service.areas
    ]
    doc["attributes"] = [_attribute(service.id, "service", taxonomy, code, value) for taxonomy, code, value in _codes(service)]
    return doc


def _organization(organization: OrganizationRecord) -> dict[str, Any]:
    doc = {"id": organization.id, "name": organization.name, "description": organization.description}
    # Empty strings would fail the schema's email and uri formats; absent is the same to a reader.
    if organization.email:
        doc["email"] = organization.email
    if organization.website:
        doc["website"] = organization.website
    return doc


def _codes(service: ServiceRecord) -> list[tuple[str, str, str | None]]:
    """Return the service's (taxonomy, code, value) attributes in the order an export writes them."""
    return [
        (TIER_TAXONOMY, service.tier, None),
        *((TOPIC_TAXONOMY, topic, None) for topic in service.topics),
        *((CHANNEL_TAXONOMY, channel, None) for channel in service.channels),
        *((CAPACITY_TAXONOMY, channel, str(sessions)) for channel, sessions in service.capacity),
        (HOLIDAYS_TAXONOMY, service.holidays, None),
    ]


def _schedule(service_id: str, schedule: ScheduleRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": schedule.id, "service_id": service_id}
    if schedule.valid_from is not None:
        doc["valid_from"] = schedule.valid_from.isoformat()
    if schedule.valid_to is not None:
        doc["valid_to"] = schedule.valid_to.isoformat()
    doc["timezone"] = JST_OFFSET
    if schedule.byday:
        doc["freq"] = "WEEKLY"
        doc["byday"] = ",".join(schedule.byday)
    if schedule.opens_at is not None:
        doc["opens_at"] = schedule.opens_at
    if schedule.closes_at is not None:
        doc["closes_at"] = schedule.closes_at
    if schedule.description:
        doc["description"] = schedule.description
    if schedule.kind != "weekly":
        doc["attributes"] = [_attribute(schedule.id, "schedule", SCHEDULE_KIND_TAXONOMY, schedule.kind, None)]
    return doc


def _attribute(link_id: str, entity: str, taxonomy: str, code: str, value: str | None) -> dict[str, Any]:
    term_id = derived_id("taxonomy_term", taxonomy, code)
    doc: dict[str, Any] = {
        "id": derived_id(link_id, "attribute", taxonomy, code),
        "link_id": link_id,
        "link_entity": entity,
        "taxonomy_term_id": term_id,
    }
    if value is not None:
        doc["value"] = value
    doc["taxonomy_term"] = {
        "id": term_id,
        "code": code,
        "name": TERM_NAMES[taxonomy].get(code, code),
        "description": TAXONOMY_DESCRIPTIONS[taxonomy],
        "taxonomy": taxonomy,
    }
    return doc


def _area_name(code: str, regions: Regions) -> str:
    try:
        return regions.area(code).name
    except RegionError:
        return code
