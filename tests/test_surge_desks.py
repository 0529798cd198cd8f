"""The surge drill's counsellors (loadtests/surge/desks.py): every step they take is one the service allows,
and their shared board in Redis never gives one desk to two counsellors."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from builders import make_phone, make_records, make_schedule, make_service
from running import make_settings, running_app

from loadtests.surge.collect import referral_rows
from loadtests.surge.desks import (
    BACKLOG_HOURS,
    CASES,
    DECLINE_REASONS,
    NEW_CASES_PER_VISIT,
    Desk,
    DeskBoard,
    DeskRates,
    choose_target,
    contact_number,
    intake,
    referral_step,
)
from loadtests.surge.handoff_reach import handoff_reach
from referral_directory.records import NATION, WEEKDAYS, derived_id
from routing.cases.handoff import OUTCOMES, Status, check_move
from routing.cases.schemas import AGE_BANDS, RISK_LEVELS, ConsentIn

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
    answers = Counter(referral_step("proposed", "prefecture", rng, rates).status for _ in range(4000))
    assert 0.77 < answers["accepted"] / 4000 < 0.83 and answers["declined"] == 4000 - answers["accepted"]
    onward = sum(referral_step("accepted", "prefecture", rng, rates).refer_on for _ in range(4000))
    assert 0.47 < onward / 4000 < 0.53
    assert not any(referral_step("accepted", "municipal", rng, rates).refer_on for _ in range(500))
    closings = Counter(referral_step("contacted", "municipal", rng, rates).outcome for _ in range(4000))
    assert set(closings) == {"supported", "unreachable", "declined_by_person", "other"} and closings.most_common(1)[0][0] == "supported"


def test_a_case_goes_to_the_first_window_of_the_next_tier() -> None:
    suggestions = [
        {"service_id": "n2", "tier": "national", "open_now": True},
        {"service_id": "p1", "tier": "prefecture", "open_now": False, "opens_at": "2027-01-04T09:00:00+09:00"},
        {"service_id": "p2", "tier": "prefecture", "open_now": False},
    ]
    assert choose_target(suggestions, "national")["service_id"] == "p1"
    assert choose_target(suggestions, "prefecture") is None  # no municipal agency suggested
    assert choose_target(suggestions, "municipal") is None  # the end of the chain


def test_what_a_counsellor_enters_is_what_the_api_takes() -> None:
    rng = random.Random(5)
    for _ in range(200):
        entered = intake(rng)
        assert entered["age_band"] in AGE_BANDS and entered["risk_level"] in RISK_LEVELS
        assert ConsentIn(contact=contact_number(rng)).contact.startswith("+8190")


@pytest.fixture()
def board(redis_server_url: str):
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
    assert board.take(now=600.0) == ("org-b", True)
    assert board.take(now=1000.0) == ("org-a", True)
    assert board.take(now=5000.0) is None  # each notice is taken once


def test_referrals_come_first_then_desks_with_new_cases_left_then_the_rotation(board: DeskBoard) -> None:
    board.reset(["org-r"])
    board.come_back("org-n", 100.0)
    board.notice("org-p", 200.0)
    assert board.take(now=50.0) == ("org-r", False)  # nothing due yet: the rotation
    board.release("org-r")
    assert board.take(now=300.0) == ("org-p", True)  # referrals to answer first, though noticed later
    assert board.take(now=300.0) == ("org-n", False)  # then the new cases left: not noticed, the inbox waits
    assert board.take(now=300.0) == ("org-r", False)
    board.come_back("org-r", 300.0)  # someone is at that desk: it comes back a moment later
    assert board.take(now=300.0) is None
    board.release("org-r")
    assert board.take(now=301.0) == ("org-r", False)


def test_one_desk_is_never_worked_by_two_counsellors(board: DeskBoard) -> None:
    board.reset(["org-n", "org-p"])
    first, second = board.take(now=0.0), board.take(now=0.0)
    assert {first, second} == {("org-n", False), ("org-p", False)}  # from the rotation: not noticed
    assert board.take(now=0.0) is None  # both desks taken: the rotation gives nothing
    board.notice("org-n", 0.0)
    assert board.take(now=1.0) is None  # noticed, but someone is at that desk: it comes back a moment later
    board.release("org-n")
    assert board.take(now=5.0) == ("org-n", True)


def test_a_case_is_taken_up_once(board: DeskBoard) -> None:
    board.reset([])
    assert board.first_time(CASES, "ABCD-1234")
    assert not board.first_time(CASES, "ABCD-1234")
    board.count("intake")
    board.count("intake")
    assert board.actions() == {"intake": 2}


# --- the desks at work, against the real service (in-process app, real SQL and Redis) ---------

NATIONAL_ORG, TOKYO_ORG, TOKYO_CITY_ORG, CHIYODA_ORG = (
    derived_id("org", n) for n in ("d-national", "d-tokyo", "d-tokyo-city", "d-chiyoda")
)
TIER_OF = {NATIONAL_ORG: "national", TOKYO_ORG: "prefecture", TOKYO_CITY_ORG: "prefecture", CHIYODA_ORG: "municipal"}


def _window(name: str, tier: str, area: str, org: str, number: str):
    sid = derived_id("desk", name)
    return make_service(
        id=sid,
        name=name,
        tier=tier,
        areas=(area,),
        topics=("general",),
        capacity=(("voice", 2),),
        holidays="open",
        organization_id=org,
        phones=(make_phone(id=derived_id(sid, "phone"), number=number),),
        schedules=(make_schedule(id=derived_id(sid, "hours"), byday=WEEKDAYS, opens_at="00:00", closes_at="24:00"),),
    )


DESK_DIRECTORY = make_records(
    _window("全国 総合窓口", "national", NATION, NATIONAL_ORG, "+81355550101"),
    _window("東京都 総合相談窓口", "prefecture", "130001", TOKYO_ORG, "+81355550201"),
    _window("東京都 第二相談窓口", "prefecture", "130001", TOKYO_CITY_ORG, "+81355550202"),
    _window("千代田区 生活支援窓口", "municipal", "131016", CHIYODA_ORG, "+81355550301"),
)


@pytest.fixture
async def desks(tmp_path: Path, redis_url: str, redis_server_url: str, regions):
    settings = make_settings(tmp_path, redis_url, clock="2026-12-01T10:00:00+09:00", clock_speed=0)
    async with running_app(settings, regions) as running:
        await running.store(DESK_DIRECTORY)
        tokens = {org: await running.token(f"desk-{org}", role="counsellor", org=org) for org in TIER_OF}
        client = redis.Redis.from_url(redis_server_url, decode_responses=True)
        client.flushdb()
        board = DeskBoard(client)
        board.reset([NATIONAL_ORG, TOKYO_ORG, TOKYO_CITY_ORG])
        loop = asyncio.get_running_loop()

        async def visit(org: str, rates: DeskRates, noticed: bool = True) -> None:
            """One counsellor's visit to the desk, made in a thread as Locust makes it, through the app's HTTP API."""

            def api(method: str, path: str, name: str, json: dict | None = None):
                asked = running.client.request(method, path, headers=tokens[org], json=json)
                answer = asyncio.run_coroutine_threadsafe(asked, loop).result(30)
                assert answer.status_code in (200, 201), f"{method} {path}: HTTP {answer.status_code} {answer.text}"
                return answer.json()

            desk = Desk(
                board, api, org, TIER_OF[org], rng=random.Random(1), speed=1.0, simulated_epoch=lambda at: at.timestamp(), rates=rates
            )
            await asyncio.to_thread(desk.visit, noticed=noticed)

        async def box(org: str, which: str) -> list[dict]:
            answer = await running.client.get(f"/api/referrals?box={which}", headers=tokens[org])
            assert answer.status_code == 200, answer.text
            return answer.json()

        async def open_case() -> str:
            answer = await running.client.post("/api/cases", headers=tokens[NATIONAL_ORG], json={"topic": "general", "lgcode": "131016"})
            assert answer.status_code == 201, answer.text
            return answer.json()["id"]

        yield SimpleNamespace(running=running, board=board, visit=visit, box=box, open_case=open_case, tokens=tokens)
        client.close()


async def test_desks_walk_cases_along_the_chain_national_prefecture_municipal(desks) -> None:
    always = DeskRates(accept=1.0, refer_on=1.0, refer_new=1.0, consent=1.0)
    cases = [await desks.open_case() for _ in range(3)]
    await desks.visit(NATIONAL_ORG, always)
    sent = await desks.box(NATIONAL_ORG, "outbox")
    assert len(sent) == NEW_CASES_PER_VISIT == 2 and {r["case_id"] for r in sent} < set(cases)
    assert {(r["status"], r["to_tier"], r["share"]) for r in sent} == {("proposed", "prefecture", "consent")}
    case = await desks.running.client.get(f"/api/cases/{sent[0]['case_id']}", headers=desks.tokens[NATIONAL_ORG])
    assert case.json()["consent"] and case.json()["age_band"] in AGE_BANDS
    await desks.visit(NATIONAL_ORG, always)  # the third case, on the next visit
    assert len(await desks.box(NATIONAL_ORG, "outbox")) == 3

    receiver = sent[0]["to_org"]
    assert desks.board.take() == (receiver, True)  # the receiving window's desk was noticed (it is open now)
    desks.board.release(receiver)
    await desks.visit(receiver, always, noticed=False)  # from the rotation (its window may be shut): only its own cases
    assert {r["status"] for r in await desks.box(receiver, "inbox")} == {"proposed"}
    await desks.visit(receiver, always)
    assert {r["status"] for r in await desks.box(receiver, "inbox")} == {"accepted"}
    await desks.visit(receiver, always)  # accepted: passed on to the municipal agency, closed as referred on
    inbox = await desks.box(receiver, "inbox")
    assert {(r["status"], r["outcome"]) for r in inbox} == {("closed", "referred_on")}
    onward = await desks.box(CHIYODA_ORG, "inbox")
    assert len(onward) == len(inbox) and {(r["from_org"], r["hop"], r["share"]) for r in onward} == {(receiver, 2, "consent")}

    for expected in ("accepted", "contacted", "closed"):
        await desks.visit(CHIYODA_ORG, always)
        assert {r["status"] for r in await desks.box(CHIYODA_ORG, "inbox")} == {expected}
    assert {r["outcome"] for r in await desks.box(CHIYODA_ORG, "inbox")} <= set(OUTCOMES) - {"referred_on"}
    assert desks.board.actions()["referred"] == 3

    # The reach in the handoff, read from the service's database as the drill reads it (the clock stands still here).
    reach = handoff_reach(referral_rows(str(desks.running.settings.var_dir / "tsunagu.db")), datetime.now(UTC))
    first, second = reach.hops
    assert (first.referred, first.people, first.accepted, first.closed_uncontacted, first.contacted_in_time) == (3, 3, 3, 3, 0)
    assert (second.referred, second.accepted, second.contacted_in_time, second.contacted_late, second.open) == (3, 3, 3, 0, 0)
    assert (reach.from_national, reach.on_to_municipal, reach.contacted_at_municipal_in_time, reach.not_counted) == (3, 3, 3, 0)


async def test_a_desk_that_left_new_cases_comes_back_to_them(desks) -> None:
    for _ in range(NEW_CASES_PER_VISIT + 1):
        await desks.open_case()
    await desks.visit(NATIONAL_ORG, DeskRates(refer_new=0.0), noticed=False)
    assert desks.board.actions() == {"intake": NEW_CASES_PER_VISIT}
    back = time.time() + BACKLOG_HOURS * 3600  # the fixture's desks run at speed 1.0: real hours
    assert desks.board.take(now=back - 60) == (NATIONAL_ORG, False)  # the rotation's first
    desks.board.release(NATIONAL_ORG)
    assert desks.board.take(now=back - 60) == (TOKYO_ORG, False)  # not due yet: the rotation goes on
    desks.board.release(TOKYO_ORG)
    assert desks.board.take(now=back + 1) == (NATIONAL_ORG, False)  # due: before the rotation's next
    desks.board.release(NATIONAL_ORG)
    await desks.visit(NATIONAL_ORG, DeskRates(refer_new=0.0), noticed=False)
    assert desks.board.actions() == {"intake": NEW_CASES_PER_VISIT + 1}
    assert desks.board.take(now=back + 2) == (TOKYO_CITY_ORG, False)  # nothing left: it does not come back again


async def test_a_declined_referral_is_made_again_to_the_next_window(desks) -> None:
    case_id = await desks.open_case()
    await desks.visit(NATIONAL_ORG, DeskRates(refer_new=1.0, consent=0.0))
    [first] = await desks.box(NATIONAL_ORG, "outbox")
    assert first["share"] == "none"
    await desks.visit(first["to_org"], DeskRates(accept=0.0))
    [declined] = await desks.box(first["to_org"], "inbox")
    assert declined["status"] == "declined" and declined["reason"] in DECLINE_REASONS
    await desks.visit(NATIONAL_ORG, DeskRates(refer_new=0.0))
    sent = await desks.box(NATIONAL_ORG, "outbox")
    again = [r for r in sent if r["id"] != first["id"]]
    assert len(again) == 1 and again[0]["case_id"] == case_id and again[0]["status"] == "proposed"
    assert {again[0]["to_org"], first["to_org"]} == {TOKYO_ORG, TOKYO_CITY_ORG}  # not back to the window that declined
    await desks.visit(NATIONAL_ORG, DeskRates(refer_new=0.0))
    assert len(await desks.box(NATIONAL_ORG, "outbox")) == 2  # made again once, not on every visit
