"""Cases walked along the chain national → prefecture → municipal through the API, with and without consent."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from builders import make_organization, make_phone, make_records, make_schedule, make_service
from running import Running, make_settings, running_app
from sqlalchemy import select

from referral_directory.records import NATION, WEEKDAYS, derived_id
from referral_directory.staff.audit import AuditEvent
from referral_directory.storage import db
from routing.cases.models import Referral, SafetyException
from routing.cases.rules import sweep_referrals
from routing.cases.service import case_list_query
from routing.clock import Clock

TUESDAY_10 = "2026-12-01T10:00:00+09:00"
NATIONAL_ORG, TOKYO_ORG, CHIYODA_ORG, OSAKA_ORG = (derived_id("org", n) for n in ("national", "tokyo", "chiyoda", "osaka"))
CANARY_NOTE = "カナリア・メモ 9F3K"
CANARY_PHONE = "090-8765-4321"


def window(name: str, tier: str, area: str, org: str, number: str, hours=None, closed=()):
    sid = derived_id("case", name)
    hours = hours or dict(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00")
    closures = tuple(
        make_schedule(
            id=derived_id(sid, "closed", str(start)), kind="closed", byday=(), opens_at=None, closes_at=None, valid_from=start, valid_to=end
        )
        for start, end in closed
    )
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
        schedules=(make_schedule(id=derived_id(sid, "hours"), **hours), *closures),
    )


NATIONAL = window("全国 総合窓口", "national", NATION, NATIONAL_ORG, "+81355550101")
TOKYO = window(
    "東京都 総合相談窓口", "prefecture", "130001", TOKYO_ORG, "+81355550201", dict(byday=WEEKDAYS[:5], opens_at="09:00", closes_at="17:00")
)
CHIYODA = window("千代田区 生活支援窓口", "municipal", "131016", CHIYODA_ORG, "+81355550301")
OSAKA = window("大阪府 総合相談窓口", "prefecture", "270008", OSAKA_ORG, "+81665550201")
DIRECTORY = make_records(
    NATIONAL,
    TOKYO,
    CHIYODA,
    OSAKA,
    organizations=tuple(
        make_organization(id=org, name=name)
        for org, name in ((NATIONAL_ORG, "全国窓口"), (TOKYO_ORG, "東京都"), (CHIYODA_ORG, "千代田区"), (OSAKA_ORG, "大阪府"))
    ),
)


@pytest.fixture
async def chain(tmp_path: Path, redis_url: str, regions):
    settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0)
    async with running_app(settings, regions) as running:
        await running.store(DIRECTORY)
        running.staff = {
            name: await running.token(f"{name}の相談員", role="counsellor", org=org)
            for name, org in (("national", NATIONAL_ORG), ("tokyo", TOKYO_ORG), ("chiyoda", CHIYODA_ORG), ("osaka", OSAKA_ORG))
        }
        yield running


async def as_(running: Running, who: str, method: str, path: str, **kwargs):
    return await running.client.request(method, path, headers=running.staff[who], **kwargs)


async def open_case(running: Running) -> str:
    response = await as_(running, "national", "POST", "/api/cases", json={"topic": "general", "lgcode": "131016"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def refer(running: Running, who: str, case_id: str, to, share: str = "none", **extra) -> dict:
    response = await as_(running, who, "POST", f"/api/cases/{case_id}/referrals", json={"to_service": to.id, "share": share, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def answer(running: Running, who: str, referral: dict, status: str, **extra) -> dict:
    response = await as_(running, who, "POST", f"/api/referrals/{referral['id']}/status", json={"status": status, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def view(running: Running, who: str, case_id: str) -> dict:
    response = await as_(running, who, "GET", f"/api/cases/{case_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_with_consent_the_case_and_its_notes_travel_the_whole_chain(chain: Running) -> None:
    case_id = await open_case(chain)
    await as_(chain, "national", "PATCH", f"/api/cases/{case_id}", json={"risk_level": "medium", "age_band": "30-49"})
    await as_(chain, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
    consent = await as_(chain, "national", "POST", f"/api/cases/{case_id}/consent", json={"contact": CANARY_PHONE})
    assert consent.status_code == 200

    suggested = (await as_(chain, "national", "GET", f"/api/cases/{case_id}/suggestions")).json()
    assert [s["service_id"] for s in suggested][:1] == [TOKYO.id]  # the next tier first; Osaka does not cover Chiyoda
    assert OSAKA.id not in [s["service_id"] for s in suggested]

    to_tokyo = await refer(chain, "national", case_id, TOKYO, share="consent")
    # Made at 10:00 JST on a Tuesday: due after 8 of Tokyo's opening hours (09:00-17:00), at 10:00 JST the next day.
    assert (to_tokyo["hop"], to_tokyo["status"]) == (1, "proposed")
    assert datetime.fromisoformat(to_tokyo["deadline_at"]) == datetime.fromisoformat("2026-12-02T10:00:00+09:00")
    await answer(chain, "tokyo", to_tokyo, "accepted")
    tokyo_view = await view(chain, "tokyo", case_id)
    assert tokyo_view["contact"] == "+819087654321" and [n["text"] for n in tokyo_view["notes"]] == [CANARY_NOTE]

    to_chiyoda = await refer(chain, "tokyo", case_id, CHIYODA, share="consent")
    assert to_chiyoda["hop"] == 2 and (to_chiyoda["from_tier"], to_chiyoda["to_tier"]) == ("prefecture", "municipal")
    await answer(chain, "chiyoda", to_chiyoda, "accepted")
    await answer(chain, "chiyoda", to_chiyoda, "contacted")
    await answer(chain, "chiyoda", to_chiyoda, "closed", outcome="supported")
    chiyoda_view = await view(chain, "chiyoda", case_id)
    assert chiyoda_view["contact"] == "+819087654321" and CANARY_NOTE in [n["text"] for n in chiyoda_view["notes"]]
    assert [r["to_tier"] for r in chiyoda_view["referrals"]] == ["prefecture", "municipal"]
    assert (await as_(chain, "osaka", "GET", f"/api/cases/{case_id}")).status_code == 404  # outside the chain


async def test_without_consent_the_note_stays_with_its_author(chain: Running) -> None:
    case_id = await open_case(chain)
    await as_(chain, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
    refused = await as_(chain, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id, "share": "consent"})
    assert refused.status_code == 422 and "consent" in refused.json()["detail"]
    to_tokyo = await refer(chain, "national", case_id, TOKYO)
    await answer(chain, "tokyo", to_tokyo, "accepted")
    await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/notes", json={"text": "東京都のメモ"})
    tokyo_view = await view(chain, "tokyo", case_id)
    assert tokyo_view["contact"] is None and [n["text"] for n in tokyo_view["notes"]] == ["東京都のメモ"]
    assert tokyo_view["topic"] == "general"  # the anonymous intake travels; the person's details do not
    national_view = await view(chain, "national", case_id)
    assert [n["text"] for n in national_view["notes"]] == [CANARY_NOTE]  # and the receiver's note stays with the receiver
    to_chiyoda = await refer(chain, "tokyo", case_id, CHIYODA)
    await answer(chain, "chiyoda", to_chiyoda, "accepted")
    chiyoda_view = await view(chain, "chiyoda", case_id)
    assert [r["id"] for r in chiyoda_view["referrals"]] == [to_chiyoda["id"]]  # the hops before it stay out of sight
    assert chiyoda_view["notes"] == [] and chiyoda_view["contact"] is None


async def test_a_life_safety_exception_shares_details_and_is_audited(chain: Running) -> None:
    case_id = await open_case(chain)
    await as_(chain, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
    missing = await as_(chain, "national", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": TOKYO.id, "share": "exception"})
    assert missing.status_code == 422 and "reason" in missing.json()["detail"]
    referral = await refer(chain, "national", case_id, TOKYO, share="exception", exception_reason="自傷の危険が差し迫っている")
    await answer(chain, "tokyo", referral, "accepted")
    assert CANARY_NOTE in [n["text"] for n in (await view(chain, "tokyo", case_id))["notes"]]
    async with chain.runtime.sessions() as session:
        (exception,) = (await session.execute(select(SafetyException))).scalars().all()
        actions = [e.action for e in (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars().all()]
    assert exception.staff_id and exception.at and "自傷" not in exception.why_sealed  # who, when, and why (sealed)
    assert "consent.exception" in actions and "case.read" in actions and actions.count("referral.create") == 1


async def test_refusals_are_precise_and_change_nothing(chain: Running) -> None:
    case_id = await open_case(chain)
    referral = await refer(chain, "national", case_id, TOKYO)
    early = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": CHIYODA.id})
    assert early.status_code == 409 and "accept" in early.json()["detail"]
    bare = await as_(chain, "tokyo", "POST", f"/api/referrals/{referral['id']}/status", json={"status": "declined"})
    assert bare.status_code == 409 and "reason" in bare.json()["detail"]
    stranger = await as_(chain, "osaka", "POST", f"/api/referrals/{referral['id']}/status", json={"status": "accepted"})
    assert stranger.status_code == 404
    await answer(chain, "tokyo", referral, "declined", reason="対象地域外のため")
    assert (await as_(chain, "tokyo", "GET", f"/api/cases/{case_id}")).status_code == 404  # declined: access ends
    outbox = (await as_(chain, "national", "GET", "/api/referrals", params={"box": "outbox"})).json()
    assert [(r["status"], r["reason"]) for r in outbox] == [("declined", "対象地域外のため")]


async def test_a_box_narrowed_to_statuses_shows_only_those(chain: Running) -> None:
    first, second = await open_case(chain), await open_case(chain)
    declined = await refer(chain, "national", first, TOKYO)
    waiting = await refer(chain, "national", second, TOKYO)
    await answer(chain, "tokyo", declined, "declined", reason="対象地域外のため")
    open_ones = await as_(
        chain, "tokyo", "GET", "/api/referrals", params=[("box", "inbox"), ("status", "proposed"), ("status", "accepted")]
    )
    assert [r["id"] for r in open_ones.json()] == [waiting["id"]]
    to_redo = await as_(
        chain, "national", "GET", "/api/referrals", params=[("box", "outbox"), ("status", "declined"), ("status", "expired")]
    )
    assert [(r["id"], r["reason"]) for r in to_redo.json()] == [(declined["id"], "対象地域外のため")]
    everything = (await as_(chain, "national", "GET", "/api/referrals", params={"box": "outbox"})).json()
    assert sorted(r["id"] for r in everything) == sorted([waiting["id"], declined["id"]])
    wrong = await as_(chain, "tokyo", "GET", "/api/referrals", params={"box": "inbox", "status": "pending"})
    assert wrong.status_code == 422 and "proposed" in wrong.text  # the statuses there are, named


async def test_a_case_list_shows_held_and_referred_cases_newest_first_each_once(chain: Running) -> None:
    start = chain.runtime.clock.now()

    def at(minutes: int) -> None:
        chain.runtime.clock = Clock(start=start + timedelta(minutes=minutes), speed=0)

    first = await open_case(chain)
    at(1)
    turned_down = await open_case(chain)
    at(2)
    quiet = await open_case(chain)
    at(3)
    await refer(chain, "national", first, TOKYO)  # a referral is activity: the case moves up the sender's list
    at(4)
    await answer(chain, "tokyo", await refer(chain, "national", turned_down, TOKYO), "declined", reason="対象地域外のため")
    at(5)
    own = (await as_(chain, "tokyo", "POST", "/api/cases", json={"topic": "general", "lgcode": "131016"})).json()["id"]
    # A referral back to the organisation that holds the case (a transfer returned, say) must not list it twice.
    async with db.transaction(chain.runtime.sessions) as session:
        session.add(
            Referral(
                case_id=first,
                hop=2,
                from_org=TOKYO_ORG,
                from_tier="prefecture",
                to_org=NATIONAL_ORG,
                to_service=NATIONAL.id,
                to_tier="national",
                created_by="test",
                created_at=chain.runtime.clock.now(),
            )
        )

    national = (await as_(chain, "national", "GET", "/api/cases")).json()
    assert [(c["id"], c["held_here"]) for c in national] == [(turned_down, True), (first, True), (quiet, True)]
    tokyo = (await as_(chain, "tokyo", "GET", "/api/cases")).json()
    assert [(c["id"], c["held_here"]) for c in tokyo] == [(own, True), (first, False)]  # the declined referral's case is gone
    async with chain.runtime.sessions() as session:
        newest_two = (await session.execute(case_list_query(limit=2), {"org": NATIONAL_ORG})).all()
    assert [c.id for c in newest_two] == [turned_down, first]


async def test_a_referral_made_before_a_closure_falls_due_after_the_window_reopens(tmp_path: Path, redis_url: str, regions) -> None:
    closed = window(
        "東京都 総合相談窓口",
        "prefecture",
        "130001",
        TOKYO_ORG,
        "+81355550201",
        dict(byday=WEEKDAYS[:5], opens_at="09:00", closes_at="17:00"),
        closed=[(date(2026, 12, 29), date(2027, 1, 3))],
    )
    settings = make_settings(tmp_path, redis_url, clock="2026-12-30T11:00:00+09:00", clock_speed=0)
    async with running_app(settings, regions) as running:
        await running.store(make_records(NATIONAL, closed))
        token = await running.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)
        made = await running.client.post("/api/cases", json={"lgcode": "131016"}, headers=token)
        referral = await running.client.post(f"/api/cases/{made.json()['id']}/referrals", json={"to_service": closed.id}, headers=token)
        due = datetime.fromisoformat(referral.json()["deadline_at"])
        assert due == datetime.fromisoformat("2027-01-04T17:00:00+09:00")  # 8 opening hours from Jan 4, 09:00


async def test_an_expired_referral_returns_to_its_sender_with_an_alert(chain: Running) -> None:
    case_id = await open_case(chain)
    referral = await refer(chain, "national", case_id, TOKYO)
    chain.runtime.clock = Clock(start=chain.runtime.clock.now() + timedelta(days=2), speed=0)
    pubsub = chain.runtime.redis.pubsub()
    await pubsub.subscribe("tsunagu:alerts")
    expired = await sweep_referrals(chain.runtime)
    assert [r.id for r in expired] == [referral["id"]]
    message = None
    for _ in range(20):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message:
            break
    await pubsub.aclose()
    assert message is not None and referral["id"] in message["data"]
    outbox = (await as_(chain, "national", "GET", "/api/referrals", params={"box": "outbox"})).json()
    assert outbox[0]["status"] == "expired"
    assert TOKYO.id in [s["service_id"] for s in (await as_(chain, "national", "GET", f"/api/cases/{case_id}/suggestions")).json()]


async def test_guessing_case_and_referral_ids_from_outside_the_chain_reveals_nothing(chain: Running) -> None:
    case_id = await open_case(chain)
    await as_(chain, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})
    referral = await refer(chain, "national", case_id, TOKYO)
    outsiders = {
        "counsellor of another organisation": chain.staff["osaka"],
        "coordinator": await chain.token("東京都の調整担当", regions=("130001",)),
        "auditor": await chain.token("監査担当", role="auditor"),
        "admin": await chain.token("管理者", role="admin"),
    }
    requests = [
        ("GET", f"/api/cases/{case_id}", None),
        ("PATCH", f"/api/cases/{case_id}", {"risk_level": "low"}),
        ("POST", f"/api/cases/{case_id}/notes", {"text": "x"}),
        ("POST", f"/api/cases/{case_id}/consent", {"contact": "0312345678"}),
        ("GET", f"/api/cases/{case_id}/suggestions", None),
        ("POST", f"/api/cases/{case_id}/referrals", {"to_service": OSAKA.id}),
        ("POST", f"/api/referrals/{referral['id']}/status", {"status": "accepted"}),
    ]
    for who, headers in outsiders.items():
        for method, path, body in requests:
            response = await chain.client.request(method, path, json=body, headers=headers)
            assert response.status_code in (403, 404), (who, method, path, response.status_code)
            for leak in ('"topic"', '"holder_org"', '"notes"', CANARY_NOTE):
                assert leak not in response.text, (who, path, leak)
    unknown = await as_(chain, "osaka", "GET", "/api/cases/ZZZZ-ZZZZ")
    refused = await as_(chain, "osaka", "GET", f"/api/cases/{case_id}")
    assert (unknown.status_code, refused.status_code) == (404, 404)  # a real id and a made-up one look the same
    assert unknown.json()["detail"].replace("ZZZZ-ZZZZ", "") == refused.json()["detail"].replace(case_id, "")
    mine = (await view(chain, "national", case_id))["notes"]
    assert [n["text"] for n in mine] == [CANARY_NOTE]  # and nothing the outsiders tried changed the case


async def test_auditors_read_the_exception_report_and_check_the_chain(chain: Running) -> None:
    case_id = await open_case(chain)
    await refer(chain, "national", case_id, TOKYO, share="exception", exception_reason="命の危険があるため")
    auditor = await chain.token("監査担当", role="auditor")
    (report,) = (await chain.client.get("/api/audit/exceptions", headers=auditor)).json()
    assert (report["case_id"], report["why"]) == (case_id, "命の危険があるため") and report["staff_id"]
    assert (await as_(chain, "national", "GET", "/api/audit/exceptions")).status_code == 403
    checked = (await chain.client.get("/api/audit/verify", headers=auditor)).json()
    assert checked["intact"] and checked["events"] >= 4


async def holder_set_up(running: Running) -> tuple[str, dict]:
    """A case at the national window with its intake, a note and the person's consent, referred to Tokyo sharing nothing."""
    case_id = await open_case(running)
    intake = {"topics": ["mind", "general"], "risk_level": "medium", "age_band": "30-49"}
    assert (await as_(running, "national", "PATCH", f"/api/cases/{case_id}", json=intake)).status_code == 200
    assert (await as_(running, "national", "POST", f"/api/cases/{case_id}/notes", json={"text": CANARY_NOTE})).status_code == 201
    assert (await as_(running, "national", "POST", f"/api/cases/{case_id}/consent", json={"contact": CANARY_PHONE})).status_code == 200
    return case_id, await refer(running, "national", case_id, TOKYO)


