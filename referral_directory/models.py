"""SQL tables of the directory (SQLModel). The schema is created by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Return the current time in UTC (aware)."""
    return datetime.now(UTC)


def _fk(target: str) -> Column:
    return Column(String(36), ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True)


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: str = Field(primary_key=True, max_length=36)
    name: str
    description: str = ""
    email: str = ""
    website: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Service(SQLModel, table=True):
    __tablename__ = "service"
    id: str = Field(primary_key=True, max_length=36)
    organization_id: str = Field(sa_column=Column(String(36), ForeignKey("organization.id"), nullable=False, index=True))
    name: str
    tier: str = Field(max_length=16, index=True)
    holidays: str = Field(default="closed", max_length=8)
    status: str = Field(default="active", max_length=24)
    description: str = ""
    sns_url: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class ServiceTopic(SQLModel, table=True):
    __tablename__ = "service_topic"
    service_id: str = Field(sa_column=Column(String(36), ForeignKey("service.id", ondelete="CASCADE"), primary_key=True))
    topic: str = Field(primary_key=True, max_length=16)
    __table_args__ = (Index("ix_service_topic_topic", "topic"),)


class ServiceChannel(SQLModel, table=True):
    __tablename__ = "service_channel"
    service_id: str = Field(sa_column=Column(String(36), ForeignKey("service.id", ondelete="CASCADE"), primary_key=True))
    channel: str = Field(primary_key=True, max_length=8)
    capacity: int = 0


class ServiceArea(SQLModel, table=True):
    __tablename__ = "service_area"
    service_id: str = Field(sa_column=Column(String(36), ForeignKey("service.id", ondelete="CASCADE"), primary_key=True))
    lgcode: str = Field(primary_key=True, max_length=6)
    __table_args__ = (Index("ix_service_area_lgcode", "lgcode"),)


class Phone(SQLModel, table=True):
    __tablename__ = "phone"
    id: str = Field(primary_key=True, max_length=36)
    service_id: str = Field(sa_column=_fk("service.id"))
    position: int = 0
    number: str = Field(max_length=20)
    description: str = ""


class Schedule(SQLModel, table=True):
    __tablename__ = "schedule"
    id: str = Field(primary_key=True, max_length=36)
    service_id: str = Field(sa_column=_fk("service.id"))
    position: int = 0
    kind: str = Field(default="weekly", max_length=8)
    byday: str = ""  # "MO,TU,WE"
    opens_at: str | None = Field(default=None, max_length=5)
    closes_at: str | None = Field(default=None, max_length=5)
    valid_from: date | None = None
    valid_to: date | None = None
    description: str = ""


class ChangeRecord(SQLModel, table=True):
    """One field of one directory entity changed: who, when, old → new."""

    __tablename__ = "change_record"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str
    entity: str = Field(max_length=16)  # organization | service
    entity_id: str = Field(max_length=36, index=True)
    field: str
    old: str | None = None
    new: str | None = None


class DirectoryState(SQLModel, table=True):
    """A single row holding the directory version; every change bumps it in the same transaction."""

    __tablename__ = "directory_state"
    id: int = Field(default=1, primary_key=True)
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    role: str = Field(max_length=16)
    organization_id: str | None = Field(default=None, max_length=36)
    regions: str = ""  # space-separated lgcodes ("000000" = the whole country)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    password_hash: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))  # argon2id; None: no web sign-in
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False
    chat_cap: int | None = None  # the chats this counsellor holds at once; None: the service's TSUNAGU_CHAT_CAP


class AuditEvent(SQLModel, table=True):
    """One link of the append-only, hash-chained audit log; written only by `referral_directory.staff.audit`."""

    __tablename__ = "audit_event"
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime
    actor: str
    action: str = Field(max_length=64)
    resource_kind: str = Field(max_length=32)
    resource_id: str = Field(max_length=64)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # ids, field names, reason codes only
    key_id: str = Field(max_length=16)  # which audit key made `hash` ("none": a plain SHA-256)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    __table_args__ = (Index("ix_audit_event_resource", "resource_kind", "resource_id"),)


class AuditHead(SQLModel, table=True):
    """A single row holding the audit chain's newest link; appending locks it, so concurrent appends queue."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)
