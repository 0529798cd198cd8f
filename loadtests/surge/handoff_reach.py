"""Reach in the handoff: how far the people a surge run referred national → prefecture → municipal got. Pure.

The service keeps one row per referral (routing/cases/models.py); the drill reads them after the
run (collect.referral_rows) and this module counts, hop by hop, what became of them at the
receiving side: accepted, contacted within the deadline or after it, closed without a contact
(passed on, or the person could not be reached), declined, expired, or still waiting for a
contact when the rows were read. The deadline is the one the service set when the referral was
made (`deadline_at`, counted in the receiving window's opening hours): a contact at that instant
is in time, one a second later is late. An open referral is "within its deadline" only while the
deadline is still ahead, since the service's sweeper expires a proposed one once it is reached.

Only referrals for follow-up count: a live transfer's deadline is the two minutes the next window
has to pick up the call, another measure. A person referred again after a decline or an expiry
has two referrals on the same hop, and is still one person: people are counted by case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from loadtests.surge.shapes import JST

CHAIN: tuple[tuple[str, str], ...] = (("national", "prefecture"), ("prefecture", "municipal"))  # the trial's hops, in order
WAITING = ("proposed", "accepted")  # the receiving side has not contacted the person yet


@dataclass(frozen=True)
class ReferralRow:
    """One referral as the drill reads it from the service's database."""

    case_id: str
    kind: str  # refer (for follow-up) or transfer (the live call)
    from_tier: str
    to_tier: str
    status: str
    created_at: datetime
    deadline_at: datetime | None
    accepted_at: datetime | None
    contacted_at: datetime | None

    @property
    def in_time(self) -> bool:
        """Whether the person was contacted at or before the deadline (a referral made without one has none to miss)."""
        return self.contacted_at is not None and (self.deadline_at is None or self.contacted_at <= self.deadline_at)


@dataclass(frozen=True)
class HopReach:
    """What became of the referrals of one hop. The outcomes from `contacted_in_time` to `open` add up to `referred`."""

    sending: str
    receiving: str
    referred: int
    people: int  # cases referred on this hop, however many times
    accepted: int
    contacted_in_time: int
    contacted_late: int
    closed_uncontacted: int  # closed without a contact here: passed on to the next tier, or the person was not reached
    declined: int
    expired: int
    open: int  # proposed or accepted, no contact yet, when the rows were read
    open_in_time: int  # of those, the ones whose deadline was still ahead
    people_contacted: int
    people_contacted_in_time: int


@dataclass(frozen=True)
class HandoffReach:
    """Every hop of the chain, and the people followed from the national window to a contact at a municipal agency."""

    as_of: datetime  # the service's clock when the rows were read
    hops: tuple[HopReach, ...]
    from_national: int  # people referred national → prefecture
    on_to_municipal: int  # of them, people referred on prefecture → municipal
    contacted_at_municipal: int  # of them, people a municipal agency contacted
    contacted_at_municipal_in_time: int
    not_counted: int  # live transfers and referrals outside the chain's hops

    def to_json(self) -> dict:
        return {
            "as_of": self.as_of.astimezone(JST).isoformat(),
            "hops": {f"{h.sending} → {h.receiving}": _counts(h) for h in self.hops},
            "end_to_end": {
                "people_referred_from_national": self.from_national,
                "referred_on_to_municipal": self.on_to_municipal,
                "contacted_at_municipal": self.contacted_at_municipal,
                "contacted_at_municipal_within_deadline": self.contacted_at_municipal_in_time,
            },
            "not_counted": self.not_counted,
        }


def _counts(hop: HopReach) -> dict[str, int]:
    return {k: v for k, v in asdict(hop).items() if k not in ("sending", "receiving")}


def hop_reach(sending: str, receiving: str, rows: Sequence[ReferralRow], as_of: datetime) -> HopReach:
    """Return what became of one hop's referrals (all of `rows` are of that hop) by the instant `as_of`."""
    contacted = [r for r in rows if r.contacted_at is not None]
    waiting = [r for r in rows if r.contacted_at is None and r.status in WAITING]
    return HopReach(
        sending=sending,
        receiving=receiving,
        referred=len(rows),
        people=len({r.case_id for r in rows}),
        accepted=sum(1 for r in rows if r.accepted_at is not None),
        contacted_in_time=sum(1 for r in contacted if r.in_time),
        contacted_late=sum(1 for r in contacted if not r.in_time),
        closed_uncontacted=sum(1 for r in rows if r.contacted_at is None and r.status == "closed"),
        declined=sum(1 for r in rows if r.status == "declined"),
        expired=sum(1 for r in rows if r.status == "expired"),
        open=len(waiting),
        open_in_time=sum(1 for r in waiting if r.deadline_at is None or r.deadline_at > as_of),
        people_contacted=len({r.case_id for r in contacted}),
        people_contacted_in_time=len({r.case_id for r in contacted if r.in_time}),
    )


def handoff_reach(rows: Iterable[ReferralRow], as_of: datetime) -> HandoffReach:
    """Return the reach of every hop of the chain, and end to end, from the run's referral rows read at `as_of`."""
    every = list(rows)
    by_hop = {hop: [r for r in every if r.kind == "refer" and (r.from_tier, r.to_tier) == hop] for hop in CHAIN}
    first, last = by_hop[CHAIN[0]], by_hop[CHAIN[-1]]
    from_national = {r.case_id for r in first}
    onward = [r for r in last if r.case_id in from_national]
    return HandoffReach(
        as_of=as_of,
        hops=tuple(hop_reach(sending, receiving, by_hop[(sending, receiving)], as_of) for sending, receiving in CHAIN),
        from_national=len(from_national),
        on_to_municipal=len({r.case_id for r in onward}),
        contacted_at_municipal=len({r.case_id for r in onward if r.contacted_at is not None}),
        contacted_at_municipal_in_time=len({r.case_id for r in onward if r.in_time}),
        not_counted=len(every) - sum(len(hop) for hop in by_hop.values()),
    )


def handoff_text(reach: HandoffReach) -> list[str]:
    """Return the summary's lines on the reach in the handoff."""
    lines = [f"Reach in the handoff (referrals for follow-up; open ones as of {reach.as_of.astimezone(JST):%Y-%m-%d %H:%M} JST, when read)"]
    for h in reach.hops:
        lines += [
            f"  {h.sending} → {h.receiving}: referred {h.referred} ({h.people} people), accepted {h.accepted}",
            f"    contacted within the deadline {h.contacted_in_time}, late {h.contacted_late}; "
            f"closed without a contact {h.closed_uncontacted}; declined {h.declined}, expired {h.expired}; "
            f"still open {h.open} ({h.open_in_time} within the deadline)",
        ]
    lines.append(
        f"  end to end: {reach.from_national} people referred from national, {reach.on_to_municipal} referred on to a municipal agency, "
        f"{reach.contacted_at_municipal} contacted there ({reach.contacted_at_municipal_in_time} within the deadline)"
    )
    if reach.not_counted:
        lines.append(f"  not counted: {reach.not_counted} live transfers or referrals outside the chain")
    return lines
