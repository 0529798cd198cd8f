"""The counsellor's side of a chat: take the next one, read it, answer, mark its band, hand it on, close it.

Each function checks access with the one policy (`decide`), changes the chat in one transaction
with its audit events, and only after the commit touches Redis (the queue, the slots) and sends
to the person. A counsellor answers chats for their organisation's windows: the SNS services of
the directory without an `sns_url` (one with an `sns_url` runs its own SNS and is only linked to).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.errors import Conflict, Forbidden, Invalid, NotFound
from referral_directory.hours import is_open_at
from referral_directory.records import TIERS
from referral_directory.snapshot import ServiceEntry, Snapshot
from referral_directory.staff import audit
from referral_directory.staff.access import Action, ChatScope, decide
from referral_directory.staff.accounts import Staff
from referral_directory.storage import db
from routing.cases.events import case_changes, referral_changes, tell_after_commit
from routing.cases.handoff import Status
from routing.cases.models import Case, Referral
from routing.cases.rules import case_for
from routing.cases.schemas import ReferralIn
from routing.cases.service import new_referral
from routing.chats import wording
from routing.chats.conversation import count_end, english_of, priority_of
from routing.chats.delivery import Outgoing, announce, announce_desk, deliver, pending_delivery, tell
from routing.chats.hub import ChatHub
from routing.chats.models import OPEN_STATUSES, Chat
from routing.chats.placement import open_windows
from routing.chats.schemas import CallbackIn, ChatOut, ChatSummaryOut, MessageOut, TransferIn, WindowOut
from routing.chats.store import add_message, chat_for_update, transcript
from routing.engine import Contact
from routing.live.chat_queues import Window
from routing.privacy.confidentiality import reference, seal
from routing.runtime import Runtime
from routing.telephony.records import CallbackRequest

log = structlog.get_logger("tsunagu.chats")
SNS = "sns"
TAKE_TRIES = 3  # a queue member whose chat ended meanwhile is dropped and the next one taken


def console_windows(snapshot: Snapshot, org: str) -> list[Window]:
    """Return the windows an organisation answers chats for in tsunagu: its SNS services without their own SNS."""
    return [
        Window(entry.id, entry.capacity.get(SNS, 0))
        for entry in snapshot.services.values()
        if entry.organization_id == org and SNS in entry.channels and not entry.sns_url and entry.capacity.get(SNS, 0) > 0
    ]


def cap_of(runtime: Runtime, staff: Staff) -> int:
    """Return how many chats a staff member holds at once: their own cap, else the service's default."""
    return staff.chat_cap if staff.chat_cap is not None else runtime.settings.chat_cap


def _snapshot(runtime: Runtime) -> Snapshot:
    assert runtime.snapshot is not None  # the service runs only with a snapshot loaded
    return runtime.snapshot


def worker_org(staff: Staff) -> str:
    """Return the organisation a staff member answers chats for; Forbidden for a role that answers none."""
    if not decide(staff, Action.ANSWER_CHAT, ChatScope(staff.organization_id, staff.id)):
        raise Forbidden(f"a {staff.role.value} does not answer chats")
    assert staff.organization_id is not None
    return staff.organization_id


async def _chat_for(session: AsyncSession, staff: Staff, chat_id: str, action: Action) -> Chat:
    """Return a chat the staff member may do `action` on.

    A chat at another organisation is NotFound, as none at all; one at their own that they may not
    touch (a colleague's) is Forbidden, with why.
    """
    chat = await chat_for_update(session, chat_id)
    if chat is None or chat.org_id is None or chat.org_id != staff.organization_id:
        raise NotFound(f"no chat {chat_id} at your organisation")
    decision = decide(staff, action, ChatScope(chat.org_id, chat.counsellor))
    if not decision:
        raise Forbidden(decision.reason)
    return chat


async def audit_chat(session: AsyncSession, staff: Staff, action: str, chat: Chat, detail: dict, at: datetime) -> None:
    """Append a staff member's read or change of a chat to the audit log, in the caller's transaction."""
    await audit.append(session, actor=staff.id, action=action, resource_kind="chat", resource_id=chat.id, detail=detail, at=at)