def holders_record(case: dict) -> tuple:
    return (case["topics"], case["risk_level"], case["age_band"], case["contact"], case["consent"], [n["text"] for n in case["notes"]])


HOLDERS_RECORD = (["mind", "general"], "medium", "30-49", "+819087654321", True, [CANARY_NOTE])


async def test_a_receiver_changes_nothing_of_the_holders_case_before_accepting(chain: Running) -> None:
    case_id, _ = await holder_set_up(chain)
    tokyo_view = await view(chain, "tokyo", case_id)
    assert tokyo_view["contact"] is None and tokyo_view["notes"] == []  # it reads the anonymous intake, to decide

    intake = await as_(chain, "tokyo", "PATCH", f"/api/cases/{case_id}", json={"risk_level": "low", "topics": ["life"]})
    consent = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/consent", json={"contact": "090-1111-2222"})
    note = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/notes", json={"text": "東京都のメモ"})
    assert (intake.status_code, consent.status_code) == (403, 403)  # the holder's record, whatever the referral's state
    assert "holding the case" in intake.json()["detail"] and "holding the case" in consent.json()["detail"]
    assert note.status_code == 409 and "accept the referral first" in note.json()["detail"]  # possible once accepted

    national_view = await view(chain, "national", case_id)
    assert holders_record(national_view) == HOLDERS_RECORD
    async with chain.runtime.sessions() as session:
        actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert (actions.count("case.update"), actions.count("case.consent"), actions.count("case.note")) == (1, 1, 1)  # the holder's
    may = ("may_record_intake", "may_record_consent", "may_add_notes", "may_refer")  # what each is offered
    assert [tokyo_view.get(k) for k in may] == [False] * 4 and [national_view.get(k) for k in may] == [True] * 4


