"""The staff chat API for counsellors and supervisors: HTTP in, routing.chats.desk, models out.

A chat outside the staff member's organisation answers 404, exactly as a chat that does not
exist. Every read of a transcript is in the audit log. The console follows changes on
`GET /api/chats/events` (server-sent events that carry ids and numbers, never a text).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from referral_directory.errors import ERROR_RESPONSES
from referral_directory.staff.accounts import Role
from routing.chats import desk, schemas, texts
from routing.chats.events import event_stream
from routing.deps import CurrentStaff, HubDep, RuntimeDep, SessionDep
from routing.live.keys import desk_channel

router = APIRouter(prefix="/api/chats", tags=["chats"], responses=ERROR_RESPONSES)


@router.post(
    "/next",
    summary="Take the next chat of the staff member's windows (crisis first, then the longest waiting)",
    response_model=schemas.ChatOut,
    responses={204: {"description": "no chat is waiting"}},
)
async def next_chat(staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> Response | schemas.ChatOut:
    taken = await desk.next_chat(runtime, hub, staff)
    return taken if taken is not None else Response(status_code=204)


@router.get("", summary="The open chats the staff member holds")
async def my_chats(staff: CurrentStaff, runtime: RuntimeDep) -> list[schemas.ChatSummaryOut]:
    return await desk.my_chats(runtime, staff)


@router.get("/desk", summary="The organisation's chats: who waits, in the order they will be taken, and who is with whom")
async def desk_view(staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.DeskOut:
    waiting, talking = await desk.desk(runtime, hub, staff)
    return schemas.DeskOut(waiting=waiting, talking=talking)


@router.get("/templates", summary="The templates (定型文) of the staff member's organisation")
async def templates(staff: CurrentStaff, session: SessionDep) -> list[texts.TemplateOut]:
    return await texts.templates(session, staff)


@router.post("/templates", status_code=201, summary="Add a template for the organisation's counsellors (supervisors)")
async def add_template(body: texts.TemplateIn, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> texts.TemplateOut:
    return await texts.add_template(session, runtime, staff, body)


@router.delete("/templates/{template_id}", status_code=204, summary="Remove a template (supervisors)")
async def remove_template(template_id: str, staff: CurrentStaff, runtime: RuntimeDep, session: SessionDep) -> Response:
    await texts.remove_template(session, runtime, staff, template_id)
    return Response(status_code=204)


@router.get("/words", summary="The words that raise a chat's band to crisis or elevated")
async def words(staff: CurrentStaff, session: SessionDep) -> texts.WordsOut:
    return await texts.words(session, staff)


@router.put("/words", summary="Replace the crisis and elevated word lists for every window (supervisors; audited)")
async def set_words(body: texts.WordsIn, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep, session: SessionDep) -> texts.WordsOut:
    return await texts.set_words(session, runtime, hub, staff, body)


@router.get(
    "/events",
    summary="Server-sent events for the console: a chat waits, is taken, has a new message, changes band or closes (no texts)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "one event per change, and a keep-alive comment"}},
)
async def events(request: Request, staff: CurrentStaff, runtime: RuntimeDep) -> StreamingResponse:
    org = desk.worker_org(staff)
    supervisor = staff.role is Role.SUPERVISOR

    def mine(event: dict) -> bool:
        return supervisor or event.get("counsellor") in (None, staff.id)

    return event_stream(request, runtime, [desk_channel(org)], relay=lambda _channel, event: event if mine(event) else None)


@router.get("/{chat_id}", summary="One chat with its messages (audited)")
async def read_chat(
    chat_id: str,
    staff: CurrentStaff,
    runtime: RuntimeDep,
    after: Annotated[int, Query(ge=0, description="only messages after this number")] = 0,
) -> schemas.ChatOut:
    return await desk.read_chat(runtime, staff, chat_id, after=after)


@router.post("/{chat_id}/messages", status_code=201, summary="Write to the person (stored sealed, then sent)")
async def send(chat_id: str, body: schemas.MessageIn, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.MessageOut:
    return await desk.send(runtime, hub, staff, chat_id, body.text)


@router.post("/{chat_id}/band", summary="Record the counsellor's judgement of the chat's risk band")
async def set_band(chat_id: str, body: schemas.BandIn, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.ChatSummaryOut:
    return await desk.set_band(runtime, hub, staff, chat_id, body.band)


@router.get("/{chat_id}/windows", summary="Windows further down the chain, open now, the chat can be handed on to (or linked to)")
async def onward_windows(chat_id: str, staff: CurrentStaff, runtime: RuntimeDep) -> list[schemas.WindowOut]:
    return await desk.onward_windows(runtime, staff, chat_id)


@router.post(
    "/{chat_id}/callback", summary="Book the phone callback the person asked for, at the number they gave (sealed; consent recorded)"
)
async def book_callback(
    chat_id: str, body: schemas.CallbackIn, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep
) -> schemas.ChatSummaryOut:
    return await desk.book_callback(runtime, hub, staff, chat_id, body)


@router.post("/{chat_id}/take-over", summary="A supervisor takes the chat over from its counsellor (audited)")
async def take_over(chat_id: str, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.ChatOut:
    return await desk.take_over(runtime, hub, staff, chat_id)


@router.post("/{chat_id}/close", summary="End the chat with a kind goodbye; its line is free again")
async def close(chat_id: str, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.ChatSummaryOut:
    return await desk.close(runtime, hub, staff, chat_id)


@router.post("/{chat_id}/transfer", summary="Hand the live chat to a window of the next tier; it keeps its place in that window's queue")
async def transfer(chat_id: str, body: schemas.TransferIn, staff: CurrentStaff, runtime: RuntimeDep, hub: HubDep) -> schemas.ChatSummaryOut:
    return await desk.transfer(runtime, hub, staff, chat_id, body)
