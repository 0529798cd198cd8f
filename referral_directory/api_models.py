"""Request and response shapes of the coordinator API (pydantic; they appear in the OpenAPI)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from referral_directory.records import (
    AREAS_MAX,
    CHANNELS,
    DESCRIPTION_MAX,
    MAX_CAPACITY,
    NAME_MAX,
    PHONES_MAX,
    SCHEDULES_MAX,
    TOPICS,
    WEEKDAYS,
)

# How much a coordinator can send, written once. Generous for real directories (every municipality and
# ward of Japan fits in one service's areas), small enough that nobody can fill the database or every
# staff member's lists with one request.
LABEL_MAX = 200  # characters of the description of a line, of opening hours or of a closure
EMAIL_MAX = 254  # characters of an e-mail address (RFC 5321's longest path)
URL_MAX = 2000  # characters of a web address
ID_MAX = 36  # characters of a directory id (a UUID)
PHONE_NUMBER_MAX = 20  # characters of a number in E.164 (at most 16) with room to spare

Topic = Literal["life", "mind", "crisis", "violence", "family", "youth", "sogi", "foreign", "general"]
ChannelName = Literal["voice", "sns"]
TierName = Literal["national", "prefecture", "municipal"]
Day = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
HHMM = Annotated[str, Field(pattern=r"^[0-2][0-9]:[0-5][0-9]$", examples=["09:00"])]
LgCode = Annotated[
    str, Field(pattern=r"^[0-9]{6}$", examples=["131016"], description="6-digit lgcode with check digit; 000000 = whole country")
]


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
Label = Annotated[str, Field(max_length=LABEL_MAX)]
Email = Annotated[str, Field(max_length=EMAIL_MAX)]
Url = Annotated[str, Field(max_length=URL_MAX)]
Id = Annotated[str, Field(max_length=ID_MAX)]
Topics = Annotated[list[Topic], Field(min_length=1, max_length=len(TOPICS))]
Channels = Annotated[list[ChannelName], Field(min_length=1, max_length=len(CHANNELS))]
Areas = Annotated[list[LgCode], Field(min_length=1, max_length=AREAS_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganizationIn(_Strict):
    id: uuid.UUID | None = None
    name: Name
    description: Description = ""
    email: Email = ""
    website: Url = ""


class OrganizationPatch(_Strict):
    name: Name | None = None
    description: Description | None = None
    email: Email | None = None
    website: Url | None = None


class OrganizationOut(BaseModel):
    id: str
    name: str
    description: str
    email: str
    website: str


class PhoneIn(_Strict):
    number: Annotated[str, Field(max_length=PHONE_NUMBER_MAX, examples=["+81312345678"], description="E.164")]
    description: Label = ""


class PhoneOut(BaseModel):  # not PhoneIn's bounds: an answer shows what is stored, whatever a file brought in
    id: str
    number: str
    description: str = ""


class ScheduleIn(_Strict):
    kind: Literal["weekly", "open", "closed"] = "weekly"
    byday: Annotated[list[Day], Field(max_length=len(WEEKDAYS))] = []
    opens_at: HHMM | None = None
    closes_at: HHMM | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    description: Label = ""


class ScheduleOut(BaseModel):  # not ScheduleIn's bounds, as for PhoneOut
    id: str
    kind: Literal["weekly", "open", "closed"] = "weekly"
    byday: list[Day] = []
    opens_at: str | None = None
    closes_at: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    description: str = ""


class ClosureIn(_Strict):
    valid_from: date
    valid_to: date
    description: Annotated[str, Field(max_length=LABEL_MAX, examples=["年末年始"])] = ""


class ServiceIn(_Strict):
    id: uuid.UUID | None = None
    organization_id: Id
    name: Name
    tier: TierName
    topics: Topics
    channels: Channels
    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] = {}
    areas: Areas
    holidays: Literal["closed", "open"] = "closed"
    status: Literal["active", "inactive", "defunct", "temporarily closed"] = "active"
    description: Description = ""
    sns_url: Url = ""
    phones: Annotated[list[PhoneIn], Field(max_length=PHONES_MAX)] = []
    schedules: Annotated[list[ScheduleIn], Field(max_length=SCHEDULES_MAX)] = []


class ServicePatch(_Strict):
    organization_id: Id | None = None
    name: Name | None = None
    tier: TierName | None = None
    topics: Topics | None = None
    channels: Channels | None = None
    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] | None = None
    areas: Areas | None = None
    holidays: Literal["closed", "open"] | None = None
    status: Literal["active", "inactive", "defunct", "temporarily closed"] | None = None
    description: Description | None = None
    sns_url: Url | None = None


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
