"""Request and response shapes of the coordinator API (pydantic; they appear in the OpenAPI)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from referral_directory.records import MAX_CAPACITY

Topic = Literal["life", "mind", "crisis", "violence", "family", "youth", "sogi", "foreign", "general"]
ChannelName = Literal["voice", "sns"]
TierName = Literal["national", "prefecture", "municipal"]
Day = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
HHMM = Annotated[str, Field(pattern=r"^[0-2][0-9]:[0-5][0-9]$", examples=["09:00"])]
LgCode = Annotated[
    str, Field(pattern=r"^[0-9]{6}$", examples=["131016"], description="6-digit lgcode with check digit; 000000 = whole country")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganizationIn(_Strict):
    id: uuid.UUID | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    email: str = ""
    website: str = ""


class OrganizationPatch(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str | None = None
    email: str | None = None
    website: str | None = None


class OrganizationOut(BaseModel):
    id: str
    name: str
    description: str
    email: str
    website: str


class PhoneIn(_Strict):
    number: Annotated[str, Field(examples=["+81312345678"], description="E.164")]
    description: str = ""


class PhoneOut(PhoneIn):
    id: str


class ScheduleIn(_Strict):
    kind: Literal["weekly", "open", "closed"] = "weekly"
    byday: list[Day] = []
    opens_at: HHMM | None = None
    closes_at: HHMM | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    description: str = ""


class ScheduleOut(ScheduleIn):
    id: str


class ClosureIn(_Strict):
    valid_from: date
    valid_to: date
    description: str = Field(default="", examples=["年末年始"])


class ServiceIn(_Strict):
    id: uuid.UUID | None = None
    organization_id: str
    name: Annotated[str, Field(min_length=1, max_length=200)]
    tier: TierName
    topics: Annotated[list[Topic], Field(min_length=1)]
    channels: Annotated[list[ChannelName], Field(min_length=1)]
    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] = {}
    areas: Annotated[list[LgCode], Field(min_length=1)]
    holidays: Literal["closed", "open"] = "closed"
    status: Literal["active", "inactive", "defunct", "temporarily closed"] = "active"
    description: str = ""
    sns_url: str = ""
    phones: list[PhoneIn] = []
    schedules: list[ScheduleIn] = []


class ServicePatch(_Strict):
    organization_id: str | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    tier: TierName | None = None
    topics: Annotated[list[Topic], Field(min_length=1)] | None = None
    channels: Annotated[list[ChannelName], Field(min_length=1)] | None = None
    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] | None = None
    areas: Annotated[list[LgCode], Field(min_length=1)] | None = None
    holidays: Literal["closed", "open"] | None = None
    status: Literal["active", "inactive", "defunct", "temporarily closed"] | None = None
    description: str | None = None
    sns_url: str | None = None


class ServiceOut(BaseModel):
    id: str
    organization_id: str
    name: str
    tier: str
    topics: list[str]
    channels: list[str]
    capacity: dict[str, int]
    areas: list[str]
    holidays: str
    status: str
    description: str
    sns_url: str
    phones: list[PhoneOut]
    schedules: list[ScheduleOut]


class ServiceList(BaseModel):
    total: int
    items: list[ServiceOut]


class ChangeOut(BaseModel):
    at: datetime
    actor: str
    field: str
    old: str | None
    new: str | None
