"""The shapes of the case API: what a client sends (…In) and what it gets back (…Out), as /docs shows them.

The counsellor's pages read the same …Out models the JSON API returns, so a page never shows
more than the API would give the same staff member.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import phonenumbers
from pydantic import BaseModel, Field, field_validator

from referral_directory.records import TOPICS, TopicCode
from routing.cases.handoff import OUTCOMES, Status
from routing.cases.rules import SHARES

# How much a counsellor can send, written once: a note is a page, reasons are a few lines; ids and numbers are short.
NOTE_MAX = 4000  # characters of a note
EXCEPTION_REASON_MAX = 1000  # characters of why a life-safety exception was made
DECLINE_REASON_MAX = 200  # characters of why a referral was declined
CONTACT_MAX = 32  # characters of a phone number as typed (090-1234-5678, +81 90 1234 5678)
SERVICE_ID_MAX = 36  # a directory id (a UUID)

AGE_BANDS = ("under18", "18-29", "30-49", "50-64", "65plus", "unknown")
RISK_LEVELS = ("low", "medium", "high", "imminent")
STATUSES = tuple(s.value for s in Status)
# Literal[...] of a tuple built at run time: pydantic and /docs read the choices, mypy cannot.
Topic = TopicCode
AgeBand = Literal[AGE_BANDS]  # type: ignore[valid-type]  # a Literal of a run-time tuple
RiskLevel = Literal[RISK_LEVELS]  # type: ignore[valid-type]  # a Literal of a run-time tuple
Share = Literal[SHARES]  # type: ignore[valid-type]  # a Literal of a run-time tuple
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]  # a Literal of a run-time tuple
StatusName = Literal[STATUSES]  # type: ignore[valid-type]  # a Literal of a run-time tuple
Box = Literal["inbox", "outbox"]


class CaseIn(BaseModel):
    topic: Topic = "general"
    channel: Literal["voice", "sns", "visit"] = "voice"
    lgcode: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class IntakeIn(BaseModel):
    topics: list[Topic] | None = Field(default=None, max_length=len(TOPICS))
    age_band: AgeBand | None = None
    risk_level: RiskLevel | None = None


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=NOTE_MAX)


def typed_phone_number(value: str) -> str:
    """Return a phone number as a person gives it (090-1234-5678, +81 90 1234 5678) in E.164; ValueError saying why not."""
    try:
        number = phonenumbers.parse(value, "JP")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number: give it as 090-1234-5678 or +81 90 1234 5678") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ConsentIn(BaseModel):
    contact: str = Field(max_length=CONTACT_MAX, description="the phone number the person agreed to be contacted at")

    @field_validator("contact")
    @classmethod
    def _phone(cls, value: str) -> str:
        return typed_phone_number(value)


class ReferralIn(BaseModel):
    to_service: str = Field(max_length=SERVICE_ID_MAX)
    share: Share = "none"
    exception_reason: str | None = Field(
        default=None, max_length=EXCEPTION_REASON_MAX, description="why a life was at risk (share=exception)"
    )


class ReferralStep(BaseModel):
    status: Literal["accepted", "declined", "contacted", "closed"]
    reason: str | None = Field(default=None, max_length=DECLINE_REASON_MAX)
    outcome: Outcome | None = None


class ReferralOut(BaseModel):
    """One hop of a case's chain: who passed it to whom, carrying what, and where it stands."""

    id: str
    case_id: str
    hop: int
    kind: str = Field(description="refer (for follow-up) or transfer (the live call)")
    from_org: str
    from_tier: str
    to_org: str
    to_service: str
    to_tier: str
    share: str = Field(description="what went with it: none, consent or exception")
    status: str
    reason: str | None
    outcome: str | None
    created_at: datetime
    deadline_at: datetime | None
    accepted_at: datetime | None
    closed_at: datetime | None


class NoteOut(BaseModel):
    id: str
    org: str
    at: datetime
    text: str | None = Field(description="null once the note has been purged after its retention period")


class CaseOut(BaseModel):
    """A case as the asking staff member's organisation may see it."""

    id: str
    channel: str
    topic: str | None
    topics: list[str]
    lgcode: str | None
    prefecture: str | None
    holder_org: str
    holder_tier: str
    age_band: str | None
    risk_level: str | None
    opened_at: datetime
    updated_at: datetime
    consent: bool = Field(description="whether the person's consent to pass their details on is recorded")
    may_refer: bool = Field(description="whether this organisation may refer or transfer the case on")
    may_record_intake: bool = Field(description="whether this organisation may change the intake (only the holder may)")
    may_record_consent: bool = Field(description="whether this organisation may record consent and the contact number (only the holder)")
    may_add_notes: bool = Field(description="whether this organisation may add notes: the holder, or a receiver working the case")
    call_live: bool = Field(description="its call is on the line now, so it can be transferred")
    earlier_calls: int = Field(description="earlier calls from the same caller, recognised by pseudonym within its key's life")
    contact: str | None = Field(description="the contact number, only where consent or an exception reached this organisation")
    notes: list[NoteOut]
    referrals: list[ReferralOut]


class CaseSummaryOut(BaseModel):
    """A row of the case list."""

    id: str
    topic: str | None
    risk_level: str | None
    held_here: bool
    updated_at: datetime


class NoteAdded(BaseModel):
    id: str
    at: datetime


class ConsentOut(BaseModel):
    consent: bool
    at: datetime


class SuggestionOut(BaseModel):
    """A window the case could go on to."""

    service_id: str
    name: str
    organization: str
    tier: str
    open_now: bool
    opens_at: datetime | None = Field(description="when it next opens, if it is closed now")
    phones: list[str]
