"""The regional coordinator's directory pages: their region's windows (`/directory`), one service's form to register
or change it (`/directory/services/...`), its history, and the list the area picker reads (`/directory/areas`).

Server-rendered Japanese; the picker's script is `directory.js` in routing/web/static/. A change is a form post
carrying the session's CSRF token. It goes through the coordinator API's own path (referral_directory/changes.py:
validation, the access policy, the change history, the version check) in the request's transaction, then redirects
(303) with a one-time message; or it undoes everything and shows the form again, as typed, with every problem beside
its field, or with what someone else changed meanwhile. A service outside the coordinator's regions is refused (403)
with the reason, as the API refuses it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from referral_directory import changes
from referral_directory import service as directory_service
from referral_directory.changes import OrganizationRefused, OutsideRegions, Stale
from referral_directory.deps import ChangeDep
from referral_directory.errors import Invalid, NotFound
from referral_directory.hours import JST
from referral_directory.records import (
    CHANNELS,
    NATION,
    TIER_NAMES,
    TIERS,
    TOPIC_LABELS_JA,
    TOPICS,
    WEEKDAYS,
    DirectoryRecords,
    ServiceRecord,
    normalized,
)
from referral_directory.regions import RegionError
from referral_directory.staff.access import Action, decide
from referral_directory.staff.accounts import describe_scope
from routing.deps import RuntimeDep, SessionDep
from routing.runtime import Runtime
from routing.web import directory_views
from routing.web.auth import SignedIn, signed_in
from routing.web.case_views import jst
from routing.web.directory_areas import area_choices, full_name, prefecture_choices
from routing.web.directory_bulk_form import BulkForm
from routing.web.directory_form import NEW_ORGANIZATION, read_draft, take_current, typed_from_form, typed_from_record
from routing.web.directory_views import Filters
from routing.web.directory_wording import CHANNEL_NAMES, DAY_NAMES, HOLIDAY_NAMES, STATUS_NAMES
from routing.web.flash import set_flash, take_flash
from routing.web.pages import ROLE_LABELS, SECURITY_HEADERS, checked_form, page, see_other, to_login
from routing.web.sessions import CSRF_FIELD

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
EDITORS_ONLY = "この画面は、地域コーディネーターと管理者の方のためのものです。ダッシュボードからお進みください。"
NO_SERVICE = "お探しの窓口は見つかりませんでした。すでに削除されたかもしれません。一覧から選び直してください。"
NOT_SAVED = "保存できませんでした。印のついた欄を直してから、もう一度保存してください。"
CHANGED_MEANWHILE = "保存できませんでした。この窓口は、あなたがページを開いたあとで、ほかの方が変更しています。"
OUTSIDE_ORGANIZATION = (
    "この運営団体は選べません（担当地域の外でも窓口を運営しているか、ほかの方が登録したばかりの団体です）。"
    "一覧のほかの団体を選ぶか、新しい団体を登録してください。"
)
BULK_NOT_READ = "まとめて変える内容を確かめられませんでした。印のついた欄を直してください。"
BLANK_ROWS = {"phones": 1, "weekly": 2, "extra": 1, "closures": 1}
BLANK_ROW: dict[str, Any] = {"id": "", "number": "", "note": "", "days": [], "opens": "", "closes": "", "from": "", "to": ""}


@dataclass(frozen=True)
class Visit:
    """One request to a directory page: the running service, the request's transaction, who is signed in."""

    request: Request
    runtime: Runtime
    session: AsyncSession
    signed: SignedIn

    def who(self) -> dict:
        staff = self.signed.staff
        return {
            "staff": staff,
            "role": ROLE_LABELS[staff.role],
            "organization": None,
            "csrf_field": CSRF_FIELD,
            "csrf": self.signed.session.csrf,
        }

    def refused(self, message: str, status_code: int = 403) -> HTMLResponse:
        """A kind refusal; a coordinator or admin gets the way back to their windows too."""
        editor = decide(self.signed.staff, Action.CHANGE_DIRECTORY)
        back = ("/directory", "担当地域の窓口へ戻る") if editor else None
        return page(self.request, "refused.html", self.who() | {"message": message, "back": back}, status_code)

    def outside(self, record: ServiceRecord) -> HTMLResponse:
        """The refusal of a service outside the staff member's regions, saying whose it is."""
        regions = self.runtime.regions
        areas = "、".join(full_name(regions, a) for a in record.areas[:5]) + ("ほか" if len(record.areas) > 5 else "")
        log.info("directory_page_refused", reason="outside the staff member's regions", staff_id=self.signed.staff.id)
        return self.refused(
            f"「{record.name}」の対象地域（{areas}）は、担当地域（{describe_scope(self.signed.staff, regions)}）の外にあります。"
            "この窓口の変更は、その地域のコーディネーターにご依頼ください。"
        )


