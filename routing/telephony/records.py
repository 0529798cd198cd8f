"""The anonymised record each call leaves behind: no number, no name, no words; a keyed pseudonym of the caller."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

OUTCOMES = ("connected", "callback_booked", "abandoned_in_queue", "abandoned", "no_service_open", "fallback")


class CallRecord(SQLModel, table=True):
    __tablename__ = "call_record"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    # A keyed hash of the CallSid: makes the record idempotent.
    call_ref: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    caller_pseudonym: str = Field(max_length=80, index=True)
    channel: str = Field(default="voice", max_length=8)
    topic: str | None = Field(default=None, max_length=16)
    lgcode: str | None = Field(default=None, max_length=6)
    english: bool = False
    started_at: datetime
    ended_at: datetime
    wait_seconds: float = 0.0
    attempts: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [{service_id, tier, outcome}]
    answered_service_id: str | None = Field(default=None, max_length=36)
    outcome: str = Field(max_length=24, index=True)


class CallbackRequest(SQLModel, table=True):
    """A caller's consented request to be called back; the number is kept only sealed, and only until the call is made."""

    __tablename__ = "callback_request"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    # A keyed hash of the CallSid of the call that asked (never the CallSid itself): one request per call, however
    # often the consent arrives. Empty only for requests booked before this was kept.
    call_ref: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, unique=True, index=True))
    topic: str = Field(max_length=16)
    municipality: str | None = Field(default=None, max_length=5)
    prefecture: str | None = Field(default=None, max_length=2)
    lgcode: str | None = Field(default=None, max_length=6)
    english: bool = False
    number_sealed: str = ""  # AES-GCM with a key derived from TSUNAGU_SECRET_KEY; emptied once the call is made
    dial_number: str = Field(max_length=20)  # the dial's own number, shown as the caller id when we call back
    consent_at: datetime
    created_at: datetime
    status: str = Field(default="pending", max_length=16, index=True)  # pending, calling, connected, failed, expired (purged unplaced)
    tries: int = 0
    service_id: str | None = Field(default=None, max_length=36)
