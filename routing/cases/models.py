"""Cases and their referrals, as stored: ids, choices and timestamps in clear; notes and contact details only sealed.

A case opens with each answered call (and later each chat). Its id is random, never derived
from the number. What identifies the person (the caller's pseudonym, the contact details they
gave, the notes) is kept apart in fields that `tsunagu purge` empties after their retention
period; what the statistics need (topic, region, tiers, outcomes, times) stays.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U to misread over the phone


def new_case_id() -> str:
    """Return a random case number such as `K7M2-9QXD` (40 bits), easy to read out in a whisper."""
    chars = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    # The dashboard's list reads an organisation's newest cases: this index gives them in order, without a sort.
    __table_args__ = (Index("ix_case_file_holder_org_updated_at", "holder_org", "updated_at"),)
    id: str = Field(default_factory=new_case_id, primary_key=True, max_length=9)
    channel: str = Field(default="voice", max_length=8)
    call_ref: str | None = Field(default=None, max_length=64, unique=True)  # keyed hash of the CallSid: one case per call
    topic: str | None = Field(default=None, max_length=16)  # chosen in the IVR
    topics: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # the counsellor's intake
    lgcode: str | None = Field(default=None, max_length=6)
    prefecture: str | None = Field(default=None, max_length=2)
    holder_org: str = Field(max_length=36)  # the organisation that answered
    holder_service: str | None = Field(default=None, max_length=36)
    holder_tier: str = Field(max_length=16)
    age_band: str | None = Field(default=None, max_length=16)
    risk_level: str | None = Field(default=None, max_length=16)
    opened_at: datetime
    updated_at: datetime
    # Identifying: emptied by purge.
    caller_pseudonym: str | None = Field(default=None, max_length=80, index=True)
    contact_sealed: str = ""  # the contact details the person gave, only with their consent (or a life-safety exception)
    consent_at: datetime | None = None  # when the person agreed that their contact details and notes go on
    consent_by: str | None = Field(default=None, max_length=36)  # the staff member who recorded it
    purged_at: datetime | None = None


class CaseNote(SQLModel, table=True):
    """A counsellor's note; readable by the author's organisation, and passed on only with consent or an exception."""

    __tablename__ = "case_note"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="case_file.id", max_length=9, index=True)
    org_id: str = Field(max_length=36)
    author: str = Field(max_length=36)
    at: datetime
    body_sealed: str = ""  # AES-GCM; emptied by purge


class Referral(SQLModel, table=True):
    """One hop of the chain. Its columns are also the anonymised referral log the statistics read."""

    __tablename__ = "referral"
    # Each organisation's inbox and outbox, newest first, read in index order.
    __table_args__ = (
        Index("ix_referral_to_org_created_at", "to_org", "created_at"),
        Index("ix_referral_from_org_created_at", "from_org", "created_at"),
    )
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="case_file.id", max_length=9, index=True)
    hop: int  # 1 national → prefecture, 2 prefecture → municipal, ...
    kind: str = Field(default="refer", max_length=8)  # refer (for follow-up) or transfer (the live call)
    from_org: str = Field(max_length=36)
    from_tier: str = Field(max_length=16)
    to_org: str = Field(max_length=36)
    to_service: str = Field(max_length=36)
    to_tier: str = Field(max_length=16)
    topic: str | None = Field(default=None, max_length=16)
    prefecture: str | None = Field(default=None, max_length=2)
    share: str = Field(default="none", max_length=12)  # what goes with it: none, consent, exception
    status: str = Field(default="proposed", max_length=12, index=True)
    reason: str | None = Field(default=None, max_length=200)  # why it was declined
    outcome: str | None = Field(default=None, max_length=32)  # how it closed
    created_by: str = Field(max_length=36)
    created_at: datetime
    deadline_at: datetime | None = None
    accepted_at: datetime | None = None
    answered_at: datetime | None = None
    contacted_at: datetime | None = None
    closed_at: datetime | None = None


class SafetyException(SQLModel, table=True):
    """A recorded life-safety exception: details passed on without consent because a life was at risk."""

    __tablename__ = "safety_exception"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="case_file.id", max_length=9, index=True)
    referral_id: str | None = Field(default=None, max_length=36)
    staff_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    at: datetime
    why_sealed: str  # the reason, sealed: it may describe the person's situation
