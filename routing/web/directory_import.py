"""The coordinator's directory files (`/directory/import`): import a CSV, XLSX or HSDS JSON file after seeing what it
would change, and download their region's windows in any of the three formats.

An upload is read at once (referral_directory/imports.py: the interchange readers, the import path's id check, the
coordinator's regions) and the page shows every problem by row and column in Japanese, or what storing it would
change. Nothing is stored before the coordinator confirms. The file waits on the server (routing/web/uploads.py),
never in the page; confirming reads it again under the directory's write lock and stores it only when the directory
is still as the preview showed it, else shows the new preview. Services absent from the file are removed only when
the coordinator asks on the upload form, and only within their regions.
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from referral_directory import service as directory_service
from referral_directory.deps import ChangeDep
from referral_directory.hours import JST
from referral_directory.imports import ImportPlan, directory_in_scope, plan_import, store_import
from referral_directory.interchange import FORMATS, write_directory_file
from referral_directory.records import NATION
from referral_directory.staff.accounts import describe_scope
from routing.deps import RuntimeDep, SessionDep
from routing.web.directory_import_views import import_view
from routing.web.directory_pages import Visit, checked_visit, editor_visit
from routing.web.flash import set_flash
from routing.web.pages import SECURITY_HEADERS, page, see_other
from routing.web.uploads import TOKEN_FIELD, HeldFile, forget_file, held_file, hold_file

log = structlog.get_logger("tsunagu.web")
router = APIRouter(include_in_schema=False)
NO_FILE = "取り込むファイルを選んでください。"
EMPTY_FILE = "選んだファイルは空でした。書き出したファイルに書き込んでから、もう一度選んでください。"
NOT_TAKEN = "このファイルは取り込めません。下の{count}か所を直してから、もう一度選んでください。何も変更していません。"
EXPIRED = "確かめてから時間がたったか、すでに保存したため、このファイルはもう保存できません。お手数ですが、もう一度選んでください。"
CHANGED_MEANWHILE = (
    "保存していません。確かめているあいだに、ほかの方が窓口を変更しました。いまの内容と比べ直したので、もう一度確かめてください。"
)
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "hsds": "application/json",
}
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "hsds": "json"}


@router.get("/directory/import")
async def import_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """The upload form, and their region's windows to download."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    return await _page(visit)


@router.post("/directory/import")
async def import_preview(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Read an uploaded file and show what importing it would change, or every problem in it; nothing is stored."""
    checked = await checked_visit(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, form = checked
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(visit, error=NO_FILE, status_code=422)
    data = await upload.read()
    if not data.strip():
        return await _page(visit, error=EMPTY_FILE, status_code=422)
    remove_absent = form.get("remove_absent") == "yes"
    plan = await plan_import(session, runtime.regions, visit.signed.staff, data, upload.filename, remove_absent=remove_absent)
    log.info("directory_import_previewed", staff_id=visit.signed.staff.id, problems=len(plan.problems), size=len(data))
    if not plan.ok:
        return await _page(visit, plan, status_code=422)
    token = await hold_file(runtime.redis, visit.signed.session, HeldFile(upload.filename, data, remove_absent, plan.fingerprint))
    return await _page(visit, plan, token=token)


@router.post("/directory/import/apply")
async def import_apply(request: Request, runtime: RuntimeDep, session: ChangeDep) -> Response:
    """Store the previewed file: exactly what the preview showed, or nothing."""
    checked = await checked_visit(request, runtime, session)
    if not isinstance(checked, tuple):
        return checked
    visit, form = checked
    token = form.get(TOKEN_FIELD)
    token = token if isinstance(token, str) else ""
    held = await held_file(runtime.redis, visit.signed.session, token)
    if held is None:
        return await _page(visit, error=EXPIRED, status_code=410)
    staff = visit.signed.staff
    await directory_service.lock_directory(session)  # what is compared below is what is stored
    plan = await plan_import(session, runtime.regions, staff, held.data, held.name, remove_absent=held.remove_absent)
    if not plan.ok:
        await forget_file(runtime.redis, visit.signed.session, token)
        return await _page(visit, plan, status_code=422)
    if plan.fingerprint != held.fingerprint:
        await hold_file(runtime.redis, visit.signed.session, replace(held, fingerprint=plan.fingerprint), token)
        log.info("directory_import_refused", reason="changed meanwhile", staff_id=staff.id)
        return await _page(visit, plan, token=token, error=CHANGED_MEANWHILE, status_code=409)
    imported = await store_import(session, staff, plan)
    await forget_file(runtime.redis, visit.signed.session, token)
    await set_flash(runtime.redis, visit.signed.session, "directory_imported")
    log.info("directory_imported_by_page", staff_id=staff.id, added=imported.added, changed=imported.changed, removed=imported.removed)
    return see_other("/directory")


@router.get("/directory/export/{format}")
async def export_file(format: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Their region's windows as a file to download: csv, xlsx or hsds (JSON)."""
    visit = await editor_visit(request, runtime, session)
    if not isinstance(visit, Visit):
        return visit
    if format not in FORMATS:
        return visit.refused("この形式では書き出せません。CSV・Excel・HSDS（JSON）から選んでください。", 404)
    staff = visit.signed.staff
    records = await directory_in_scope(session, runtime.regions, staff)
    data = write_directory_file(records, format, runtime.regions)
    scope = "all" if not staff.regions or NATION in staff.regions else "-".join(staff.regions[:3])
    day = runtime.clock.now().astimezone(JST).strftime("%Y%m%d")
    name = f"tsunagu-windows-{scope}-{day}.{EXTENSIONS[format]}"
    headers = SECURITY_HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'}
    log.info("directory_exported_by_page", staff_id=staff.id, format=format, services=len(records.services))
    return Response(data, media_type=MEDIA_TYPES[format], headers=headers)


async def _page(
    visit: Visit, plan: ImportPlan | None = None, *, token: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    runtime = visit.runtime
    view = await import_view(visit.session, runtime.regions, plan) if plan is not None else None
    if view is not None and view.problems and error is None:
        error = NOT_TAKEN.format(count=len(view.problems))
    context = visit.who() | {
        "view": view,
        "token": token,
        "token_field": TOKEN_FIELD,
        "error": error,
        "scope": describe_scope(visit.signed.staff, runtime.regions),
        "formats": [("csv", "CSV（Excel で開けます）"), ("xlsx", "Excel（.xlsx）"), ("hsds", "HSDS（JSON）")],
    }
    return page(visit.request, "directory_import.html", context, status_code)
