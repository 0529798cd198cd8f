"""Builders for statistics tests: anonymised call records, chats and referral hops, and a realistic week of them."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta

from sqlmodel import SQLModel

from referral_directory.hours import JST
from referral_directory.storage import db
from routing.cases.models import Case, Referral
from routing.chats.models import Chat
from routing.runtime import Runtime
from routing.telephony.records import CallRecord

# Shares of each outcome in the realistic week (calls, chats), and the hours people reach out (evenings peak).
CALL_MIX = {"connected": 48, "abandoned_in_queue": 18, "abandoned": 10, "callback_booked": 9, "no_service_open": 10, "fallback": 5}
CHAT_MIX = {"connected": 55, "abandoned_in_queue": 20, "abandoned": 10, "no_service_open": 8, "own_sns": 7}
HOUR_WEIGHTS = [3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 6, 7, 8, 10, 12, 14, 14, 8]
STATUS_MIX = {"accepted": 30, "contacted": 25, "closed": 20, "proposed": 10, "declined": 8, "expired": 7}


def jst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), JST)


def make_call(at: datetime, *, lgcode: str | None, outcome: str = "connected", topic: str = "general", wait: float = 0.0, answered=None):
    """A call record begun at `at`; answered by `answered` (a service id) when connected."""
    return CallRecord(
        call_ref=uuid.uuid4().hex,
        caller_pseudonym="p-" + uuid.uuid4().hex[:12],
        topic=topic,
        lgcode=lgcode,
        started_at=at,
        ended_at=at + timedelta(seconds=wait + 300),
        wait_seconds=wait,
        attempts=[],
        answered_service_id=answered if outcome == "connected" else None,
        outcome=outcome,
    )


def make_chat(at: datetime, *, lgcode: str | None, outcome: str = "connected", topic: str = "general", wait: float = 60.0, org=None):
    """A chat opened at `at` that ended as `outcome` (a key of CHAT_OUTCOME_NAMES) at organisation `org`'s window."""
    queued = outcome in ("connected", "abandoned_in_queue", "open")
    reason = {"no_service_open": "nothing_open", "own_sns": "own_sns", "abandoned": "left_in_intake"}.get(outcome, "counsellor")
    arrived = at + timedelta(minutes=1) if queued else None
    return Chat(
        medium="line",
        status="waiting" if outcome == "open" else "closed",
        topic=topic,
        prefecture=lgcode[:2] if lgcode else None,
        lgcode=lgcode,
        org_id=org,
        opened_at=at,
        arrived_at=arrived,
        first_human_at=arrived + timedelta(seconds=wait) if arrived and outcome == "connected" else None,
        closed_at=None if outcome == "open" else at + timedelta(minutes=30),
        close_reason=None if outcome == "open" else ("person_left" if outcome == "abandoned_in_queue" else reason),
    )


def make_hop(at: datetime, *, lgcode: str, status: str = "accepted", to_org: str = "prefecture-org", hop: int = 1) -> tuple[Case, Referral]:
    """A case from `lgcode` and its referral hop made at `at` (national → prefecture, or prefecture → municipal for hop 2)."""
    tiers = ("national", "prefecture") if hop == 1 else ("prefecture", "municipal")
    case = Case(
        topic="general", lgcode=lgcode, prefecture=lgcode[:2], holder_org="national", holder_tier=tiers[0], opened_at=at, updated_at=at
    )
    referral = Referral(
        case_id=case.id,
        hop=hop,
        from_org="national" if hop == 1 else "prefecture-org",
        from_tier=tiers[0],
        to_org=to_org,
        to_service="s",
        to_tier=tiers[1],
        topic="general",
        prefecture=lgcode[:2],
        status=status,
        created_by="t",
        created_at=at,
        accepted_at=at + timedelta(hours=4) if status in ("accepted", "contacted", "closed") else None,
    )
    return case, referral


async def store(runtime: Runtime, rows: Iterable[SQLModel]) -> None:
    """Store rows in one transaction (cases before their referrals)."""
    async with db.transaction(runtime.sessions) as session:
        for row in rows:
            session.add(row)
            if isinstance(row, Case):
                await session.flush()


def realistic_week(
    first: date, *, days: int, calls_per_day: int, lgcodes: list[str], seed: int = 17, org=None, answered=None
) -> Iterator[SQLModel]:
    """A few hundred calls, chats and hops over `days` days: evening peaks, most calls connected, the waits of a busy dial."""
    rng = random.Random(seed)
    for n in range(days):
        day = first + timedelta(days=n)
        weekend = day.weekday() >= 5
        for _ in range(calls_per_day + rng.randrange(-8, 9) + (6 if weekend else 0)):
            at = jst(day, rng.choices(range(24), HOUR_WEIGHTS)[0], rng.randrange(60))
            outcome = rng.choices(list(CALL_MIX), list(CALL_MIX.values()))[0]
            wait = rng.choice([0, 0, 20, 20, 40, 60, 100, 140, 200, 320, 480, 700]) if outcome == "connected" else 0
            topic = rng.choice(["general", "mind", "life"])
            yield make_call(at, lgcode=rng.choice(lgcodes), outcome=outcome, wait=wait, answered=answered, topic=topic)
        for _ in range(calls_per_day // 2 + rng.randrange(-5, 6)):
            at = jst(day, rng.choices(range(24), HOUR_WEIGHTS)[0], rng.randrange(60))
            outcome = rng.choices(list(CHAT_MIX), list(CHAT_MIX.values()))[0]
            wait = rng.choice([30, 90, 150, 240, 420, 660, 900, 1500, 2400])
            yield make_chat(at, lgcode=rng.choice(lgcodes), outcome=outcome, wait=wait, org=org)
        for _ in range(calls_per_day // 2 + rng.randrange(-3, 4)):
            at = jst(day, rng.randrange(9, 20), rng.randrange(60))
            status = rng.choices(list(STATUS_MIX), list(STATUS_MIX.values()))[0]
            yield from make_hop(at, lgcode=rng.choice(lgcodes), status=status, hop=rng.choice([1, 1, 1, 2]), to_org=org or "prefecture-org")
