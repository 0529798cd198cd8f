"""What the runner tells every Locust process about a surge run (one JSON file, named by SURGE_CONFIG), and Twilio's wire format.

Kept apart from Locust so the runner can write it without importing Locust (which patches the
standard library for gevent on import).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from loadtests.surge.shapes import Timeline, calendar
from loadtests.surge.world import PostalSample, WorldParams

CONFIG_ENV = "SURGE_CONFIG"
VOICE_PATH, STATUS_PATH = "/twilio/voice/incoming", "/twilio/voice/status"
FORM = "application/x-www-form-urlencoded"
ACCOUNT_SID = "AC" + "5" * 32
DIAL_NUMBER = "+81120000000"  # the dial's own number, which callers ring


@dataclass(frozen=True)
class SurgeConfig:
    public_url: str  # TSUNAGU_PUBLIC_URL: signatures are computed over it
    auth_token: str
    fallback_number: str
    world_redis_url: str
    staff_token: str  # an admin's, for the routing preview (which also reads the service's clock)
    shape: str
    window_start: str  # ISO-8601 simulated instants
    window_end: str
    epoch0: float  # real epoch at which the service's clock reads window_start
    speed: float
    peak: float
    processes: int = 1  # Locust worker processes: each makes its share of the arrivals
    max_users: int = 8000
    seed: int = 1
    world: dict = field(default_factory=dict)  # WorldParams.to_json()
    postal_codes: dict[str, list[str]] = field(default_factory=dict)
    desks: dict[str, list[str]] = field(default_factory=dict)  # organisation id → [its counsellor's token, its tier] (staff)
    desk_users: int = 2  # counsellors at work at once (Locust users of the Counsellor class)
    # Chats: the fake LINE platform the drill runs, the share of chats per call attempt, the people's parameters
    # (chat_world.ChatParams.to_json()), the chat counsellors' accounts ([token, organisation id]) and their cap.
    line_url: str = ""
    line_bot_user_id: str = ""
    line_channel_secret: str = ""
    chat_share: float = 0.0
    chat_world: dict = field(default_factory=dict)
    chat_desks: list[list[str]] = field(default_factory=list)
    chat_cap: int = 2

    def timeline(self) -> Timeline:
        window = calendar(self.shape).window(datetime.fromisoformat(self.window_start), datetime.fromisoformat(self.window_end))
        return Timeline(window, self.epoch0, self.speed, self.peak)

    def world_params(self) -> WorldParams:
        return WorldParams.from_json(self.world)

    def postal(self) -> PostalSample:
        return PostalSample(self.postal_codes)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> SurgeConfig:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_environment(cls) -> SurgeConfig:
        """Return the run's configuration; a clear error when the locustfile is run without the runner."""
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise SystemExit(
                f"{CONFIG_ENV} is not set: run the surge through `python -m loadtests.surge`, which starts the service and writes it"
            )
        return cls.read(Path(path))


class Signer:
    """Signs webhook requests as Twilio does: HMAC-SHA1 of the full public URL and the sorted POST params."""

    def __init__(self, public_url: str, auth_token: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token)

    def path(self, url: str) -> str:
        """Return the path and query to request for a public URL; ValueError if it is not the service's."""
        if not url.startswith(self.public_url + "/"):
            raise ValueError(f"{url} is not under the public URL {self.public_url}")
        return url[len(self.public_url) :]

    def headers(self, url: str, params: Mapping[str, str]) -> dict[str, str]:
        # A new connection per request, as Twilio's requests come: and no keep-alive for the server to close under us.
        return {"Content-Type": FORM, "X-Twilio-Signature": self.validator.compute_signature(url, dict(params)), "Connection": "close"}

    @staticmethod
    def body(params: Mapping[str, str]) -> str:
        return urlencode(params)


def caller_number(rng: random.Random) -> str:
    """Return a made-up mobile number (never stored by tsunagu; only its keyed pseudonym is)."""
    return "+8190" + "".join(rng.choice("0123456789") for _ in range(8))


def inbound_params(sid: str, caller: str, *, account_sid: str = ACCOUNT_SID, dialled: str = DIAL_NUMBER) -> dict[str, str]:
    """Return the fields Twilio sends with every request about an inbound call."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "Called": dialled,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "JP",
        "To": dialled,
        "ToCountry": "JP",
    }