async def editor_visit(request: Request, runtime: Runtime, session: AsyncSession) -> Visit | Response:
    """Return the visit of a signed-in coordinator or admin; else the sign-in page, or a refusal."""
    found = await signed_in(request, runtime)
    if found is None:
        return to_login(request, runtime)
    visit = Visit(request, runtime, session, found)
    return visit if decide(found.staff, Action.CHANGE_DIRECTORY) else visit.refused(EDITORS_ONLY)


async def _service_visit(
    request: Request, runtime: Runtime, session: AsyncSession, service_id: str
) -> tuple[Visit, ServiceRecord] | Response:
    """Return the visit and the service when the staff member may change it; else the answer to send instead."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    record = await _service_for(visit, service_id)
    return (visit, record) if isinstance(record, ServiceRecord) else record


async def _service_for(visit: Visit, service_id: str) -> ServiceRecord | Response:
    """Return the service when the staff member may change it: 404 when there is none, 403 when it is outside their regions."""
    record = await directory_service.load_service(visit.session, service_id)
    if record is None:
        return visit.refused(NO_SERVICE, 404)
    if not changes.may_change(visit.signed.staff, record, visit.runtime.regions):
        return visit.outside(record)
    return record


# --- their region's windows ------------------------------------------------------------------------


@router.get("/directory")
async def windows_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Their region's windows: search and filter; each with its state now and its free lines; several chosen at once
    for one change (a bulk change coming back from its preview keeps what was typed and chosen)."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    filters = Filters.of(request.query_params)
    bulk = BulkForm.of(request.query_params, today=runtime.clock.now().astimezone(JST).date())
    bulk.list_query = filters.query(page=filters.page)
    return await render_windows(visit, filters, bulk)


async def render_windows(visit: Visit, filters: Filters, bulk: BulkForm, *, status_code: int = 200) -> HTMLResponse:
    """The windows list with the bulk change's form as typed (and its problems beside its boxes)."""
    runtime = visit.runtime
    rows, total = await directory_views.window_rows(visit.session, runtime, visit.signed.staff, filters)
    context = visit.who() | {
        "rows": rows,
        "total": total,
        "filters": filters,
        "pages": max(1, math.ceil(total / directory_views.PAGE_SIZE)),
        "page_size": directory_views.PAGE_SIZE,
        "scope": describe_scope(visit.signed.staff, runtime.regions),
        "now": jst(runtime.clock.now()),
        "flash": await take_flash(runtime.redis, visit.signed.session),
        "error": BULK_NOT_READ if bulk.problems else None,
    }
    return page(visit.request, "directory_list.html", context | bulk.context() | _choices(), status_code)


def _choices() -> dict:
    return {
        "tier_choices": [(t, TIER_NAMES[t]) for t in TIERS],
        "topic_choices": [(t, TOPIC_LABELS_JA[t]) for t in TOPICS],
        "channel_choices": [(c, CHANNEL_NAMES[c]) for c in CHANNELS],
        "status_choices": list(STATUS_NAMES.items()),
        "holiday_choices": list(HOLIDAY_NAMES.items()),
        "day_choices": [(d, DAY_NAMES[d]) for d in WEEKDAYS],
    }


