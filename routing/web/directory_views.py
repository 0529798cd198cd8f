"""What the coordinator's directory pages show: their region's windows with their state now and their free lines, a
service's history, and what someone else changed while a coordinator was editing.

The services are read from the directory (every status, not only the routing snapshot's active ones); open or
closed is the opening-hours rule itself (referral_directory/hours.py) at the service clock's now; free lines are the
live slot counts in Redis, as routing sees them.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from referral_directory import service as directory_service
from referral_directory.changes import FieldChange, may_change
from referral_directory.hours import JST, Hours, is_open_at, next_opening, open_until
from referral_directory.models import ChangeRecord
from referral_directory.records import CHANNELS, NATION, TIER_NAMES, TIERS, TOPIC_LABELS_JA, TOPICS, ServiceRecord
from referral_directory.regions import Regions
from referral_directory.snapshot import compile_hours
from referral_directory.staff.accounts import Role, Staff, lgcodes_within
from routing.runtime import Runtime
from routing.web.case_views import jst, readable_phone
from routing.web.directory_areas import full_name
from routing.web.directory_wording import CHANNEL_NAMES, FIELD_NAMES, STATUS_NAMES, value_lines

PAGE_SIZE = 50
SEARCH_MAX = 200  # characters of a name search, as the API takes
AREAS_SHOWN = 3  # areas a row names before "ほか N か所"


@dataclass(frozen=True)
class Filters:
    """The list's search: part of the name, tier, topic, channel, status, open now, and the page."""

    q: str = ""
    tier: str = ""
    topic: str = ""
    channel: str = ""
    status: str = ""
    open_now: bool = False
    page: int = 1

    @classmethod
    def of(cls, query: QueryParams) -> Filters:
        """Read the filters from a query string; a value that is not one of the choices is ignored."""
        page = query.get("page", "1")
        return cls(
            q=query.get("q", "").strip()[:SEARCH_MAX],
            tier=_choice(query.get("tier"), TIERS),
            topic=_choice(query.get("topic"), TOPICS),
            channel=_choice(query.get("channel"), CHANNELS),
            status=_choice(query.get("status"), tuple(STATUS_NAMES)),
            open_now=query.get("open") == "1",
            page=max(1, min(int(page), 10_000)) if page.isdigit() and len(page) < 6 else 1,
        )

    def query(self, **changes: object) -> str:
        """Return the query string of these filters with some changed (for the pages' links)."""
        values = {"q": self.q, "tier": self.tier, "topic": self.topic, "channel": self.channel, "status": self.status}
        values |= {"open": "1" if self.open_now else "", "page": str(self.page)} | {k: str(v) for k, v in changes.items()}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


def _choice(value: str | None, allowed: Sequence[str]) -> str:
    return value if value is not None and value in allowed else ""


@dataclass(frozen=True)
class OpenState:
    open: bool
    head: str  # 受付中, 次は, 休止中
    tail: str = ""  # （〜17:00）, 1月4日（月）9:00 から: kept on one line

    @property
    def text(self) -> str:
        """Return the state in one line: 受付中（〜17:00）, 次は 1月4日（月）9:00 から, 休止中."""
        return f"{self.head} {self.tail}" if self.head == "次は" else self.head + self.tail


@dataclass(frozen=True)
class WindowRow:
    id: str
    name: str
    organization: str
    tier: str
    areas: str
    topics: str
    state: OpenState
    lines: list[str]  # 電話 空き 2（全 3）


def open_state(record: ServiceRecord, now: datetime, holidays: frozenset) -> OpenState:
    """Return whether a service takes contacts now, and how the list says so."""
    if record.status != "active":
        return OpenState(False, STATUS_NAMES.get(record.status, record.status))
    return hours_state(compile_hours(record), now, holidays)


def hours_state(hours: Hours, now: datetime, holidays: Container[date]) -> OpenState:
    """Return whether a window in service with these hours takes contacts now, and how the pages say so."""
    if is_open_at(hours, now, holidays):
        until = open_until(hours, now, holidays)
        return OpenState(True, "受付中", "（24時間）" if until is None else f"（〜{_until_text(now, until)}）")
    opens = next_opening(hours, now, holidays)
    return OpenState(False, "次は", f"{jst(opens)} から") if opens else OpenState(False, "当面、受付の予定はありません")


