"""Reach in the handoff (loadtests/surge/handoff_reach.py): what became of the referrals a surge run made, hop by hop and
end to end, counted from hand-made referral rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from loadtests.surge.gates import Concurrency
from loadtests.surge.handoff_reach import HopReach, ReferralRow, handoff_reach, handoff_text
from loadtests.surge.report import Summary
from loadtests.surge.shapes import JST

MADE = datetime(2027, 5, 11, 10, 0, tzinfo=JST)  # a Tuesday morning of the May drill
DUE = MADE + timedelta(hours=8)  # eight opening hours later, the same evening
READ = MADE + timedelta(days=1)  # when the drill read the rows
SECOND = timedelta(seconds=1)


def make_row(
    case_id: str,
    status: str,
    *,
    hop: str = "national→prefecture",
    kind: str = "refer",
    made: datetime = MADE,
    deadline: datetime | None = DUE,
    accepted: datetime | None = None,
    contacted: datetime | None = None,
) -> ReferralRow:
    """One referral row; an accepted or later status gets an acceptance an hour after it was made unless one is given."""
    sending, receiving = hop.split("→")
    if accepted is None and (status in ("accepted", "contacted", "closed") or contacted is not None):
        accepted = made + timedelta(hours=1)
    return ReferralRow(case_id, kind, sending, receiving, status, made, deadline, accepted, contacted)


def hop(reach, name: str) -> HopReach:
    return next(h for h in reach.hops if f"{h.sending}→{h.receiving}" == name)


def outcomes_add_up(h: HopReach) -> bool:
    return h.contacted_in_time + h.contacted_late + h.closed_uncontacted + h.declined + h.expired + h.open == h.referred


def test_a_contact_at_the_deadline_is_in_time_and_a_second_later_is_late() -> None:
    rows = [
        make_row("AAAA-0001", "contacted", contacted=DUE),
        make_row("AAAA-0002", "closed", contacted=DUE + SECOND),
        make_row("AAAA-0003", "closed", contacted=DUE - SECOND),
    ]
    first = hop(handoff_reach(rows, READ), "national→prefecture")
    assert (first.contacted_in_time, first.contacted_late) == (2, 1)
    assert (first.people_contacted, first.people_contacted_in_time) == (3, 2)


def test_a_person_referred_again_after_a_decline_is_one_person() -> None:
    rows = [
        make_row("BBBB-0001", "declined"),
        make_row("BBBB-0001", "closed", made=MADE + timedelta(hours=3), deadline=DUE + timedelta(hours=3), contacted=DUE + SECOND),
        make_row("BBBB-0002", "expired"),
        make_row("BBBB-0002", "proposed", made=READ - timedelta(hours=1), deadline=READ + timedelta(hours=7)),
    ]
    reach = handoff_reach(rows, READ)
    assert hop(reach, "national→prefecture") == HopReach(
        sending="national",
        receiving="prefecture",
        referred=4,
        people=2,
        accepted=1,
        contacted_in_time=1,  # late for the first referral's deadline, in time for the second's: each counts its own
        contacted_late=0,
        closed_uncontacted=0,
        declined=1,
        expired=1,
        open=1,
        open_in_time=1,
        people_contacted=1,
        people_contacted_in_time=1,
    )
    assert reach.from_national == 2


def test_an_open_referral_is_within_its_deadline_only_while_the_deadline_is_ahead() -> None:
    rows = [
        make_row("CCCC-0001", "proposed", deadline=READ + SECOND),
        make_row("CCCC-0002", "accepted", deadline=READ),  # the sweeper expires a proposed one at this instant
        make_row("CCCC-0003", "proposed", deadline=READ - SECOND),  # overdue, not yet swept
        make_row("CCCC-0004", "accepted", deadline=None),
    ]
    first = hop(handoff_reach(rows, READ), "national→prefecture")
    assert (first.open, first.open_in_time, first.accepted) == (4, 2, 2)


def test_people_are_followed_from_the_national_window_to_a_contact_at_a_municipal_agency() -> None:
    rows = [
        # Referred on and contacted at the municipal agency within its deadline.
        make_row("DDDD-0001", "closed"),
        make_row("DDDD-0001", "closed", hop="prefecture→municipal", contacted=DUE - SECOND),
        # Referred on, declined by one agency, then contacted late by another: one person, contacted, not in time.
        make_row("DDDD-0002", "closed"),
        make_row("DDDD-0002", "declined", hop="prefecture→municipal"),
        make_row("DDDD-0002", "contacted", hop="prefecture→municipal", contacted=DUE + timedelta(hours=1)),
        # Referred on, still waiting for the agency to open.
        make_row("DDDD-0003", "closed"),
        make_row("DDDD-0003", "proposed", hop="prefecture→municipal", deadline=READ + timedelta(days=2)),
        # Contacted at the prefecture window, which follows the person up itself.
        make_row("DDDD-0004", "closed", contacted=MADE + timedelta(hours=2)),
        # A case the prefecture window answered itself: the second hop only, not followed from national.
        make_row("DDDD-0005", "closed", hop="prefecture→municipal", contacted=DUE - SECOND),
        # Not counted: a live transfer, and a hop outside the chain.
        make_row("DDDD-0006", "expired", kind="transfer"),
        make_row("DDDD-0007", "proposed", hop="national→municipal"),
    ]
    reach = handoff_reach(rows, READ)
    first, second = hop(reach, "national→prefecture"), hop(reach, "prefecture→municipal")
    assert (first.referred, first.people, first.accepted, first.closed_uncontacted, first.contacted_in_time) == (4, 4, 4, 3, 1)
    assert second == HopReach(
        sending="prefecture",
        receiving="municipal",
        referred=5,
        people=4,
        accepted=3,
        contacted_in_time=2,
        contacted_late=1,
        closed_uncontacted=0,
        declined=1,
        expired=0,
        open=1,
        open_in_time=1,
        people_contacted=3,
        people_contacted_in_time=2,
    )
    assert (reach.from_national, reach.on_to_municipal, reach.contacted_at_municipal, reach.contacted_at_municipal_in_time) == (4, 3, 2, 1)
    assert reach.not_counted == 2
    assert outcomes_add_up(first) and outcomes_add_up(second)


def test_a_run_with_no_referral_shows_both_hops_empty() -> None:
    reach = handoff_reach([], READ)
    shown = [(h.sending, h.receiving, h.referred, h.open) for h in reach.hops]
    assert shown == [("national", "prefecture", 0, 0), ("prefecture", "municipal", 0, 0)]
    assert reach.to_json()["end_to_end"] == {
        "people_referred_from_national": 0,
        "referred_on_to_municipal": 0,
        "contacted_at_municipal": 0,
        "contacted_at_municipal_within_deadline": 0,
    }


def test_the_summary_shows_the_reach_as_text_and_json() -> None:
    rows = [
        make_row("EEEE-0001", "closed"),
        make_row("EEEE-0001", "closed", hop="prefecture→municipal", contacted=DUE),
        make_row("EEEE-0002", "declined"),
        make_row("EEEE-0002", "proposed", deadline=READ + SECOND),
    ]
    reach = handoff_reach(rows, READ)
    assert handoff_text(reach) == [
        "Reach in the handoff (referrals for follow-up; open ones as of 2027-05-12 10:00 JST, when read)",
        "  national → prefecture: referred 3 (2 people), accepted 1",
        "    contacted within the deadline 0, late 0; closed without a contact 1; declined 1, expired 0; "
        "still open 1 (1 within the deadline)",
        "  prefecture → municipal: referred 1 (1 people), accepted 1",
        "    contacted within the deadline 1, late 0; closed without a contact 0; declined 0, expired 0; "
        "still open 0 (0 within the deadline)",
        "  end to end: 2 people referred from national, 1 referred on to a municipal agency, 1 contacted there (1 within the deadline)",
    ]
    summary = replace(empty_summary(), reach=reach)
    assert "\n".join(handoff_text(reach)) in summary.text()
    shown = summary.to_json()["handoff_reach"]
    assert shown["as_of"] == "2027-05-12T10:00:00+09:00"
    assert shown["hops"]["prefecture → municipal"]["contacted_in_time"] == 1
    assert shown["hops"]["national → prefecture"]["people"] == 2 and shown["not_counted"] == 0
    assert shown["end_to_end"]["contacted_at_municipal_within_deadline"] == 1
    assert empty_summary().to_json()["handoff_reach"] is None and "Reach in the handoff" not in empty_summary().text()


def empty_summary() -> Summary:
    """A summary of a run that measured nothing (only its run facts), to see where the reach goes."""
    run = {"shape": "may", "window_start": "", "window_end": "", "real_seconds": 1, "speed": 1.0, "peak": 1.0, "workers": 1}
    run |= {"locust_processes": 1, "talk_mean": 1.0, "time_scale": 1.0}
    return Summary(
        run=run,
        rates=[],
        days={},
        late_starts=(0, 0.0),
        world_outcomes={},
        recorded_outcomes={},
        metric_outcomes={},
        callback_legs={},
        callback_requests={},
        referrals={},
        desk_actions={},
        latency=[],
        server_p99={},
        peak_queue=0,
        concurrency=Concurrency(by_service={}, unknown_numbers={}, unfinished=0),
        sampled_held={},
        capacities={},
        names={},
        tiers={},
        held_after_drain={},
        clock_skew_minutes=None,
        gates=[],
    )
