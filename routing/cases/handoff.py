"""The handoff chain national → prefecture → municipal: the referral state machine and its deadline.

Pure decisions, no I/O: the API layer loads a referral, asks here whether a step is allowed and
when a referral falls due, and stores the answer.

A referral is `proposed` → `accepted` | `declined` (with a reason) | `expired` (no answer within
its deadline) → `contacted` → `closed` (with an outcome). An accepted referral may also be
closed without contact (the person could not be reached). The deadline to accept counts only
the receiving window's opening hours: a referral made on Dec 30 to a window shut for 年末年始
falls due some hours after that window opens on Jan 4, not during the holiday.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date, datetime, timedelta
from enum import StrEnum

from referral_directory.hours import Hours, is_open_at, next_opening, open_until

NEXT_TIER = {"national": "prefecture", "prefecture": "municipal"}  # the trial's chain, hop by hop
MAX_WINDOWS = 400  # a deadline is found within this many opening windows, or never


class Status(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CONTACTED = "contacted"
    CLOSED = "closed"


MOVES: dict[Status, frozenset[Status]] = {
    Status.PROPOSED: frozenset({Status.ACCEPTED, Status.DECLINED, Status.EXPIRED}),
    Status.ACCEPTED: frozenset({Status.CONTACTED, Status.CLOSED}),
    Status.CONTACTED: frozenset({Status.CLOSED}),
    Status.DECLINED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CLOSED: frozenset(),
}
OPEN = frozenset({Status.PROPOSED, Status.ACCEPTED, Status.CONTACTED})  # the receiving side still has work to do
WORKING = frozenset({Status.ACCEPTED, Status.CONTACTED})  # a receiver working the case, who may pass it on
LIVE_FOR_RECEIVER = frozenset({Status.PROPOSED, Status.ACCEPTED, Status.CONTACTED, Status.CLOSED})  # declined or expired: access ends
OUTCOMES = ("supported", "referred_on", "unreachable", "declined_by_person", "other")  # how a referral closes


class HandoffError(ValueError):
    """A step the referral's state does not allow; the message says why, in words a counsellor can act on."""


def check_move(current: Status, target: Status, *, reason: str | None = None, outcome: str | None = None) -> None:
    """Raise HandoffError unless a referral in `current` may move to `target` with what was given."""
    if target not in MOVES[current]:
        allowed = ", ".join(sorted(MOVES[current])) or "nothing: it is finished"
        raise HandoffError(f"a {current.value} referral cannot become {target.value}; from {current.value} it can become {allowed}")
    if target is Status.DECLINED and not (reason and reason.strip()):
        raise HandoffError("declining a referral needs a reason, so that the sender can find the person another window")
    if target is Status.CLOSED and not (outcome and outcome.strip()):
        raise HandoffError("closing a referral needs its outcome")


def next_tier(tier: str) -> str | None:
    """Return the tier a case is passed on to from `tier` (None at the end of the chain)."""
    return NEXT_TIER.get(tier)


def accept_deadline(hours: Hours, holidays: Container[date], made_at: datetime, open_time: timedelta) -> datetime | None:
    """Return when a referral made at `made_at` falls due: after `open_time` of the receiving window's opening hours.

    None when the window does not open at all within its horizon (the sender must choose another).
    """
    if open_time <= timedelta(0):
        raise ValueError("the time to accept must be positive")
    left, at = open_time, made_at
    for _ in range(MAX_WINDOWS):
        if not is_open_at(hours, at, holidays):
            opening = next_opening(hours, at, holidays)
            if opening is None:
                return None
            at = opening
        closes = open_until(hours, at, holidays)
        if closes is None or closes - at >= left:  # a 24-hour line, or the time runs out inside this window
            return at + left
        left -= closes - at
        at = closes
    return None
