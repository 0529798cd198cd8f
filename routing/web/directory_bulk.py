"""One change for many windows at once, for the surges: the coordinator chooses windows on their list, types a
closure (年末年始) or extended hours for a dated period, sees per window what would change, then confirms.

The preview stores nothing: per window it shows the hours and closures now and after, whether the window has the
change already, what the change overrides (closures win over extended hours), and the directory's problem with the
result, if any. Confirming sends the change, the windows and the version each was previewed at. Each window is then
changed through the directory's one change path (referral_directory/changes.py: validation, regions, history and one
audit record per window, the version check), in one transaction: a window someone changed since the preview is not
overwritten but reported, with who changed it and a way to preview it again; the others are saved. A window outside
the coordinator's regions (a forged id) refuses the whole request before anything is changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from referral_directory import changes
from referral_directory import service as directory_service
from referral_directory.bulk import BulkChange, bulk_schedule, has_change, overridden, with_bulk_change
from referral_directory.changes import Stale
from referral_directory.deps import ChangeDep
from referral_directory.errors import Forbidden, Invalid, NotFound
from referral_directory.hours import JST
from referral_directory.records import DirectoryRecords, ScheduleRecord, ServiceRecord, normalized
from referral_directory.validation import validate_records
from routing.deps import RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.web.case_views import jst
from routing.web.directory_bulk_form import BulkForm, versions_of
from routing.web.directory_pages import Visit, checked_visit, render_windows
from routing.web.directory_views import Filters, areas_text
from routing.web.directory_wording import STATUS_NAMES, problem_message, schedule_text
from routing.web.flash import set_flash
from routing.web.pages import page, see_other

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
SAME = "すでに同じ内容が入っています。この窓口は変わりません。"
MISSING = "この窓口は見つかりませんでした。削除されたかもしれません。"
UNKNOWN = "（見つからない窓口）"
OUTSIDE = "この窓口の対象地域は、担当地域の外になっています。その地域のコーディネーターにご依頼ください。"
CANCELS_EXTENSION = "この期間の延長受付（{}）は、休みが優先されるため行われなくなります。"
CLOSED_ANYWAY = "休み（{}）と重なる日は、延長しても受け付けません（休みが優先されます）。"
NOT_ACTIVE = "この窓口はいま「{}」のため、延長しても受け付けません。"


@dataclass
class BulkRow:
    """One window of a bulk change: as it is, as it would be, and what becomes of it."""

    id: str
    name: str
    organization: str = ""
    areas: str = ""
    outcome: str = "change"  # change, same, problem, missing; after confirming: saved, stale
    before: list[str] = field(default_factory=list)  # its hours and closures now
    added: str = ""  # the line the change adds
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    version: int = 0
    by: str = ""  # stale: who changed it since the preview, and when
    at: str = ""


@router.post("/directory/bulk")
async def bulk_preview(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Show, per chosen window, what the change would do; nothing is stored."""
    chosen = await _read(request, runtime, session)
    if not isinstance(chosen, Chosen):
        return chosen
    visit, bulk, change, records = chosen.visit, chosen.bulk, chosen.change, chosen.records
    rows = [await _preview_row(visit, service_id, records.get(service_id), change) for service_id in bulk.selected]
    names = await directory_service.organization_names(session, [r.organization_id for r in records.values()])
    for row in rows:
        if row.id in records:
            row.organization = names.get(records[row.id].organization_id, "")
    return _page(visit, bulk, change, rows, "preview")


@router.post("/directory/bulk/apply")
async def bulk_apply(request: Request, runtime: RuntimeDep, session: ChangeDep) -> Response:
    """Apply the previewed change to each window through the one change path; report those that could not take it."""
    chosen = await _read(request, runtime, session)
    if not isinstance(chosen, Chosen):
        return chosen
    visit, bulk, change, records = chosen.visit, chosen.bulk, chosen.change, chosen.records
    staff = visit.signed.staff
    rows = []
    for service_id in bulk.selected:
        record = records.get(service_id)
        row = BulkRow(service_id, record.name if record else UNKNOWN, outcome="saved")
        try:
            await changes.store_service(
                session,
                runtime.regions,
                staff,
                service_id,
                lambda old: with_bulk_change(old, change),
                based_on=chosen.versions.get(service_id, 0),
            )
        except Stale as stale:  # refused before anything was written: the next window goes on in the same transaction
            last = stale.changes[-1] if stale.changes else None
            row.outcome, row.by, row.at = "stale", f"{last.actor}さん" if last else "", jst(last.at) if last else ""
        except NotFound:
            row.outcome, row.problems = "missing", [MISSING]
        except Invalid as invalid:
            row.outcome, row.problems = "problem", list(dict.fromkeys(problem_message(p) for p in invalid.problems))
        except Forbidden:  # its areas were changed to lie outside the coordinator's regions since it was read above
            row.outcome, row.problems = "problem", [OUTSIDE]
        rows.append(row)
    saved = sum(r.outcome == "saved" for r in rows)
    log.info("directory_bulk_change", staff_id=staff.id, kind=change.kind, services=len(rows), saved=saved)
    if saved == len(rows):
        await set_flash(runtime.redis, visit.signed.session, "directory_bulk_saved")
        return see_other(f"/directory?{bulk.list_query}" if bulk.list_query else "/directory")
    again = BulkForm(bulk.typed, [r.id for r in rows if r.outcome == "stale"], bulk.list_query)
    status = 409 if again.selected else 200
    return _page(visit, again, change, rows, "result", status_code=status, saved=saved)


