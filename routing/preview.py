"""GET /api/routing/preview: where a contact would go, for any place, topic, channel and instant (staff only).

It shows what the person would actually get: their topic's windows, or, when none of those is
open, the general lines they are put through to instead (routing/contacts/rules.py wider_topic),
with their own topic's outcome and when its windows open. The staff page /routing asks the same
question through the same two functions, `ask` and `answer` (routing/web/routing_pages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel

from referral_directory.errors import ERROR_RESPONSES, Invalid, TsunaguError
from referral_directory.hours import supported
from referral_directory.records import NATION, TopicCode
from referral_directory.regions import RegionError, Regions
from referral_directory.snapshot import Snapshot
from routing.contacts.place import place_of
from routing.contacts.switchboard import Widened
from routing.deps import CurrentStaff, RuntimeDep
from routing.engine import Contact, Decision
from routing.runtime import Runtime

router = APIRouter(prefix="/api/routing", tags=["routing"], responses=ERROR_RESPONSES)
Instant = Annotated[datetime, AfterValidator(supported)]  # years 2000-2099 (422 otherwise)


class Unavailable(TsunaguError):
    status_code = 503


class PlaceOut(BaseModel):
    lgcode: str | None
    municipality: str | None
    prefecture: str | None
    name: str
    how: str  # postal_code, lgcode or unknown


class CandidateOut(BaseModel):
    rank: int
    service_id: str
    name: str
    organization: str
    tier: str
    match: str
    open_until: datetime | None
    free_slots: int
    capacity: int
    phones: list[str]
    sns_url: str


class NextOpeningOut(BaseModel):
    tier: str
    at: datetime
    service_id: str
    name: str


class PreviewOut(BaseModel):
    outcome: str  # for the windows that would take the person: their topic's, or the general lines' (`via`)
    topic_outcome: str  # for their own topic's windows
    via: str | None  # the topic whose windows take them instead of their own ("general"), or None
    explanation: str
    policy: str
    topic: str
    channel: str
    at: datetime
    place: PlaceOut
    directory_version: int
    candidates: list[CandidateOut]
    full: list[str]  # matching services open but with every line taken (their topic's and, with `via`, the general lines')
    closed: list[str]  # matching services closed now (the same)
    next_openings: list[NextOpeningOut]  # when help opens, as the person is told it: their own topic's windows first


def resolve_place(regions: Regions, postal_code: str | None, lgcode: str | None) -> tuple[Contact, PlaceOut]:
    """Turn a postal code or lgcode into the region part of a contact (topic filled in later)."""
    if postal_code:
        try:
            match = regions.postal(postal_code)
        except RegionError as error:
            raise Invalid(f"postal_code: {error}") from None
        if match is None:
            raise Invalid(f"postal_code: {postal_code} is not a Japan Post code we know")
        settled = place_of(regions, match.municipalities)
        place = PlaceOut(
            lgcode=settled.lgcode, municipality=settled.municipality, prefecture=settled.prefecture, name=match.label, how="postal_code"
        )
        return Contact(topic="general", municipality=settled.municipality, prefecture=settled.prefecture), place
    if lgcode and lgcode != NATION:
        try:
            area = regions.area(lgcode)
        except RegionError as error:
            raise Invalid(f"lgcode: {error}") from None
        municipality = None if area.kind == "prefecture" else area.code
        place = PlaceOut(lgcode=area.lgcode, municipality=municipality, prefecture=area.prefecture, name=area.name, how="lgcode")
        return Contact(topic="general", municipality=municipality, prefecture=area.prefecture), place
    return Contact(topic="general"), PlaceOut(lgcode=None, municipality=None, prefecture=None, name="不明（全国の窓口のみ）", how="unknown")


def explain(widened: Widened) -> str:
    """Return a one-line explanation of where the person goes, for people reading the preview."""
    if widened.via is None:
        return _explain(widened.decision)
    own = widened.own
    if own.outcome == "all_closed":
        soonest = min(own.next_openings, key=lambda n: n.at, default=None)
        why = "every service for the topic is closed" + (
            f" (the next opens at {soonest.at.isoformat()}, {soonest.name})" if soonest else ""
        )
    else:
        why = "no service takes the topic for this place"
    decision = widened.decision
    if decision.outcome == "all_closed":
        return f"{why}, and the {widened.via} lines too: the caller hears when help opens and may ask for the 24-hour line"
    if decision.outcome == "no_service":
        return f"{why}, and no {widened.via} line takes them: the caller is put through to the 24-hour line"
    return f"{why}; the {widened.via} lines take them: {_explain(decision)}"


def _explain(decision: Decision) -> str:
    if decision.outcome == "route":
        first = decision.candidates[0]
        return (
            f"{len(decision.candidates)} open service(s); first {first.name} ({first.tier}, {first.match} match, {first.free_slots} free)"
        )
    if decision.outcome == "all_full":
        return f"{len(decision.full)} service(s) are open but every slot is taken; the caller waits in the queue"
    if decision.outcome == "all_closed":
        soonest = min(decision.next_openings, key=lambda n: n.at, default=None)
        return "every matching service is closed" + (f"; the next opens at {soonest.at.isoformat()} ({soonest.name})" if soonest else "")
    return "no service in the directory takes this topic and channel for this place"


@dataclass(frozen=True, slots=True)
class Question:
    """A preview asked for: the snapshot it is answered from, the contact, where it is and when."""

    snapshot: Snapshot
    contact: Contact
    place: PlaceOut
    at: datetime


def ask(runtime: Runtime, *, topic: str, channel: str, postal_code: str | None, lgcode: str | None, at: datetime | None) -> Question:
    """Return the question a preview answers: the place resolved and the instant settled (now when not given)."""
    snapshot = runtime.snapshot
    if snapshot is None:
        raise Unavailable("the directory is still loading; try again in a moment")
    if at is not None and at.tzinfo is None:
        raise Invalid("at: give a UTC offset, e.g. 2026-12-30T10:00:00+09:00")
    region, place = resolve_place(runtime.regions, postal_code, lgcode)
    contact = Contact(topic=topic, channel=channel, municipality=region.municipality, prefecture=region.prefecture)
    return Question(snapshot, contact, place, at or runtime.clock.now())


async def answer(runtime: Runtime, question: Question) -> PreviewOut:
    """Return what the person would get under the live load, and why (the API's answer; the /routing page shows it too)."""
    snapshot, contact = question.snapshot, question.contact
    widened = await runtime.switchboard.look_widened(snapshot, contact, question.at, rotate=False)
    decision, own = widened.decision, widened.own
    return PreviewOut(
        outcome=decision.outcome,
        topic_outcome=own.outcome,
        via=widened.via,
        explanation=explain(widened),
        policy=decision.policy,
        topic=contact.topic,
        channel=contact.channel,
        at=question.at,
        place=question.place,
        directory_version=snapshot.version,
        candidates=[CandidateOut(rank=i + 1, **_fields(c, CandidateOut)) for i, c in enumerate(decision.candidates)],
        full=_both(own.full, decision.full),
        closed=_both(own.closed, decision.closed),
        next_openings=[NextOpeningOut(**_fields(n, NextOpeningOut)) for n in widened.openings],
    )


@router.get("/preview", response_model=PreviewOut, summary="Where a contact would go, and why")
async def preview(
    staff: CurrentStaff,
    runtime: RuntimeDep,
    topic: Annotated[TopicCode, Query(description="topic code")] = "general",
    channel: Literal["voice", "sns"] = "voice",
    postal_code: Annotated[str | None, Query(description="7-digit postal code")] = None,
    lgcode: Annotated[str | None, Query(description="6-digit lgcode (municipality, designated city or prefecture)")] = None,
    at: Annotated[Instant | None, Query(description="ISO-8601 instant with offset, 2000-2099; default now")] = None,
) -> PreviewOut:
    question = ask(runtime, topic=topic, channel=channel, postal_code=postal_code, lgcode=lgcode, at=at)
    return await answer(runtime, question)


def _both(own: tuple[str, ...], wider: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys((*own, *wider)))


def _fields(obj: object, shape: type[BaseModel]) -> dict:
    return {name: getattr(obj, name) for name in shape.model_fields if hasattr(obj, name)}