def _until_text(now: datetime, until: datetime) -> str:
    """Return when a window closes, from now: 17:00, 24:00, 翌6:00, or the date when later."""
    today, local = now.astimezone(JST).date(), until.astimezone(JST)
    days = (local.date() - today).days
    if days == 0:
        return f"{local.hour}:{local.minute:02d}"
    if days == 1 and (local.hour, local.minute) == (0, 0):
        return "24:00"
    return f"翌{local.hour}:{local.minute:02d}" if days == 1 else jst(until)


async def services_in_scope(session: AsyncSession, regions: Regions, staff: Staff, filters: Filters = Filters()) -> list[ServiceRecord]:
    """Return the services the staff member may change (the access policy), matching the filters but open now: by tier,
    then in the order of local government codes (千代田区, 中央区, 港区, ...), as lists of municipalities go."""
    area_codes = None
    if staff.role is not Role.ADMIN and NATION not in staff.regions:
        area_codes = sorted({code for region in staff.regions for code in lgcodes_within(regions, region)})
    found = await directory_service.search_services(
        session,
        topic=filters.topic or None,
        channel=filters.channel or None,
        tier=filters.tier or None,
        name_contains=filters.q or None,
        area_codes=area_codes,
    )
    mine = [s for s in found if may_change(staff, s, regions) and (not filters.status or s.status == filters.status)]
    return sorted(mine, key=lambda s: (TIERS.index(s.tier) if s.tier in TIERS else len(TIERS), s.areas[:1], s.name))


async def window_rows(session: AsyncSession, runtime: Runtime, staff: Staff, filters: Filters) -> tuple[list[WindowRow], int]:
    """Return one page of the staff member's windows, with their state now and their free lines, and how many match."""
    now = runtime.clock.now()
    found = [(s, open_state(s, now, runtime.holidays)) for s in await services_in_scope(session, runtime.regions, staff, filters)]
    if filters.open_now:
        found = [(s, state) for s, state in found if state.open]
    shown = found[(filters.page - 1) * PAGE_SIZE : filters.page * PAGE_SIZE]
    organizations = await directory_service.organization_names(session, [s.organization_id for s, _ in shown])
    in_use = {c: await runtime.live.slots_in_use([s.id for s, _ in shown], c) for c in CHANNELS}
    rows = [
        WindowRow(
            id=s.id,
            name=s.name,
            organization=organizations.get(s.organization_id, ""),
            tier=TIER_NAMES.get(s.tier, s.tier),
            areas=areas_text(runtime.regions, s.areas),
            topics="、".join(TOPIC_LABELS_JA.get(t, t) for t in s.topics),
            state=state,
            lines=[_line_text(s, c, state.open, in_use[c].get(s.id, 0)) for c in s.channels],
        )
        for s, state in shown
    ]
    return rows, len(found)


def areas_text(regions: Regions, areas: Sequence[str]) -> str:
    """Return a service's areas as a row names them: the first few by name, then ほか N か所."""
    names = [full_name(regions, a) for a in areas[:AREAS_SHOWN]]
    more = len(areas) - AREAS_SHOWN
    return "、".join(names) + (f" ほか{more}か所" if more > 0 else "")


def _line_text(record: ServiceRecord, channel: str, open_now: bool, in_use: int) -> str:
    return line_text(channel, record.capacity_for(channel), open_now, in_use)


def line_text(channel: str, capacity: int, open_now: bool, in_use: int) -> str:
    """Return a channel's lines as the pages say them: 電話 空き2（全3） while open, else 電話 全3."""
    name = CHANNEL_NAMES.get(channel, channel)
    if not open_now:
        return f"{name} 全{capacity}"
    return f"{name} 空き{max(0, capacity - in_use)}（全{capacity}）"


@dataclass(frozen=True)
class Summary:
    """The dashboard's card for a coordinator: how many windows are theirs, open now, and not in service."""

    windows: int
    open_now: int
    paused: int


async def summary(session: AsyncSession, runtime: Runtime, staff: Staff) -> Summary:
    """Return the counts of the staff member's windows for the dashboard."""
    now = runtime.clock.now()
    services = await services_in_scope(session, runtime.regions, staff)
    states = [open_state(s, now, runtime.holidays) for s in services]
    return Summary(len(services), sum(s.open for s in states), sum(s.status != "active" for s in services))


