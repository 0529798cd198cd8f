"""Signed Twilio webhook requests against a running test service, and reading what the TwiML says."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from running import Running
from twilio.request_validator import RequestValidator

PUBLIC_URL = "https://tsunagu.example.jp"
AUTH_TOKEN = "test-auth-token"
DIAL_NUMBER = "+81120000000"
_sids = itertools.count(1)


def new_call_sid() -> str:
    return f"CA{next(_sids):032d}"


@dataclass
class Twiml:
    status: int
    text: str
    root: ET.Element | None = field(default=None)

    @classmethod
    def parse(cls, status: int, text: str) -> Twiml:
        return cls(status, text, ET.fromstring(text) if status == 200 and text.startswith("<?xml") else None)

    def verbs(self) -> list[str]:
        return [child.tag for child in self.root] if self.root is not None else []

    def said(self) -> list[str]:
        return [node.text or "" for node in self.root.iter("Say")] if self.root is not None else []

    def dialled(self) -> list[str]:
        if self.root is None:
            return []
        return [(n.text or "").strip() for dial in self.root.iter("Dial") for n in (list(dial) or [dial]) if (n.text or "").strip()]

    def gathers(self) -> list[dict[str, str]]:
        return [dict(g.attrib) for g in self.root.iter("Gather")] if self.root is not None else []


@dataclass
class Call:
    running: Running
    sid: str = field(default_factory=new_call_sid)
    caller: str = "+819011112222"

    def form(self, **params: str) -> dict[str, str]:
        """The form Twilio sends for this call, with `params` added or replaced."""
        return {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": DIAL_NUMBER,
            "CallStatus": "in-progress",
        } | params

    async def post(self, path: str, signed: bool = True, **params: str) -> Twiml:
        return await send(self.running, path, self.form(**params), signed=signed)

    async def reach_dial(self, topic: str = "9", postal: str | None = "1000001") -> Twiml:
        """Go through the IVR to the first answer that dials (or whatever comes instead)."""
        await self.post("/twilio/voice/incoming", CallStatus="ringing")
        answer = await self.post("/twilio/voice/topic", Digits=topic)
        if topic == "3":
            return answer
        return await self.post("/twilio/voice/postal", Digits=postal or "#")

    async def dial_result(self, status: str) -> Twiml:
        return await self.post("/twilio/voice/dialled", DialCallStatus=status)

    async def end(self, status: str = "completed") -> Twiml:
        return await self.post("/twilio/voice/status", CallStatus=status, CallDuration="42")


METRICS_TOKEN = "metrics-token-for-prometheus-0123456789"


async def send(running: Running, path: str, form: dict[str, str], *, signed: bool = True) -> Twiml:
    """POST a form to a webhook as Twilio would (signed for the public URL), whatever fields it has or lacks."""
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, form)} if signed else {}
    response = await running.client.post(path, data=form, headers=headers)
    return Twiml.parse(response.status_code, response.text)


def voice_settings() -> dict[str, object]:
    return {"twilio_auth_token": AUTH_TOKEN, "public_url": PUBLIC_URL, "fallback_number": "+81355550000", "metrics_token": METRICS_TOKEN}
