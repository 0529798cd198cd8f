"""The canary test of the whole chain: a call, the intake, a live transfer, a referral chain and a purge,
and not one canary number or note in clear in any log line, table or Redis key or value."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import redis
from fake_twilio import fake_twilio
from running import make_settings, running_app
from sqlalchemy import select
from test_cases import CHIYODA, CHIYODA_ORG, DIRECTORY, NATIONAL_ORG, TOKYO, TOKYO_ORG, TUESDAY_10
from voice_support import Call, voice_settings

from referral_directory.staff import audit
from routing.cases.models import Case, CaseNote
from routing.privacy.purge import purge_now

CALLER = "+819012340987"
CONTACT = "080-5555-0199"
NOTE = "カナリアのメモ：夜勤明けで眠れないと話す 7Q2Z"
FORMS = (CALLER, CALLER[1:], "09012340987", "090-1234-0987", "12340987", "08055550199", "55550199")


async def test_no_canary_in_clear_after_call_intake_transfer_referrals_and_purge(tmp_path: Path, redis_url: str, regions, capsys) -> None:
    with fake_twilio() as fake:
        twilio = {"twilio_account_sid": "AC" + "3" * 32, "twilio_api_url": fake.url}
        settings = make_settings(tmp_path, redis_url, clock=TUESDAY_10, clock_speed=0, log_level="DEBUG", **(voice_settings() | twilio))
        async with running_app(settings, regions) as running:
            await running.store(DIRECTORY)
            national = await running.token("全国の相談員", role="counsellor", org=NATIONAL_ORG)
            tokyo = await running.token("東京都の相談員", role="counsellor", org=TOKYO_ORG)
            chiyoda = await running.token("千代田区の相談員", role="counsellor", org=CHIYODA_ORG)
            client = running.client

            call = Call(running, caller=CALLER)
            await call.reach_dial(postal="1000001")
            await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "5" * 32)
            (case_id,) = [c["id"] for c in (await client.get("/api/cases", headers=national)).json()]
            assert (await client.patch(f"/api/cases/{case_id}", json={"risk_level": "high"}, headers=national)).status_code == 200
            assert (await client.post(f"/api/cases/{case_id}/notes", json={"text": NOTE}, headers=national)).status_code == 201
            assert (await client.post(f"/api/cases/{case_id}/consent", json={"contact": CONTACT}, headers=national)).status_code == 200
            moved = await client.post(f"/api/cases/{case_id}/transfer", json={"to_service": TOKYO.id, "share": "consent"}, headers=national)
            assert moved.status_code == 202, moved.text
            await call.post("/twilio/voice/transfer")
            await call.post("/twilio/voice/answered", ParentCallSid=call.sid, CallSid="CA" + "4" * 32)
            await call.dial_result("completed")
            await call.end()

            seen = (await client.get(f"/api/cases/{case_id}", headers=tokyo)).json()
            assert seen["contact"] == "+818055550199" and [n["text"] for n in seen["notes"]] == [NOTE]  # consent carried it
            onward = await client.post(
                f"/api/cases/{case_id}/referrals", json={"to_service": CHIYODA.id, "share": "consent"}, headers=tokyo
            )
            for step in ({"status": "accepted"}, {"status": "contacted"}, {"status": "closed", "outcome": "supported"}):
                answered = await client.post(f"/api/referrals/{onward.json()['id']}/status", json=step, headers=chiyoda)
                assert answered.status_code == 200, answered.text

            later = running.runtime.clock.now() + timedelta(days=400)
            await purge_now(running.runtime.sessions, settings=settings, now=later, actor="test")
            async with running.runtime.sessions() as session:
                case = await session.get(Case, case_id)
                notes = (await session.execute(select(CaseNote))).scalars().all()
                verification = await audit.verify(session, keys=[audit.key_from_secret(settings.secret_key.get_secret_value())])
            assert case is not None and case.contact_sealed == "" and case.caller_pseudonym in (None, "") and case.purged_at
            assert [n.body_sealed for n in notes] == [""] and case.risk_level == "high"  # the statistics stay
            assert verification.broken is None

            store = redis.Redis.from_url(redis_url)
            everything = b" ".join(key + b"=" + repr(store.dump(key)).encode() for key in store.keys("*"))
            store.close()
    logs = capsys.readouterr()
    text = logs.out + logs.err
    database = b"".join(path.read_bytes() for path in tmp_path.rglob("tsunagu.db*"))
    assert case_id.encode() in database and b"referral.closed" in database  # the flow really wrote its rows and audit events
    for form in FORMS:
        assert form not in text, form
        assert form.encode() not in database, form
        assert form.encode() not in everything, form
    for secret in (NOTE, "7Q2Z"):
        assert secret not in text and secret.encode() not in database and secret.encode() not in everything