@dataclass(frozen=True)
class Chosen:
    """A bulk change as sent: who sends it, what they typed, the change read from it, the windows chosen as stored now."""

    visit: Visit
    bulk: BulkForm
    change: BulkChange
    records: dict[str, ServiceRecord]
    versions: dict[str, int]  # the version of each window the preview showed (when confirming)


async def _read(request: Request, runtime: Runtime, session: AsyncSession) -> Chosen | Response:
    """Return the change and the chosen windows as stored; or the answer to send instead: the list again with the
    problems beside the change's boxes (422), or the refusal of a window outside the coordinator's regions (403)."""
    checked = await checked_visit(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, form = checked
    bulk = BulkForm.of(form, today=runtime.clock.now().astimezone(JST).date())
    change = bulk.read()
    if change is None:
        return await render_windows(visit, Filters.of(QueryParams(bulk.list_query)), bulk, status_code=422)
    records = {}
    for service_id in bulk.selected:
        record = await directory_service.load_service(session, service_id)
        if record is None:
            continue  # deleted meanwhile: said in its row
        if not changes.may_change(visit.signed.staff, record, runtime.regions):
            log.warning("directory_bulk_refused", reason="a service outside the staff member's regions", staff_id=visit.signed.staff.id)
            return visit.outside(record)
        records[service_id] = record
    return Chosen(visit, bulk, change, records, versions_of(form))


async def _preview_row(visit: Visit, service_id: str, record: ServiceRecord | None, change: BulkChange) -> BulkRow:
    """Return what the change would do to one window, as the preview shows it."""
    if record is None:
        return BulkRow(service_id, UNKNOWN, outcome="missing", problems=[MISSING])
    runtime = visit.runtime
    new = normalized(with_bulk_change(record, change))
    row = BulkRow(record.id, record.name, areas=areas_text(runtime.regions, record.areas), before=_lines(record.schedules))
    row.version = await changes.service_version(visit.session, record.id)
    if has_change(record, change):
        row.outcome, row.notes = "same", [SAME]
        return row
    row.added = _lines((bulk_schedule(record.id, change),))[0]
    template = CANCELS_EXTENSION if change.kind == "closed" else CLOSED_ANYWAY
    row.notes = [template.format(line) for line in _lines(overridden(record, change))]
    if change.kind == "open" and record.status != "active":
        row.notes.append(NOT_ACTIVE.format(STATUS_NAMES.get(record.status, record.status)))
    problems = validate_records(DirectoryRecords(services=(new,)), runtime.regions, known_organization_ids={new.organization_id})
    if problems:
        row.outcome, row.problems = "problem", list(dict.fromkeys(problem_message(p) for p in problems))
    return row


def _lines(schedules: Iterable[ScheduleRecord]) -> list[str]:
    """Return schedules as the pages write them, one line each (schedule_text reads them as the history stores them)."""
    stored = json.loads(json.dumps([asdict(s) for s in schedules], default=str))
    return [schedule_text(s) for s in stored]


def _page(
    visit: Visit, bulk: BulkForm, change: BulkChange, rows: list[BulkRow], mode: str, *, status_code: int = 200, saved: int = 0
) -> Response:
    changing = [r for r in rows if r.outcome == "change"]
    confirm = BulkForm(bulk.typed, [r.id for r in changing], bulk.list_query)
    back = QueryParams(bulk.list_query).multi_items() + [(k, v) for k, v in bulk.hidden() if k != "list_query"]
    context = visit.who() | {
        "mode": mode,
        "change": change,
        "summary": _summary(change),
        "rows": rows,
        "changing": changing,
        "saved": saved,
        "confirm": confirm.hidden() + [(f"version-{r.id}", str(r.version)) for r in changing],
        "again": bulk.hidden(),
        "back": "/directory?" + urlencode(back),
    }
    return page(visit.request, "directory_bulk.html", context, status_code)


def _summary(change: BulkChange) -> str:
    """Return the change in one line: 休み 2026年12月29日〜2027年1月3日（年末年始）."""
    return _lines((bulk_schedule("", change),))[0]