# --- history and differences -----------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """How the pages name organisations, areas and phone numbers."""

    regions: Regions
    organizations: Mapping[str, str]

    def lines(self, field: str, value: object) -> list[str]:
        return value_lines(
            field,
            value,
            organization=lambda i: self.organizations.get(i, "（登録のない団体）"),
            area=lambda code: full_name(self.regions, code),
            phone=readable_phone,
        )


@dataclass(frozen=True)
class HistoryRow:
    at: str
    actor: str
    field: str
    old: list[str]
    new: list[str]


def _loaded(text: str | None) -> object:
    return json.loads(text) if text else None


async def names_for(session: AsyncSession, regions: Regions, organization_ids: Sequence[str]) -> Names:
    """Return the names the history and the differences need."""
    return Names(regions, await directory_service.organization_names(session, organization_ids))


def _organization_ids(changes: Sequence[ChangeRecord | FieldChange], *records: ServiceRecord) -> list[str]:
    ids = [r.organization_id for r in records]
    for change in changes:
        if change.field == "organization_id":
            ids += [str(_loaded(change.old) or ""), str(_loaded(change.new) or "")]
    return ids


async def history_rows(session: AsyncSession, regions: Regions, record: ServiceRecord) -> list[HistoryRow]:
    """Return a service's changes, newest first: when, who, which field, old → new."""
    changes = await directory_service.change_history(session, record.id)
    names = await names_for(session, regions, _organization_ids(changes, record))
    return [
        HistoryRow(
            at=jst(c.at, year=True),
            actor=c.actor,
            field=FIELD_NAMES.get(c.field, c.field),
            old=[] if c.field in ("created", "deleted") else names.lines(c.field, _loaded(c.old)),
            new=[] if c.field in ("created", "deleted") else names.lines(c.field, _loaded(c.new)),
        )
        for c in changes
    ]


@dataclass(frozen=True)
class DifferenceRow:
    name: str  # the record's field
    field: str  # its name on the page
    opened: list[str]  # as it was when the coordinator opened the form
    theirs: list[str]  # as they typed it
    now: list[str]  # as someone else has left it
    by: str  # who changed it
    at: str  # and when
    yours: bool  # the coordinator changed it too (else the form takes what is there now)
    same: bool  # what they typed is what is there now


def plain(record: ServiceRecord, field: str) -> object:
    """Return a record's field as the change history stores it (JSON's lists, dicts and strings)."""
    return json.loads(json.dumps(asdict(record)[field], ensure_ascii=False, default=str))


def _content(value: object) -> object:
    """Return a field's value without the ids of its lines and hours: a row typed again is the same row."""
    if isinstance(value, list):
        return [{k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item for item in value]
    return value


async def difference_rows(
    session: AsyncSession, regions: Regions, changes: Sequence[FieldChange], theirs: ServiceRecord, now: ServiceRecord
) -> list[DifferenceRow]:
    """Return, for each field someone else changed since the form was opened: as it was, as typed, as it is now."""
    names = await names_for(session, regions, _organization_ids(changes, theirs, now))
    first: dict[str, FieldChange] = {}
    last: dict[str, FieldChange] = {}
    for change in changes:
        first.setdefault(change.field, change)
        last[change.field] = change
    rows = []
    for name, change in first.items():
        if name not in FIELD_NAMES or name in ("created", "deleted"):
            continue
        opened, typed, current = _loaded(change.old), plain(theirs, name), plain(now, name)
        rows.append(
            DifferenceRow(
                name=name,
                field=FIELD_NAMES[name],
                opened=names.lines(name, opened),
                theirs=names.lines(name, typed),
                now=names.lines(name, current),
                by=f"{last[name].actor}さん",
                at=jst(last[name].at),
                yours=_content(typed) != _content(opened),
                same=_content(typed) == _content(current),
            )
        )
    return rows


async def organization_choices(session: AsyncSession, regions: Regions, staff: Staff, current: str = "") -> list[tuple[str, str]]:
    """Return (id, name) of the organisations the staff member may give a service: those running services in their
    regions, those they created, and the service's own."""
    ids = [s.organization_id for s in await services_in_scope(session, regions, staff)]
    ids += await directory_service.organizations_created_by(session, staff.name)
    if current:
        ids.append(current)
    names = await directory_service.organization_names(session, ids)
    return sorted(names.items(), key=lambda item: item[1])
