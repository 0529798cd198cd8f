"""The dashboard, live: one event stream per signed-in case worker, and the dashboard's lists one at a time.

`GET /dashboard/events` relays the changes announced to the staff member's organisation
(routing/cases/events.py: ids, a status and list names) and, as a bare `calls`, that some call
moved on (nothing of it: the boards read their own). It starts with `ready` and the organisation's
change count, beats every few seconds, and ends with `ended` once the sign-in has. The page then
reads what changed from `GET /dashboard/fragments/{part}`, rendered with the very template the
whole page includes, so a list looks the same live as after a reload. Without JavaScript the
dashboard is what it always was.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.staff.accounts import Staff
from routing.cases.events import announced
from routing.chats.events import KEEPALIVE_SECONDS, Following, event_stream
from routing.deps import RuntimeDep, SessionDep
from routing.live.keys import CALL_EVENTS_CHANNEL, dashboard_channel
from routing.runtime import Runtime
from routing.web import boards, case_views
from routing.web.auth import signed_in
from routing.web.pages import SECURITY_HEADERS, page
from routing.web.sessions import CSRF_FIELD, session_alive

router = APIRouter(include_in_schema=False)
HEARTBEAT_SECONDS = KEEPALIVE_SECONDS  # also how soon a stream notices that its sign-in ended
PARTS = {  # each part of the dashboard that changes live, and the one template that renders it, on the page and alone
    "cases": "_case_list.html",
    "inbox": "_inbox.html",
    "outbox": "_outbox.html",
    "open": "_open_now.html",
    "waiting": "_waiting.html",
}


def _plain(status_code: int) -> Response:
    return Response(status_code=status_code, headers=SECURITY_HEADERS)


@router.get("/dashboard/events")
async def dashboard_events(request: Request, runtime: RuntimeDep) -> Response:
    """The dashboard's event stream: 401 without a live sign-in; 204 (nothing follows) for staff who work no cases."""
    found = await signed_in(request, runtime)
    if found is None:
        return _plain(401)
    staff, session = found.staff, found.session
    if not case_views.works_cases(staff):
        return _plain(204)
    org = staff.organization_id or ""

    def relay(channel: str, event: dict) -> dict | None:
        return {"event": "calls"} if channel == CALL_EVENTS_CHANNEL else event

    async def ready() -> dict:
        return {"seq": await announced(runtime, org)}

    async def alive() -> bool:
        return await session_alive(runtime.redis, session)

    following = Following(ready=ready, alive=alive, keepalive=HEARTBEAT_SECONDS)
    return event_stream(request, runtime, [dashboard_channel(org), CALL_EVENTS_CHANNEL], relay=relay, following=following)


@router.get("/dashboard/fragments/{part}")
async def dashboard_fragment(part: str, request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """One part of the dashboard as the page shows it: 401 without a sign-in, 404 for no such part, 403 when it is not
    on this staff member's dashboard."""
    found = await signed_in(request, runtime)
    if found is None:
        return _plain(401)
    staff = found.staff
    if part not in PARTS:
        return _plain(404)
    if not shows(staff, part):
        return _plain(403)
    context = {"staff": staff, "csrf_field": CSRF_FIELD, "csrf": found.session.csrf, "typed": {}}
    return page(request, PARTS[part], context | await part_context(runtime, session, staff, part))


def shows(staff: Staff, part: str) -> bool:
    """Whether a part is on the staff member's dashboard: the lists and open windows for case workers, the callers
    waiting for supervisors."""
    return boards.sees_waiting(staff) if part == "waiting" else case_views.works_cases(staff)


async def part_context(runtime: Runtime, session: AsyncSession, staff: Staff, part: str) -> dict:
    """Return what one part's template needs (the lists' reads are audited by the case service, as on the page)."""
    if part == "open":
        return await boards.open_board(runtime, staff)
    if part == "waiting":
        return await boards.waiting_board(runtime, staff)
    return await case_views.dashboard_sections(session, runtime, staff, [part])