async def test_after_accepting_a_receiver_adds_its_own_notes_and_passes_the_case_on_but_the_record_stays_the_holders(
    chain: Running,
) -> None:
    case_id, referral = await holder_set_up(chain)
    await answer(chain, "tokyo", referral, "accepted")
    note = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/notes", json={"text": "東京都のメモ"})
    assert note.status_code == 201
    intake = await as_(chain, "tokyo", "PATCH", f"/api/cases/{case_id}", json={"risk_level": "high"})
    consent = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/consent", json={"contact": "090-1111-2222"})
    assert (intake.status_code, consent.status_code) == (403, 403)
    tokyo_view = await view(chain, "tokyo", case_id)
    assert [tokyo_view.get(k) for k in ("may_add_notes", "may_refer", "may_record_intake", "may_record_consent")] == [
        True,
        True,
        False,
        False,
    ]
    assert [n["text"] for n in (await view(chain, "tokyo", case_id))["notes"]] == ["東京都のメモ"]  # its own, and only its own
    assert holders_record(await view(chain, "national", case_id)) == HOLDERS_RECORD  # the receiver's note stays with it too

    onward = await refer(chain, "tokyo", case_id, CHIYODA)
    assert onward["from_org"] == TOKYO_ORG
    await answer(chain, "tokyo", referral, "closed", outcome="referred_on")
    closed = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/notes", json={"text": "もう一つ"})
    assert closed.status_code == 403 and "closed" in closed.json()["detail"]  # its part is finished: it reads, no longer writes
    assert (await view(chain, "tokyo", case_id))["may_add_notes"] is False


