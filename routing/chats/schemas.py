"""The staff chat API's request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routing.cases.schemas import CONTACT_MAX, SERVICE_ID_MAX, Share, typed_phone_number

MESSAGE_MAX = 2000  # LINE takes 5,000 characters; a counsellor's answer this long is already a letter
REASON_MAX = 1000

Sender = Literal["person", "staff", "system"]
Band = Literal["crisis", "elevated", "normal"]


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MESSAGE_MAX, description="what the counsellor writes to the person")


class TransferIn(BaseModel):
    service_id: str = Field(max_length=SERVICE_ID_MAX, description="a window of the next tier that answers chats in tsunagu")
    share: Share = "none"
    reason: str | None = Field(default=None, max_length=REASON_MAX, description="why a life was at risk (share=exception)")


class CallbackIn(BaseModel):
    """A phone callback the person asked for in the chat, at the number they gave there."""

    number: str = Field(max_length=CONTACT_MAX, description="the number the person gave, as they wrote it")
    consent: Literal[True] = Field(description="the person agreed to be called back at this number (recorded with the request)")

    @field_validator("number")
    @classmethod
    def _phone(cls, value: str) -> str:
        return typed_phone_number(value)


class BandIn(BaseModel):
    band: Band


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    seq: int
    sender: Sender = Field(serialization_alias="from", validation_alias="from", description="person, staff or system")
    kind: str = Field(description="text, or what came instead of words: sticker, image, video, audio, file, location, other")
    text: str
    at: datetime
    delivery: str | None = Field(default=None, description="LINE, sent to the person: pending, sent, failed, quota or blocked")


class ChatSummaryOut(BaseModel):
    """One chat as a list shows it: no text."""

    id: str
    medium: str
    status: str
    band: str
    topic: str | None
    prefecture: str | None
    age_band: str | None
    service_id: str | None
    counsellor: str | None
    case_id: str | None
    opened_at: datetime
    arrived_at: datetime | None
    assigned_at: datetime | None
    last_person_at: datetime | None
    message_count: int


class ChatOut(ChatSummaryOut):
    """A chat with its intake and the messages its reader may see."""

    lgcode: str | None
    shared_from: int = Field(description="messages before this number are not shown: they were not passed on with the chat")
    messages: list[MessageOut]


class DeskOut(BaseModel):
    """A window's desk for its supervisor: who waits (by band), and every counsellor's chats."""

    waiting: list[ChatSummaryOut]
    talking: list[ChatSummaryOut]


class WindowOut(BaseModel):
    """A window a chat can be handed on to: answered here (a transfer), or with its own SNS (its link is given)."""

    service_id: str
    name: str
    tier: str
    free_lines: int
    own_sns_url: str = Field(description="empty: the window answers chats in tsunagu (transfer); else give the person this link")