def summary(chat: Chat) -> ChatSummaryOut:
    return ChatSummaryOut(
        id=chat.id,
        medium=chat.medium,
        status=chat.status,
        band=chat.band,
        topic=chat.topic,
        prefecture=chat.prefecture,
        age_band=chat.age_band,
        service_id=chat.service_id,
        counsellor=chat.counsellor,
        case_id=chat.case_id,
        opened_at=chat.opened_at,
        arrived_at=chat.arrived_at,
        assigned_at=chat.assigned_at,
        last_person_at=chat.last_person_at,
        message_count=chat.messages,
    )


async def _detail(session: AsyncSession, runtime: Runtime, staff: Staff, chat: Chat, after: int) -> ChatOut:
    first = max(after + 1, chat.shared_from)
    lines = await transcript(session, chat.id, keys=runtime.keys, after=first - 1)
    await audit_chat(
        session, staff, "chat.read", chat, {"from": first, "lines": len(lines), "with_it": chat.counsellor == staff.id}, runtime.clock.now()
    )
    messages = [MessageOut(seq=m.seq, sender=m.sender, kind=m.kind, text=m.text, at=m.at, delivery=m.delivery) for m in lines]
    return ChatOut(**summary(chat).model_dump(), lgcode=chat.lgcode, shared_from=chat.shared_from, messages=messages)


# --- reading --------------------------------------------------------------------------------------


async def my_chats(runtime: Runtime, staff: Staff) -> list[ChatSummaryOut]:
    """Return the open chats a counsellor holds, the longest-held first."""
    worker_org(staff)
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Chat).where(col(Chat.counsellor) == staff.id, col(Chat.status) == "talking").order_by(col(Chat.assigned_at))
        )
        return [summary(chat) for chat in rows.scalars()]


async def read_chat(runtime: Runtime, staff: Staff, chat_id: str, *, after: int = 0) -> ChatOut:
    """Return a chat with its messages after a number, for its counsellor or a supervisor reading along (audited)."""
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.READ_CHAT)
        return await _detail(session, runtime, staff, chat, after)


async def desk(runtime: Runtime, hub: ChatHub, staff: Staff) -> tuple[list[ChatSummaryOut], list[ChatSummaryOut]]:
    """Return an organisation's waiting chats (in the order they will be taken) and its chats in progress."""
    org = worker_org(staff)
    windows = console_windows(_snapshot(runtime), org)
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Chat).where(col(Chat.org_id) == org, col(Chat.status).in_(("waiting", "talking"))).order_by(col(Chat.arrived_at))
        )
        chats = list(rows.scalars())
    order = {chat_id: i for w in windows for i, chat_id in enumerate(await hub.queues.waiting(w.service_id))}
    waiting = sorted((c for c in chats if c.status == "waiting"), key=lambda c: (order.get(c.id, len(order)), c.arrived_at or c.opened_at))
    return [summary(c) for c in waiting], [summary(c) for c in chats if c.status == "talking"]


# --- taking and answering -------------------------------------------------------------------------


async def next_chat(runtime: Runtime, hub: ChatHub, staff: Staff) -> ChatOut | None:
    """Give the counsellor the next chat of their windows (crisis first, then the longest waiting); None when none waits.

    The queue, the window's free line and the counsellor's own cap are checked and taken in one
    step in Redis; the chat and its case are then written in one transaction.
    """
    org = worker_org(staff)
    windows = console_windows(_snapshot(runtime), org)
    for _ in range(TAKE_TRIES):
        cap = cap_of(runtime, staff)
        taken = await hub.queues.take(staff.id, windows, cap=cap)
        if taken.outcome == "at_cap":
            raise Conflict(f"you already have {cap} chats: close one before taking the next")
        if taken.outcome == "windows_full":
            raise Conflict("every line of your windows is taken: a chat can be taken when one closes")
        if taken.chat_id is None or taken.service_id is None:
            return None
        try:
            detail, joined = await _assign(runtime, staff, taken.chat_id, taken.service_id)
        except BaseException:
            await hub.queues.let_go(staff.id, taken.chat_id, taken.service_id)
            raise
        if detail is None:
            await hub.queues.let_go(staff.id, taken.chat_id, taken.service_id)  # it ended while it waited
            continue
        await deliver(runtime, hub, joined[0], joined[1])  # announces the chat's change to its person and its desk
        return detail
    return None


