"""Counsellors in the surge drill: desks that work cases and referrals through tsunagu's case API.

A `Counsellor` user of Locust sits at one organisation's desk at a time (every organisation has
a counsellor account, made by staff.py). It takes an organisation that has work, works it
through the API as a counsellor would on the dashboard, and gives the desk back:

- a **notice** comes first: a referral was just made to the organisation, or one of its referrals
  is waiting for its next step. A notice falls due when the receiving window next opens (the
  suggestion says when), so a prefecture window shut for 年末年始 sees its inbox on Jan 4, not before;
- then a window that left new cases for later: it **comes back** BACKLOG_HOURS after a visit
  that took up its NEW_CASES_PER_VISIT and saw more waiting, so the national line that answers
  most calls is not seen only once per turn of a rotation of some fifty windows;
- otherwise the next window in the **rotation** of those that answer calls and pass cases on
  (national and prefecture tiers).

At the desk (one step per referral per visit, the next visit after THINK_HOURS simulated hours):
- inbox: a proposed referral is accepted or declined (with a reason); an accepted one is
  contacted, or, at a prefecture window, referred on to a municipal agency and closed as
  `referred_on`; a contacted one is closed with an outcome;
- outbox: a declined or expired referral is made once more, to the next suggestion;
- cases held here: up to NEW_CASES_PER_VISIT new ones get their intake recorded, and some are
  referred to the next tier (with the person's consent recorded first, or sharing nothing).

The rates are the drill's assumptions (DeskRates), not measured data. Redis (the world's
database) holds the rotation, the notices, the desks to come back to, a lock per desk and the cases
and referrals already taken up, so two Locust users, in one process or several, never work the same
desk or case at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

from loadtests.surge.record import world_redis

PREFIX = "desk:"
DUE, BACKLOG, ROTATION, CASES, REDONE, ACTIONS = (PREFIX + k for k in ("due", "backlog", "rotation", "cases", "redone", "actions"))
LOCK_SECONDS = 60  # a desk left locked by a stopped user frees itself
THINK_HOURS = 2.0  # simulated hours before a desk comes back to a referral it moved on
BACKLOG_HOURS = 0.5  # simulated hours before a desk comes back to the new cases it left
NEW_CASES_PER_VISIT = 2
INBOX_OPEN = "/api/referrals?box=inbox&status=proposed&status=accepted&status=contacted"  # what still needs a step here
OUTBOX_RETURNED = "/api/referrals?box=outbox&status=declined&status=expired"  # what came back to find another window
NEXT_TIER = {"national": "prefecture", "prefecture": "municipal"}
SENDING_TIERS = ("national", "prefecture")
DECLINE_REASONS = ("対象地域外のため", "担当窓口が異なるため", "受け入れ枠が一杯のため")
AGE_BANDS = ("under18", "18-29", "30-49", "50-64", "65plus", "unknown")
RISK_LEVELS = (("low", 0.55), ("medium", 0.3), ("high", 0.12), ("imminent", 0.03))


@dataclass(frozen=True)
class DeskRates:
    """How counsellors answer, as shares (assumptions of the drill)."""

    accept: float = 0.85  # a proposed referral accepted; the rest declined with a reason
    refer_on: float = 0.5  # an accepted referral at a prefecture window passed on to a municipal agency
    refer_new: float = 0.3  # a new case held here referred to the next tier
    consent: float = 0.6  # the person agreed to pass their contact details on (else the referral shares nothing)
    outcomes: tuple[tuple[str, float], ...] = (("supported", 0.65), ("unreachable", 0.15), ("declined_by_person", 0.1), ("other", 0.1))


@dataclass(frozen=True)
class Step:
    """What a counsellor does next with a referral in the inbox."""

    status: str | None  # the status to set, or None when the step is to refer the case on first
    reason: str | None = None
    outcome: str | None = None
    refer_on: bool = False

    def body(self) -> dict:
        """The JSON of POST /api/referrals/{id}/status for this step."""
        return {k: v for k, v in (("status", self.status), ("reason", self.reason), ("outcome", self.outcome)) if v is not None}


def _weighted(rng: random.Random, choices: Iterable[tuple[str, float]]) -> str:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights)[0]


def referral_step(status: str, tier: str, rng: random.Random, rates: DeskRates = DeskRates()) -> Step | None:
    """Return the next step for a referral in the inbox of a window of `tier`, or None when it is finished."""
    if status == "proposed":
        return Step("accepted") if rng.random() < rates.accept else Step("declined", reason=rng.choice(DECLINE_REASONS))
    if status == "accepted":
        if tier in NEXT_TIER and rng.random() < rates.refer_on:
            return Step(None, refer_on=True)
        return Step("contacted")
    if status == "contacted":
        return Step("closed", outcome=_weighted(rng, rates.outcomes))
    return None  # declined, expired, closed


def choose_target(suggestions: list[dict], from_tier: str) -> dict | None:
    """Return the first suggestion of the next tier (they come open-now first, then soonest), or None."""
    wanted = NEXT_TIER.get(from_tier)
    return next((s for s in suggestions if s.get("tier") == wanted), None)


def intake(rng: random.Random) -> dict:
    return {"age_band": rng.choice(AGE_BANDS), "risk_level": _weighted(rng, RISK_LEVELS)}


def contact_number(rng: random.Random) -> str:
    """A made-up mobile number the person agreed to be called back on (sealed by the service)."""
    return "090" + rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(7))  # 090-0… is not a number in use


class DeskBoard:
    """The desks' shared state in Redis: notices due, the rotation, locks, what is taken up, what was done."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @classmethod
    def from_url(cls, url: str) -> DeskBoard:
        return cls(world_redis(url))

    def reset(self, rotation: Iterable[str]) -> None:
        """Forget an earlier run; put the windows that answer calls in the rotation."""
        locks = list(self.redis.scan_iter(PREFIX + "lock:*"))
        self.redis.delete(DUE, BACKLOG, ROTATION, CASES, REDONE, ACTIONS, *locks)
        orgs = list(rotation)
        if orgs:
            self.redis.rpush(ROTATION, *orgs)

    def notice(self, org: str, at: float) -> None:
        """Have a desk look at an organisation's referrals from real epoch `at` (the earliest notice wins)."""
        self.redis.zadd(DUE, {org: at}, lt=True)

    def come_back(self, org: str, at: float) -> None:
        """Have a desk come back to the organisation's new cases from real epoch `at` (the earliest wins)."""
        self.redis.zadd(BACKLOG, {org: at}, lt=True)

    def take(self, now: float | None = None) -> tuple[str, bool] | None:
        """Return (an organisation whose desk is now this user's (locked), whether it was noticed), or None when nothing is free.

        A noticed desk has referrals to answer and its window is open; a desk that comes back to
        its new cases, or one from the rotation, only takes up the cases its window answered (it
        may be shut for 年末年始 by now)."""
        now = time.time() if now is None else now
        for key, noticed in ((DUE, True), (BACKLOG, False)):
            for org in self.redis.zrangebyscore(key, "-inf", now, start=0, num=5):
                if self.redis.zrem(key, org):
                    if self._lock(org):
                        return org, noticed
                    self.redis.zadd(key, {org: now + 1}, lt=True)  # someone is at that desk: look again in a moment
        org = self.redis.lmove(ROTATION, ROTATION, "LEFT", "RIGHT")
        return (org, False) if org is not None and self._lock(org) else None

    def release(self, org: str) -> None:
        self.redis.delete(PREFIX + "lock:" + org)

    def _lock(self, org: str) -> bool:
        return bool(self.redis.set(PREFIX + "lock:" + org, "1", nx=True, ex=LOCK_SECONDS))

    def first_time(self, key: str, item: str) -> bool:
        """Mark a case (CASES) or a referral (REDONE) taken up; True only for the first to ask."""
        return bool(self.redis.sadd(key, item))

    def not_taken(self, key: str, items: list[str]) -> list[str]:
        """Return the items (in their order) not yet marked taken up in `key`."""
        if not items:
            return []
        return [item for item, taken in zip(items, self.redis.smismember(key, items), strict=True) if not taken]

    def count(self, action: str) -> None:
        self.redis.hincrby(ACTIONS, action, 1)

    def actions(self) -> dict[str, int]:
        return {k: int(v) for k, v in sorted(self.redis.hgetall(ACTIONS).items())}


