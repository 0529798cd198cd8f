"""Chats as stored: choices, steps and timestamps in clear; who the person is and what anyone wrote only sealed.

A chat is a contact on the SNS channel (LINE or the dial's own web chat). Its id is random. The
person is known by a keyed pseudonym (their LINE user id or web chat token, HMAC'd: a repeat
contact is recognised, nobody can be looked up), plus, for LINE, a sealed copy of the user id
that sending needs. Message texts are sealed (AES-GCM, key id stored). `tsunagu purge` empties the
identifying fields after their retention period; what the statistics need stays.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

MEDIUMS = ("line", "web")
STATUSES = ("intake", "waiting", "talking", "closed")
OPEN_STATUSES = ("intake", "waiting", "talking")
SENDERS = ("person", "staff", "system")
Sender = Literal["person", "staff", "system"]


def new_id() -> str:
    return str(uuid.uuid4())


class Chat(SQLModel, table=True):
    __tablename__ = "chat"
    # A person's open chat is found by their pseudonym; a window's chats by service and status.
    __table_args__ = (Index("ix_chat_person_status", "person_ref", "status"), Index("ix_chat_service_status", "service_id", "status"))
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    medium: str = Field(max_length=8)  # line or web
    status: str = Field(default="intake", max_length=12, index=True)
    band: str = Field(default="normal", max_length=10)  # crisis, elevated or normal: the queue's order
    intake: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # the questions so far (nothing identifying)
    topic: str | None = Field(default=None, max_length=16)
    prefecture: str | None = Field(default=None, max_length=2)
    lgcode: str | None = Field(default=None, max_length=6)
    age_band: str | None = Field(default=None, max_length=16)
    service_id: str | None = Field(default=None, max_length=36)  # the window it waits at, or is answered by
    org_id: str | None = Field(default=None, max_length=36)
    counsellor: str | None = Field(default=None, max_length=36)  # the staff member with it
    case_id: str | None = Field(default=None, foreign_key="case_file.id", max_length=9)
    tried: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # windows it rolled over from
    buttons: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # the quick replies last offered: [label, data]
    opened_at: datetime
    arrived_at: datetime | None = None  # when it first joined a queue: its place, kept over roll-overs and transfers
    window_since: datetime | None = None  # when it joined the queue it waits in now (a roll-over is counted from it)
    first_reply_at: datetime | None = None  # the first automated answer
    assigned_at: datetime | None = None
    first_human_at: datetime | None = None
    last_person_at: datetime | None = None
    last_staff_at: datetime | None = None
    idle_warned_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = Field(default=None, max_length=24)
    shared_from: int = 0  # the window with it reads messages from this number on (a transfer without consent passes none before)
    messages: int = 0  # how many messages it has: the next one's seq (counted in the row, so two writers never share one)
    blocked: bool = False  # the person blocked the account (LINE unfollow): nothing more is sent
    # Identifying: emptied by purge.
    person_ref: str | None = Field(default=None, max_length=80)
    address_sealed: str = ""  # LINE: the user id, sealed, for sending; web: empty
    purged_at: datetime | None = None


class ChatMessage(SQLModel, table=True):
    """One message in a chat, in order; its text only sealed. Outbound LINE messages carry their delivery."""

    __tablename__ = "chat_message"
    __table_args__ = (UniqueConstraint("chat_id", "seq", name="uq_chat_message_chat_seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    chat_id: str = Field(foreign_key="chat.id", max_length=36, index=True)
    seq: int
    at: datetime
    sender: str = Field(max_length=8)  # person, staff or system
    staff_id: str | None = Field(default=None, max_length=36)
    kind: str = Field(default="text", max_length=12)  # text, sticker, image, video, audio, file, location, other
    body_sealed: str = ""  # AES-GCM; emptied by purge
    event_id: str | None = Field(default=None, max_length=40, unique=True)  # LINE's webhookEventId: one message per event
    delivery: str | None = Field(default=None, max_length=12)  # LINE, outbound: pending, sent, failed, quota, blocked
    retry_key: str | None = Field(default=None, max_length=36)  # LINE's X-Line-Retry-Key of a push, kept with its outcome
    attempts: int = 0


class ChatTemplate(SQLModel, table=True):
    """A 定型文: a ready answer supervisors keep for their organisation's counsellors."""

    __tablename__ = "chat_template"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    org_id: str = Field(max_length=36, index=True)
    title: str = Field(max_length=60)
    body: str = Field(max_length=1000)
    updated_by: str = Field(max_length=36)
    updated_at: datetime


class ChatWordList(SQLModel, table=True):
    """The words that raise a chat's band (crisis, elevated), as supervisors keep them; the defaults when none is stored."""

    __tablename__ = "chat_word_list"
    kind: str = Field(primary_key=True, max_length=10)
    words: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_by: str = Field(max_length=36)
    updated_at: datetime