async def _assign(runtime: Runtime, staff: Staff, chat_id: str, service_id: str) -> tuple[ChatOut | None, tuple[Chat, list[Outgoing]]]:
    now = runtime.clock.now()
    entry = _snapshot(runtime).services.get(service_id)
    async with db.transaction(runtime.sessions) as session:
        if entry is None:
            return None, (Chat(medium="web", opened_at=now), [])
        # Only a chat still waiting is taken, decided by the database itself: the person may leave at this very moment.
        taken = await session.execute(
            update(Chat)
            .where(col(Chat.id) == chat_id, col(Chat.status) == "waiting")
            .values(status="talking", counsellor=staff.id, service_id=service_id, org_id=entry.organization_id, assigned_at=now)
        )
        if cast(CursorResult, taken).rowcount != 1:
            return None, (Chat(medium="web", opened_at=now), [])
        chat = (await session.execute(select(Chat).where(col(Chat.id) == chat_id).execution_options(populate_existing=True))).scalar_one()
        await _open_or_accept_case(session, runtime, chat, entry, staff, now)
        text = wording.joined(english=english_of(chat))
        told = await tell(session, runtime, chat, text, now)
        await audit_chat(session, staff, "chat.take", chat, {"service": service_id}, now)
        detail = await _detail(session, runtime, staff, chat, 0)
    return detail, (chat, [told])


async def _open_or_accept_case(
    session: AsyncSession, runtime: Runtime, chat: Chat, entry: ServiceEntry, staff: Staff, now: datetime
) -> None:
    """A chat's first counsellor opens its case; a later one (after a transfer) accepts the transfer's referral."""
    if chat.case_id is None:
        case = Case(
            channel=SNS,
            topic=chat.topic,
            topics=[chat.topic] if chat.topic else [],
            lgcode=chat.lgcode,
            prefecture=chat.prefecture,
            holder_org=entry.organization_id,
            holder_service=entry.id,
            holder_tier=entry.tier,
            age_band=chat.age_band,
            risk_level="imminent" if chat.band == "crisis" else None,
            caller_pseudonym=chat.person_ref,
            opened_at=now,
            updated_at=now,
        )
        session.add(case)
        await session.flush()
        chat.case_id = case.id
        await audit.append(
            session,
            actor=staff.id,
            action="case.open",
            resource_kind="case",
            resource_id=case.id,
            detail={"channel": SNS, "org": entry.organization_id},
            at=now,
        )
        tell_after_commit(session, runtime, case_changes(case))
        return
    pending = await session.execute(
        select(Referral).where(
            col(Referral.case_id) == chat.case_id,
            col(Referral.kind) == "transfer",
            col(Referral.to_org) == entry.organization_id,
            col(Referral.status) == Status.PROPOSED.value,
        )
    )
    for referral in pending.scalars():
        referral.status, referral.accepted_at, referral.answered_at = Status.ACCEPTED.value, now, now
        tell_after_commit(session, runtime, referral_changes(referral))


async def send(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str, text: str) -> MessageOut:
    """Write to the person in a chat the counsellor holds; it is stored sealed, then sent."""
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
        if chat.status != "talking":
            raise Conflict("this chat has ended: its person can no longer read new messages here")
        row = await add_message(
            session, chat, sender="staff", text=text, keys=runtime.keys, at=now, staff_id=staff.id, delivery=pending_delivery(chat)
        )
        if chat.first_human_at is None:
            chat.first_human_at = now
            waited = (now - (chat.arrived_at or chat.opened_at)).total_seconds()
            runtime.metrics.chat_first_human_seconds.labels(band=chat.band).observe(max(0.0, waited))
        chat.last_staff_at = now
    await deliver(runtime, hub, chat, [Outgoing(row.id, row.seq, text)])
    return MessageOut(seq=row.seq, sender="staff", kind="text", text=text, at=now, delivery=row.delivery)


async def set_band(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str, band: str) -> ChatSummaryOut:
    """Record the counsellor's judgement of a chat's risk band (it may go down as well as up); audited."""
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
        before, chat.band = chat.band, band
        await audit_chat(session, staff, "chat.band", chat, {"from": before, "to": band}, runtime.clock.now())
    await announce(runtime, chat, "band")
    return summary(chat)


