"""How sends to LINE went is written group-committed: alone when quiet, many in one transaction under load; real SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from referral_directory.storage import db
from routing.chats.delivery_log import DeliveryLog
from routing.chats.models import Chat, ChatMessage

NOW = datetime(2026, 12, 29, 22, 0, tzinfo=UTC)


async def pending_messages(engine: AsyncEngine, count: int) -> list[str]:
    """Store one LINE chat with `count` outbound messages waiting to be sent; return their ids."""
    sessions = db.session_factory(engine)
    async with db.transaction(sessions) as session:
        chat = Chat(medium="line", opened_at=NOW, messages=count)
        session.add(chat)
        await session.flush()
        rows = [ChatMessage(chat_id=chat.id, seq=i + 1, at=NOW, sender="system", delivery="pending") for i in range(count)]
        session.add_all(rows)
    return [row.id for row in rows]


async def stored(engine: AsyncEngine) -> dict[str, tuple[str | None, int, str | None]]:
    async with db.session_factory(engine)() as session:
        rows = (await session.execute(select(ChatMessage))).scalars()
        return {row.id: (row.delivery, row.attempts, row.retry_key) for row in rows}


async def test_sends_ending_together_are_written_in_one_transaction_each_as_it_went(engine: AsyncEngine) -> None:
    ids = await pending_messages(engine, 40)
    deliveries = DeliveryLog(db.session_factory(engine))
    replies = [deliveries.record([i], "sent") for i in ids[:30]]
    pushes = [deliveries.record(ids[30:35], "sent", attempt=True, retry_key="9d5e6c1e-0000-4000-8000-000000000001")]
    failed = [deliveries.record(ids[35:], "failed", attempt=True, retry_key="9d5e6c1e-0000-4000-8000-000000000002")]
    await asyncio.gather(*replies, *pushes, *failed)

    assert deliveries.transactions == 1
    rows = await stored(engine)
    assert all(rows[i] == ("sent", 0, None) for i in ids[:30])
    assert all(rows[i] == ("sent", 1, "9d5e6c1e-0000-4000-8000-000000000001") for i in ids[30:35])
    # The keeper finds the failed push with the key it was tried with, and tries again with the same key.
    assert all(rows[i] == ("failed", 1, "9d5e6c1e-0000-4000-8000-000000000002") for i in ids[35:])


async def test_a_send_on_a_quiet_service_is_written_at_once_alone(engine: AsyncEngine) -> None:
    ids = await pending_messages(engine, 3)
    deliveries = DeliveryLog(db.session_factory(engine))
    for i in ids:
        await deliveries.record([i], "sent")
        assert (await stored(engine))[i][0] == "sent"  # written when record returns
    assert deliveries.transactions == 3


async def test_outcomes_coming_during_a_write_go_in_the_next_one(engine: AsyncEngine) -> None:
    ids = await pending_messages(engine, 6)
    deliveries = DeliveryLog(db.session_factory(engine))
    first = asyncio.create_task(deliveries.record([ids[0]], "sent"))
    await asyncio.sleep(0)  # the first write is under way
    await asyncio.gather(first, *(deliveries.record([i], "blocked") for i in ids[1:]))
    assert deliveries.transactions == 2
    assert [v[0] for v in (await stored(engine)).values()].count("blocked") == 5


async def test_a_write_that_fails_fails_for_every_send_in_it_and_the_next_write_goes_on(engine: AsyncEngine) -> None:
    ids = await pending_messages(engine, 4)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE UPDATE ON chat_message WHEN NEW.delivery = 'quota' "
                "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
            )
        )
    deliveries = DeliveryLog(db.session_factory(engine))
    outcomes = await asyncio.gather(deliveries.record([ids[0]], "sent"), deliveries.record([ids[1]], "quota"), return_exceptions=True)
    assert all(isinstance(o, Exception) and "refused for the test" in str(o) for o in outcomes)
    assert {v[0] for v in (await stored(engine)).values()} == {"pending"}  # nothing of the failed write was kept

    await deliveries.record([ids[2]], "sent")
    assert (await stored(engine))[ids[2]][0] == "sent"


async def test_a_caller_that_gives_up_does_not_take_the_others_write_with_it(engine: AsyncEngine) -> None:
    ids = await pending_messages(engine, 2)
    deliveries = DeliveryLog(db.session_factory(engine))
    impatient = asyncio.create_task(deliveries.record([ids[0]], "sent"))
    patient = asyncio.create_task(deliveries.record([ids[1]], "sent"))
    await asyncio.sleep(0)
    impatient.cancel()
    await patient
    with pytest.raises(asyncio.CancelledError):
        await impatient
    await deliveries.close()
    assert {v[0] for v in (await stored(engine)).values()} == {"sent"}