async def test_a_window_that_passed_the_case_on_and_closed_its_part_passes_it_on_again_when_the_next_declines(chain: Running) -> None:
    """Otherwise nobody would act on the declined hop: the holder's own referral is closed, and the sender may not refer."""
    case_id, referral = await holder_set_up(chain)
    await answer(chain, "tokyo", referral, "accepted")
    onward = await refer(chain, "tokyo", case_id, CHIYODA)
    await answer(chain, "tokyo", referral, "closed", outcome="referred_on")
    assert (await view(chain, "tokyo", case_id))["may_refer"] is False  # its hop is on its way
    await answer(chain, "chiyoda", onward, "declined", reason="対象地域の外のため")

    came_back = await view(chain, "tokyo", case_id)
    assert came_back["may_refer"] is True and came_back["may_add_notes"] is False
    assert (await as_(chain, "tokyo", "GET", f"/api/cases/{case_id}/suggestions")).status_code == 200
    again = await as_(chain, "tokyo", "POST", f"/api/cases/{case_id}/referrals", json={"to_service": OSAKA.id})
    assert again.status_code == 201, again.text
    assert (await view(chain, "tokyo", case_id))["may_refer"] is False  # one hop at a time


async def test_a_case_takes_no_more_topics_than_there_are_and_no_body_beyond_the_limit(chain: Running) -> None:
    case_id = await open_case(chain)
    path = f"/api/cases/{case_id}"
    flood = await as_(chain, "national", "PATCH", path, json={"topics": ["life"] * 500_000})  # 3.5 MB, as in the probe
    assert flood.status_code == 413 and "1 MiB" in flood.json()["detail"]
    many = await as_(chain, "national", "PATCH", path, json={"topics": ["life"] * 100_000, "risk_level": "high"})  # under 1 MiB
    assert many.status_code == 422 and len(many.content) < 1000, len(many.content)
    (problem,) = many.json()["detail"]
    assert problem["loc"] == ["body", "topics"] and "at most 9 items" in problem["msg"]
    assert (await view(chain, "national", case_id))["topics"] == ["general"]  # nothing of either was stored
    headers = chain.staff["national"] | {"content-type": "application/json"}
    surrogate = await chain.client.post(f"{path}/notes", content=b'{"text": "\\ud800"}', headers=headers)  # a lone surrogate
    assert surrogate.status_code == 422 and surrogate.json()["detail"][0]["loc"] == ["body", "text"]
    assert (await view(chain, "national", case_id))["notes"] == []