async def close(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str) -> ChatSummaryOut:
    """End a chat the counsellor holds, with a kind goodbye to the person; its line is free again."""
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
        if chat.status == "closed":
            return summary(chat)
        text = wording.goodbye(english=english_of(chat))
        told = await tell(session, runtime, chat, text, now)
        chat.status, chat.closed_at, chat.close_reason = "closed", now, "counsellor"
        await _touch_case(session, chat, now)
        await audit_chat(session, staff, "chat.close", chat, {}, now)
    await hub.queues.let_go(chat.counsellor, chat.id, chat.service_id)
    count_end(runtime, chat)
    await deliver(runtime, hub, chat, [told])
    return summary(chat)


async def _touch_case(session: AsyncSession, chat: Chat, now: datetime) -> None:
    if chat.case_id is not None:
        case = await session.get(Case, chat.case_id)
        if case is not None:
            case.updated_at = now


async def transfer(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str, body: TransferIn) -> ChatSummaryOut:
    """Hand the live chat to a window of the next tier: it joins that window's queue with its place kept.

    The transfer is a hop of the case's chain (a referral of kind `transfer`, accepted when the
    next window's counsellor takes the chat). The messages so far go with it only with the
    person's recorded consent or a recorded life-safety exception.
    """
    now = runtime.clock.now()
    snapshot = _snapshot(runtime)
    target = snapshot.services.get(body.service_id)
    if target is None:
        raise Invalid(f"no service {body.service_id} in the directory")
    if SNS not in target.channels or target.capacity.get(SNS, 0) <= 0:
        raise Conflict(f"{target.name} does not take chats")
    if target.sns_url:
        raise Conflict(f"{target.name} runs its own SNS: give the person its link instead ({target.sns_url})")
    if not is_open_at(target.hours, now, snapshot.holidays):
        raise Conflict(f"{target.name} is not open now: refer the case for follow-up instead")
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
        here = snapshot.services.get(chat.service_id or "")
        if chat.status != "talking" or chat.case_id is None:
            raise Conflict("only a chat in progress can be handed on")
        if here is not None and TIERS.index(target.tier) <= TIERS.index(here.tier):
            raise Conflict(f"a chat is handed on down the chain ({' → '.join(TIERS)}): {target.name} is not further along it")
        case, referrals = await case_for(session, staff, chat.case_id, Action.REFER)
        await new_referral(
            session,
            runtime,
            staff,
            case,
            referrals,
            ReferralIn(to_service=target.id, share=body.share, exception_reason=body.reason),
            target=target,
            kind="transfer",
            deadline=now + timedelta(seconds=runtime.settings.chat_rollover_seconds),
        )
        text = wording.transferred(target.name, english=english_of(chat))
        told = await tell(session, runtime, chat, text, now)
        held_by, held_at = chat.counsellor, chat.service_id
        chat.status, chat.counsellor, chat.service_id, chat.org_id = "waiting", None, target.id, target.organization_id
        chat.tried, chat.window_since = [], now
        if body.share == "none":
            chat.shared_from = chat.messages  # the next window reads from the goodbye of this one on
        await audit_chat(session, staff, "chat.transfer", chat, {"to": target.id, "share": body.share}, now)
    await hub.queues.let_go(held_by, chat.id, held_at)
    await hub.queues.enqueue(target.id, chat.id, priority_of(chat))
    if here is not None and here.organization_id != target.organization_id:
        await announce_desk(runtime, here.organization_id, chat, "transferred")  # the sending desk hears it left
    await deliver(runtime, hub, chat, [told])
    return summary(chat)


async def open_chats_of(session: AsyncSession, org: str) -> Sequence[Chat]:
    """Return an organisation's open chats (the keeper and the supervisor's desk read them)."""
    rows = await session.execute(select(Chat).where(col(Chat.org_id) == org, col(Chat.status).in_(OPEN_STATUSES)))
    return rows.scalars().all()


