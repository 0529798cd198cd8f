"""What the import page shows of a file: every problem by row in Japanese, or what storing it would change — the
windows added, changed (field by field, now → in the file) and removed, and the organisations added or renamed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, is_dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory import service as directory_service
from referral_directory.imports import ImportPlan
from referral_directory.interchange.compare import DirectoryDifference, FieldDifference, ServiceDifference
from referral_directory.records import TIER_NAMES
from referral_directory.regions import Regions
from routing.web.directory_file_wording import FileProblem, file_problem
from routing.web.directory_views import Names, areas_text
from routing.web.directory_wording import FIELD_NAMES, NOTHING

SHOWN = 100  # windows of each kind listed; the rest are counted
ADDED_FIELDS = ("organization_id", "tier", "areas", "topics", "channels", "capacity", "phones", "schedules")
ORGANIZATION_FIELDS = {"name": "団体の名前", "description": "説明", "email": "メールアドレス", "website": "ウェブサイト"}


@dataclass(frozen=True)
class FieldView:
    name: str  # 電話番号
    old: list[str]
    new: list[str]


@dataclass(frozen=True)
class ServiceView:
    id: str
    name: str
    place: str  # 3行目 (a sheet's row), or ''
    detail: str  # 運営団体・段階・対象地域, in a line
    fields: list[FieldView] = field(default_factory=list)


@dataclass(frozen=True)
class KindView:
    """The windows of one kind of change: how many, and the first SHOWN of them."""

    kind: str  # added, changed, removed, kept
    title: str
    count: int
    services: list[ServiceView]

    @property
    def more(self) -> int:
        return self.count - len(self.services)


@dataclass(frozen=True)
class ImportView:
    name: str  # the file's name
    problems: list[FileProblem]
    warnings: list[FileProblem]  # read otherwise than written, not blocking (a closure's hours, ignored)
    kinds: list[KindView]
    organizations: list[ServiceView]  # organisations added or changed
    unchanged: int
    changes_anything: bool


TITLES = {
    "added": "新しく登録される窓口",
    "changed": "内容が変わる窓口",
    "removed": "削除される窓口（ファイルにない、担当地域の窓口）",
    "kept": "ファイルにない担当地域の窓口（削除せず、そのまま残ります）",
}


async def import_view(session: AsyncSession, regions: Regions, plan: ImportPlan) -> ImportView:
    """Return what the page shows of an import plan."""
    problems = [file_problem(p) for p in plan.problems]
    warnings = [file_problem(w) for w in plan.warnings]
    difference = plan.difference
    if difference is None:
        return ImportView(plan.name, problems, warnings, [], [], 0, False)
    names = await _names(session, regions, difference)
    rows = {service_id: f"{row}行目" for service_id, row in plan.service_rows.items()}
    kinds = []
    for kind in ("added", "changed", "removed"):
        found = difference.of(kind)
        if found:
            shown = [_service_view(d, names, regions, rows.get(d.record.id, "")) for d in found[:SHOWN]]
            kinds.append(KindView(kind, TITLES[kind], len(found), shown))
    if difference.kept:
        kept = [ServiceView(s.id, s.name, "", _detail(s.organization_id, s.tier, s.areas, names, regions)) for s in difference.kept[:SHOWN]]
        kinds.append(KindView("kept", TITLES["kept"], len(difference.kept), kept))
    organizations = [
        ServiceView(
            o.new.id,
            o.new.name,
            "",
            "新しく登録されます" if o.kind == "added" else "",
            [
                FieldView(ORGANIZATION_FIELDS.get(f.field, f.field), [str(f.old) or "（なし）"], [str(f.new) or "（なし）"])
                for f in o.fields
            ],
        )
        for o in difference.organizations
        if o.kind != "unchanged"
    ]
    unchanged = len(difference.of("unchanged"))
    return ImportView(plan.name, problems, warnings, kinds, organizations, unchanged, difference.changes_anything)


async def _names(session: AsyncSession, regions: Regions, difference: DirectoryDifference) -> Names:
    """Return the names of the organisations the difference mentions, as stored or as the file names them."""
    ids = [s.organization_id for d in difference.services for s in (d.old, d.new) if s is not None]
    ids += [s.organization_id for s in difference.kept]
    stored = await directory_service.organization_names(session, ids)
    return Names(regions, stored | {o.new.id: o.new.name for o in difference.organizations})


def _service_view(d: ServiceDifference, names: Names, regions: Regions, place: str) -> ServiceView:
    record = d.record
    detail = _detail(record.organization_id, record.tier, record.areas, names, regions)
    if d.kind == "added":
        fields = [FieldView(FIELD_NAMES[f], [], names.lines(f, _plain(getattr(record, f)))) for f in ADDED_FIELDS]
    else:
        fields = [_field_view(f, names) for f in d.fields]
    return ServiceView(record.id, record.name, place, detail, fields)


def _field_view(difference: FieldDifference, names: Names) -> FieldView:
    name = difference.field
    return FieldView(FIELD_NAMES.get(name, name), names.lines(name, _plain(difference.old)), names.lines(name, _plain(difference.new)))


def _organization_field(difference: FieldDifference) -> FieldView:
    name = ORGANIZATION_FIELDS.get(difference.field, difference.field)
    return FieldView(name, [str(difference.old) or NOTHING], [str(difference.new) or NOTHING])


def _detail(organization_id: str, tier: str, areas: Iterable[str], names: Names, regions: Regions) -> str:
    organization = names.organizations.get(organization_id, "")
    return "・".join(part for part in (organization, TIER_NAMES.get(tier, tier), areas_text(regions, tuple(areas))) if part)


def _plain(value: object) -> object:
    """Return a record field's value as the change history stores it (JSON's lists, dicts and strings)."""
    if isinstance(value, tuple) and value and is_dataclass(value[0]):
        value = [asdict(v) for v in value]
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))
