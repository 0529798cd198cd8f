"""The surge drill's counsellors (loadtests/surge_desks.py): every step they take is one the service allows,
and their shared board in Redis never gives one desk to two counsellors."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtests"))

from routing.cases_api import AGE_BANDS, RISK_LEVELS, ConsentIn  # noqa: E402
from routing.handoff import OUTCOMES, Status, check_move  # noqa: E402
from surge_desks import CASES, DeskBoard, DeskRates, choose_target, contact_number, intake, referral_step  # noqa: E402

TIERS = ("prefecture", "municipal")  # the tiers referrals are made to


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("status", [s.value for s in Status])
def test_every_step_a_counsellor_takes_is_a_move_the_service_accepts(status: str, tier: str) -> None:
    rng = random.Random(7)
    for _ in range(300):
        step = referral_step(status, tier, rng)
        if status in ("declined", "expired", "closed"):
            assert step is None
            continue
        assert step is not None
        if step.refer_on:
            assert (status, tier) == ("accepted", "prefecture"), "only an accepting prefecture window passes a case on"
            continue
        check_move(Status(status), Status(step.status), reason=step.reason, outcome=step.outcome)  # raises on a refused move
        if step.outcome is not None:
            assert step.outcome in OUTCOMES


def test_the_rates_are_followed() -> None:
    rng, rates = random.Random(3), DeskRates(accept=0.8, refer_on=0.5)
    answers = Counter(referral_step("proposed", "prefecture", rng, rates).status for _ in range(4000))  # type: ignore[union-attr]
    assert 0.77 < answers["accepted"] / 4000 < 0.83 and answers["declined"] == 4000 - answers["accepted"]
    onward = sum(referral_step("accepted", "prefecture", rng, rates).refer_on for _ in range(4000))  # type: ignore[union-attr]
    assert 0.47 < onward / 4000 < 0.53
    assert not any(referral_step("accepted", "municipal", rng, rates).refer_on for _ in range(500))  # type: ignore[union-attr]
    closings = Counter(referral_step("contacted", "municipal", rng, rates).outcome for _ in range(4000))  # type: ignore[union-attr]
    assert set(closings) == {"supported", "unreachable", "declined_by_person", "other"} and closings.most_common(1)[0][0] == "supported"


def test_a_case_goes_to_the_first_window_of_the_next_tier() -> None:
    suggestions = [
        {"service_id": "n2", "tier": "national", "open_now": True},
        {"service_id": "p1", "tier": "prefecture", "open_now": False, "opens_at": "2027-01-04T09:00:00+09:00"},
        {"service_id": "p2", "tier": "prefecture", "open_now": False},
    ]
    assert choose_target(suggestions, "national")["service_id"] == "p1"  # type: ignore[index]
    assert choose_target(suggestions, "prefecture") is None  # no municipal agency suggested
    assert choose_target(suggestions, "municipal") is None  # the end of the chain


def test_what_a_counsellor_enters_is_what_the_api_takes() -> None:
    rng = random.Random(5)
    for _ in range(200):
        entered = intake(rng)
        assert entered["age_band"] in AGE_BANDS and entered["risk_level"] in RISK_LEVELS
        assert ConsentIn(contact=contact_number(rng)).contact.startswith("+8190")


@pytest.fixture()
def board(redis_server_url: str):  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_server_url, decode_responses=True)
    client.flushdb()
    yield DeskBoard(client)
    client.close()


def test_a_notice_waits_for_its_time_and_the_earliest_wins(board: DeskBoard) -> None:
    board.reset([])
    board.notice("org-a", 1000.0)
    board.notice("org-a", 2000.0)  # a later notice does not push the first back
    board.notice("org-b", 500.0)
    assert board.take(now=400.0) is None
    assert board.take(now=600.0) == "org-b"
    assert board.take(now=1000.0) == "org-a"
    assert board.take(now=5000.0) is None  # each notice is taken once


def test_one_desk_is_never_worked_by_two_counsellors(board: DeskBoard) -> None:
    board.reset(["org-n", "org-p"])
    first, second = board.take(now=0.0), board.take(now=0.0)
    assert {first, second} == {"org-n", "org-p"}
    assert board.take(now=0.0) is None  # both desks taken: the rotation gives nothing
    board.notice("org-n", 0.0)
    assert board.take(now=1.0) is None  # noticed, but someone is at that desk: it comes back a moment later
    board.release("org-n")
    assert board.take(now=5.0) == "org-n"


def test_a_case_is_taken_up_once(board: DeskBoard) -> None:
    board.reset([])
    assert board.first_time(CASES, "ABCD-1234")
    assert not board.first_time(CASES, "ABCD-1234")
    board.count("intake")
    board.count("intake")
    assert board.actions() == {"intake": 2}