async def take_over(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str) -> ChatOut:
    """A supervisor takes a chat at their organisation over from its counsellor (or before anyone took it); audited."""
    now = runtime.clock.now()
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.TAKE_OVER_CHAT)
        if chat.status not in ("waiting", "talking") or chat.service_id is None:
            raise Conflict("only a chat that waits or is in progress can be taken over")
        entry = _snapshot(runtime).services.get(chat.service_id)
        if entry is None:
            raise Conflict("this chat's window is no longer in the directory")
        held = await hub.queues.hold(staff.id, chat.id, Window(entry.id, entry.capacity.get(SNS, 0)), cap=0)
        if held != "held":
            raise Conflict("every line of this window is taken: a chat can be taken over when one closes")
        before = chat.counsellor
        if chat.status == "waiting":
            await _open_or_accept_case(session, runtime, chat, entry, staff, now)
            chat.assigned_at = now
        chat.status, chat.counsellor = "talking", staff.id
        await audit_chat(session, staff, "chat.take_over", chat, {"from": before or ""}, now)
        detail = await _detail(session, runtime, staff, chat, 0)
    if before and before != staff.id:
        await hub.queues.let_go(before, chat.id, None)
    await announce(runtime, chat, "taken_over")
    return detail


async def onward_windows(runtime: Runtime, staff: Staff, chat_id: str) -> list[WindowOut]:
    """Return the windows further down the chain, open now, that serve the chat's topic and place: transfer or link targets."""
    async with runtime.sessions() as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
    snapshot, now = _snapshot(runtime), runtime.clock.now()
    here = snapshot.services.get(chat.service_id or "")
    contact = Contact(
        topic=chat.topic or "general", channel=SNS, municipality=chat.lgcode[:5] if chat.lgcode else None, prefecture=chat.prefecture
    )
    decision = (await runtime.switchboard.look_widened(snapshot, contact, now, rotate=False)).decision
    after = TIERS.index(here.tier) if here is not None else -1
    return [
        WindowOut(
            service_id=entry.id,
            name=entry.name,
            tier=entry.tier,
            free_lines=max(0, entry.capacity.get(SNS, 0) - held),
            own_sns_url=entry.sns_url,
        )
        for entry, held in open_windows(decision, snapshot)
        if TIERS.index(entry.tier) > after
    ]


async def book_callback(runtime: Runtime, hub: ChatHub, staff: Staff, chat_id: str, body: CallbackIn) -> ChatSummaryOut:
    """Book a phone callback the person asked for in the chat: their number sealed, their consent recorded; one per chat.

    The callback dispatcher places it when a line of a window for the chat's topic and place is
    free, as for a caller who asked on the phone; the person is told in the chat who will call.
    """
    settings, now = runtime.settings, runtime.clock.now()
    if not settings.twilio_account_sid:
        raise Conflict("callbacks need Twilio's REST API: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    if not settings.callback_caller_id:
        raise Conflict("set TSUNAGU_CALLBACK_CALLER_ID, the dial's own number a person called back after a chat sees")
    async with db.transaction(runtime.sessions) as session:
        chat = await _chat_for(session, staff, chat_id, Action.ANSWER_CHAT)
        if chat.status != "talking":
            raise Conflict("a callback is booked while the chat is in progress")
        exists = await session.execute(select(col(CallbackRequest.id)).where(col(CallbackRequest.call_ref) == _callback_ref(runtime, chat)))
        if exists.first() is not None:
            raise Conflict("a callback is already booked for this chat")
        session.add(
            CallbackRequest(
                call_ref=_callback_ref(runtime, chat),
                topic=chat.topic or "general",
                municipality=chat.lgcode[:5] if chat.lgcode else None,
                prefecture=chat.prefecture,
                lgcode=chat.lgcode,
                english=english_of(chat),
                number_sealed=seal(body.number, keys=runtime.keys),
                dial_number=settings.callback_caller_id,
                consent_at=now,
                created_at=now,
            )
        )
        text = wording.callback_booked(settings.callback_caller_id, english=english_of(chat))
        told = await tell(session, runtime, chat, text, now)
        await audit_chat(session, staff, "chat.callback", chat, {}, now)
    await deliver(runtime, hub, chat, [told])
    return summary(chat)


def _callback_ref(runtime: Runtime, chat: Chat) -> str:
    """The keyed reference a chat's callback request carries (one per chat), never the chat id itself."""
    return reference("chat:" + chat.id, keys=runtime.keys)