Api = Callable[..., "dict | list | None"]  # api(method, path, name, json=None) → the answer's JSON, or None when it failed


class Desk:
    """One visit to one organisation's desk, made through the API as its counsellor."""

    def __init__(
        self,
        board: DeskBoard,
        api: Api,
        org: str,
        tier: str,
        *,
        rng: random.Random,
        speed: float,
        simulated_epoch: Callable[[datetime], float],
        rates: DeskRates = DeskRates(),
    ) -> None:
        self.board, self.api, self.org, self.tier = board, api, org, tier
        self.rng, self.speed, self.epoch_of, self.rates = rng, speed, simulated_epoch, rates

    def visit(self, *, noticed: bool) -> None:
        more = False
        if noticed and self.tier != "national":  # referrals are made to prefecture and municipal windows
            more = self.work_inbox()
        if self.tier in SENDING_TIERS:
            self.work_outbox()
            if self.take_up_cases():
                self.board.come_back(self.org, time.time() + BACKLOG_HOURS * 3600 / self.speed)
        if more:
            self.board.notice(self.org, time.time() + THINK_HOURS * 3600 / self.speed)

    def work_inbox(self) -> bool:
        """Move each open referral one step; True when some still wait for a later one."""
        inbox = self.api("GET", INBOX_OPEN, "/api/referrals?box=inbox") or []
        waiting = False
        for referral in inbox:
            step = referral_step(referral["status"], self.tier, self.rng, self.rates)
            if step is None:
                continue
            if step.refer_on:
                if self.refer(referral["case_id"], share="consent" if referral["share"] == "consent" else "none", counted="referred_on"):
                    step = Step("closed", outcome="referred_on")
                else:
                    step = Step("contacted")  # nowhere to pass it on to: this window follows the person up itself
            answer = self.api("POST", f"/api/referrals/{referral['id']}/status", "/api/referrals/{id}/status", json=step.body())
            if answer is not None:
                self.board.count(answer["status"])
                waiting = waiting or answer["status"] in ("accepted", "contacted")
        return waiting

    def work_outbox(self) -> None:
        """Refer once more each case whose referral was declined or let expire."""
        for referral in self.api("GET", OUTBOX_RETURNED, "/api/referrals?box=outbox") or []:
            if self.board.first_time(REDONE, referral["id"]):
                self.refer(referral["case_id"], share="consent" if referral["share"] == "consent" else "none", counted="re-referred")

    def take_up_cases(self) -> bool:
        """Record the intake of the newest cases held here and refer some of them to the next tier; True when new ones are left."""
        cases = self.api("GET", "/api/cases", "/api/cases") or []
        new = self.board.not_taken(CASES, [c["id"] for c in cases if c["held_here"]])
        taken = 0
        for case_id in new:
            if taken >= NEW_CASES_PER_VISIT:
                return True
            if self.board.first_time(CASES, case_id):
                taken += 1
                self.take_up(case_id)
        return False

    def take_up(self, case_id: str) -> None:
        """Record one new case's intake and, at the rate of refer_new, refer it to the next tier."""
        if self.api("PATCH", f"/api/cases/{case_id}", "/api/cases/{id}", json=intake(self.rng)) is None:
            return
        self.board.count("intake")
        if self.rng.random() < self.rates.refer_new:
            share = "none"
            if self.rng.random() < self.rates.consent:
                consented = self.api(
                    "POST", f"/api/cases/{case_id}/consent", "/api/cases/{id}/consent", json={"contact": contact_number(self.rng)}
                )
                share = "consent" if consented is not None else "none"
            self.refer(case_id, share=share, counted="referred")

    def refer(self, case_id: str, *, share: str, counted: str) -> bool:
        """Refer a case to its first suggestion of the next tier and notice that window's desk; False when there is none."""
        suggestions = self.api("GET", f"/api/cases/{case_id}/suggestions", "/api/cases/{id}/suggestions")
        target = choose_target(suggestions or [], self.tier)
        if target is None:
            self.board.count("no-target")
            return False
        made = self.api(
            "POST",
            f"/api/cases/{case_id}/referrals",
            "/api/cases/{id}/referrals",
            json={"to_service": target["service_id"], "share": share},
        )
        if made is None:
            return False
        self.board.count(counted)
        opens = time.time() if target["open_now"] else self.epoch_of(datetime.fromisoformat(target["opens_at"]))
        self.board.notice(target["organization"], max(opens, time.time()))
        return True