# --- one service's form ----------------------------------------------------------------------------


@router.get("/directory/services/new")
async def new_service_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """An empty form to register a window."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    return await _form(visit, typed_from_record(None), None)


@router.post("/directory/services")
async def create_service(request: Request, runtime: RuntimeDep, session: ChangeDep) -> Response:
    """Register a window from the form."""
    checked = await _checked(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, typed = checked
    return await _save(visit, typed, str(uuid.uuid4()), None)


@router.get("/directory/services/{service_id}")
async def service_page(service_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """One window's form, as stored now."""
    found = await _service_visit(request, runtime, session, service_id)
    if not isinstance(found, tuple):
        return found
    visit, record = found
    version = await changes.service_version(session, service_id)
    flash = await take_flash(runtime.redis, visit.signed.session)
    return await _form(visit, typed_from_record(record, version=version), record, flash=flash)


@router.post("/directory/services/{service_id}")
async def save_service(service_id: str, request: Request, runtime: RuntimeDep, session: ChangeDep) -> Response:
    """Save one window's form: everything on it at once, or nothing."""
    checked = await _checked(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, typed = checked
    record = await _service_for(visit, service_id)
    if not isinstance(record, ServiceRecord):
        return record
    return await _save(visit, typed, service_id, record)


async def _checked(request: Request, runtime: Runtime, session: AsyncSession) -> tuple[Visit, dict] | Response:
    """Return the visit and what was typed into the service form, or the answer to send instead (see checked_visit)."""
    checked = await checked_visit(request, runtime, session)
    return (checked[0], typed_from_form(checked[1])) if isinstance(checked, tuple) else checked


async def checked_visit(request: Request, runtime: Runtime, session: AsyncSession) -> tuple[Visit, FormData] | Response:
    """Return the visit and the form sent when it carries the session's CSRF token and the staff member edits the
    directory; else the answer to send instead (nothing is changed)."""
    checked = await checked_form(request, runtime)
    if not isinstance(checked, tuple):
        return checked
    found, form = checked
    visit = Visit(request, runtime, session, found)
    if not decide(found.staff, Action.CHANGE_DIRECTORY):
        return visit.refused(EDITORS_ONLY)
    return visit, form


async def _save(visit: Visit, typed: dict, service_id: str, old: ServiceRecord | None) -> Response:
    """Store the typed service through the directory's one change path; or undo everything and show the form again."""
    session, runtime, staff = visit.session, visit.runtime, visit.signed.staff
    draft = read_draft(typed, service_id=service_id, old=old, regions=runtime.regions)
    if "add_area" not in draft.problems:  # the typed area joins the list; the box is ready for the next one
        typed["areas"], typed["add_area"] = list(draft.record.areas), ""
    if draft.problems:
        return await _form(visit, typed, old, problems=draft.problems, status_code=422)
    based_on = int(typed["based_on"]) if typed["based_on"].isdigit() and len(typed["based_on"]) < 19 else 0
    try:
        if draft.new_organization is not None:
            organizations = DirectoryRecords(organizations=(draft.new_organization,))
            await directory_service.save_records(session, organizations, actor=staff.name)
        change = draft.record if old is None else (lambda _: draft.record)
        stored = await changes.store_service(
            session, runtime.regions, staff, service_id, change, based_on=None if old is None else based_on
        )
    except Stale as stale:
        await session.rollback()  # nothing of a refused change is kept; the form below is read afresh
        theirs = normalized(draft.record)
        differences = await directory_views.difference_rows(session, runtime.regions, stale.changes, theirs, stale.current)
        take_current(typed, stale.current, [d.name for d in differences if not d.yours])  # theirs stay; the rest is as it is now
        typed["based_on"] = str(stale.version)  # saving again now is a choice made knowing what changed
        log.info("directory_change_refused", reason="changed meanwhile", staff_id=staff.id)
        return await _form(visit, typed, stale.current, error=CHANGED_MEANWHILE, differences=differences, status_code=409)
    except NotFound:
        await session.rollback()
        return visit.refused(NO_SERVICE, 404)
    except (Invalid, OutsideRegions, OrganizationRefused) as error:
        await session.rollback()
        if isinstance(error, OutsideRegions):
            draft.add(
                "areas", f"担当地域（{describe_scope(staff, runtime.regions)}）の外の地域は選べません。担当地域の中から選んでください。"
            )
        elif isinstance(error, OrganizationRefused):
            draft.add("organization", OUTSIDE_ORGANIZATION)
        else:
            draft.place(error.problems)
        if not draft.problems:
            draft.add("form", NOT_SAVED)
        return await _form(visit, typed, old, problems=draft.problems, status_code=error.status_code)
    await set_flash(
        runtime.redis,
        visit.signed.session,
        "directory_created" if old is None else "directory_saved" if stored.changed else "directory_unchanged",
    )
    log.info("directory_changed_by_page", staff_id=staff.id, created=old is None, changed=stored.changed)
    return see_other(f"/directory/services/{service_id}")


async def _form(
    visit: Visit,
    typed: dict,
    record: ServiceRecord | None,
    *,
    flash: str | None = None,
    error: str | None = None,
    problems: dict[str, list[str]] | None = None,
    differences: list | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The service form, filled with `typed`; `record` is the service as stored (None for a new one)."""
    runtime, staff = visit.runtime, visit.signed.staff
    regions = runtime.regions
    prefectures = prefecture_choices(staff, regions)
    chosen = typed.get("add_prefecture") or next(filter(None, (_prefecture_of(runtime, a) for a in typed["areas"])), None)
    chosen = chosen if chosen in {code for code, _ in prefectures} else next((c for c, _ in prefectures if c != NATION), NATION)
    state = directory_views.open_state(record, runtime.clock.now(), runtime.holidays) if record else None
    organizations = await directory_views.organization_choices(visit.session, regions, staff, typed["organization"])
    context = visit.who() | {
        "service": record,
        "state": state,
        "typed": typed,
        "problems": problems or {},
        "error": error or (NOT_SAVED if problems else None),
        "flash": flash,
        "differences": differences or [],
        "organizations": organizations,
        "new_organization": NEW_ORGANIZATION,
        "prefectures": prefectures,
        "area_prefecture": chosen,
        "area_options": area_choices(staff, regions, chosen),
        "area_names": {code: full_name(regions, code) for code in typed["areas"]},
        "blank_rows": BLANK_ROWS,
        "blank": BLANK_ROW,
        "action": f"/directory/services/{record.id}" if record else "/directory/services",
    }
    return page(visit.request, "directory_service.html", context | _choices(), status_code)


def _prefecture_of(runtime: Runtime, lgcode: str) -> str | None:
    try:
        return runtime.regions.area(lgcode).prefecture
    except RegionError:
        return None


# --- history and the area picker -------------------------------------------------------------------


@router.get("/directory/services/{service_id}/history")
async def history_page(service_id: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Who changed what of one window, when: old → new, newest first."""
    found = await _service_visit(request, runtime, session, service_id)
    if not isinstance(found, tuple):
        return found
    visit, record = found
    rows = await directory_views.history_rows(session, runtime.regions, record)
    return page(request, "directory_history.html", visit.who() | {"service": record, "rows": rows})


@router.get("/directory/areas")
async def area_list(request: Request, runtime: RuntimeDep, session: SessionDep, prefecture: str = "") -> Response:
    """The areas of one prefecture the staff member may choose, for the area picker (JSON)."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    choices = area_choices(visit.signed.staff, runtime.regions, prefecture[:2] if prefecture != NATION else NATION)
    areas = [{"lgcode": c.lgcode, "option": c.option, "name": full_name(runtime.regions, c.lgcode)} for c in choices]
    return JSONResponse({"areas": areas}, headers=SECURITY_HEADERS)
