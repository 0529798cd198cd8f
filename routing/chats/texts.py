"""What supervisors keep for the chat console: templates (定型文) for their organisation, and the words that raise a chat's band.

Templates belong to one organisation: its counsellors read them, its supervisors change them.
The crisis and elevated word lists are the dial's own, one pair for every window: a supervisor
who changes them changes them for all (audited, with the words before and after). Every worker
reads the change within a few seconds (routing/chats/hub.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from referral_directory.errors import Forbidden, NotFound
from referral_directory.staff import audit
from referral_directory.staff.access import Action, decide
from referral_directory.staff.accounts import Staff
from routing.chats.desk import worker_org
from routing.chats.hub import ChatHub, words_from
from routing.chats.models import ChatTemplate, ChatWordList
from routing.runtime import Runtime

WORDS_MAX = 300  # words per list: enough for every way of writing a thought, few enough to read through
WORD_MAX = 40


class TemplateIn(BaseModel):
    title: str = Field(min_length=1, max_length=60)
    body: str = Field(min_length=1, max_length=1000)


class TemplateOut(BaseModel):
    id: str
    title: str
    body: str


class WordsIn(BaseModel):
    crisis: list[str] = Field(max_length=WORDS_MAX)
    elevated: list[str] = Field(max_length=WORDS_MAX)

    @field_validator("crisis", "elevated")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        cleaned = [unicodedata.normalize("NFKC", w).strip() for w in words]
        for word in cleaned:
            if len(word) < 2 or len(word) > WORD_MAX:
                raise ValueError(f"each word has 2 to {WORD_MAX} characters (a single character would match everyday words)")
        return list(dict.fromkeys(cleaned))


class WordsOut(BaseModel):
    crisis: list[str]
    elevated: list[str]


def _keeper(staff: Staff) -> str:
    decision = decide(staff, Action.KEEP_CHAT_TEXTS)
    if not decision:
        raise Forbidden(decision.reason)
    assert staff.organization_id is not None
    return staff.organization_id


async def templates(session: AsyncSession, staff: Staff) -> list[TemplateOut]:
    """Return the templates of the staff member's organisation, by title."""
    org = worker_org(staff)
    rows = await session.execute(select(ChatTemplate).where(col(ChatTemplate.org_id) == org).order_by(col(ChatTemplate.title)))
    return [TemplateOut(id=t.id, title=t.title, body=t.body) for t in rows.scalars()]


async def add_template(session: AsyncSession, runtime: Runtime, staff: Staff, body: TemplateIn) -> TemplateOut:
    org = _keeper(staff)
    template = ChatTemplate(org_id=org, title=body.title, body=body.body, updated_by=staff.id, updated_at=runtime.clock.now())
    session.add(template)
    await session.flush()
    await _audit(session, runtime, staff, "chat.template.add", template.id, {})  # a title is free text: never in the audit log
    return TemplateOut(id=template.id, title=template.title, body=template.body)


async def remove_template(session: AsyncSession, runtime: Runtime, staff: Staff, template_id: str) -> None:
    org = _keeper(staff)
    template = await session.get(ChatTemplate, template_id)
    if template is None or template.org_id != org:
        raise NotFound(f"no template {template_id} at your organisation")
    await session.delete(template)
    await _audit(session, runtime, staff, "chat.template.remove", template_id, {})


async def words(session: AsyncSession, staff: Staff) -> WordsOut:
    """Return the word lists in use (the stored ones, else the defaults)."""
    worker_org(staff)
    stored = {row.kind: row.words for row in (await session.execute(select(ChatWordList))).scalars()}
    lists = words_from(stored)
    return WordsOut(crisis=list(lists.crisis), elevated=list(lists.elevated))


async def set_words(session: AsyncSession, runtime: Runtime, hub: ChatHub, staff: Staff, body: WordsIn) -> WordsOut:
    """Replace the word lists for every window; audited with what was added and removed."""
    _keeper(staff)
    before = await words(session, staff)
    now = runtime.clock.now()
    for kind, new in (("crisis", body.crisis), ("elevated", body.elevated)):
        row = await session.get(ChatWordList, kind)
        if row is None:
            session.add(ChatWordList(kind=kind, words=new, updated_by=staff.id, updated_at=now))
        else:
            row.words, row.updated_by, row.updated_at = new, staff.id, now
    # Counts only: the audit log keeps no free text (a word list could carry anything a supervisor typed).
    detail = {
        "crisis_added": len(_added(body.crisis, before.crisis)),
        "crisis_removed": len(_added(before.crisis, body.crisis)),
        "elevated_added": len(_added(body.elevated, before.elevated)),
        "elevated_removed": len(_added(before.elevated, body.elevated)),
        "crisis_words": len(body.crisis),
        "elevated_words": len(body.elevated),
    }
    await _audit(session, runtime, staff, "chat.words", "lists", detail)
    hub.forget_words()
    return WordsOut(crisis=body.crisis, elevated=body.elevated)


def _added(new: Sequence[str], old: Sequence[str]) -> list[str]:
    return [w for w in new if w not in set(old)]


async def _audit(session: AsyncSession, runtime: Runtime, staff: Staff, action: str, resource: str, detail: dict) -> None:
    await audit.append(
        session, actor=staff.id, action=action, resource_kind="chat_texts", resource_id=resource, detail=detail, at=runtime.clock.now()
    )
