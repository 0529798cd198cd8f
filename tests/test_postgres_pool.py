"""The PostgreSQL pool hands out only live connections, without a ping before each transaction (db.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from referral_directory.storage import db
from routing.settings import async_database_url


async def _backend_pid(sessions) -> int:
    async with db.transaction(sessions) as session:
        return (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _end_backend(postgres_url: str, pid: int) -> None:
    """End one server process, as a restart, a failover or an idle timeout would, and wait until it has gone."""
    admin = await asyncpg.connect(postgres_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):
            if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()


async def test_a_pooled_connection_is_reused_from_one_transaction_to_the_next(postgres_url: str) -> None:
    engine = db.create_engine(async_database_url(postgres_url))
    sessions = db.session_factory(engine)
    try:
        assert await _backend_pid(sessions) == await _backend_pid(sessions)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("ended", [1, 3])
async def test_a_transaction_after_the_server_closed_pooled_connections_runs_on_a_new_one(postgres_url: str, ended: int) -> None:
    """Without the check at checkout (and without pool_pre_ping) the next statement fails with "connection was closed"."""
    engine = db.create_engine(async_database_url(postgres_url))
    sessions = db.session_factory(engine)
    try:

        async def hold_together() -> list[int]:  # `ended` transactions at once: as many pooled connections
            release = asyncio.Event()

            async def one() -> int:
                async with db.transaction(sessions) as session:
                    pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                    await release.wait()
                    return pid

            tasks = [asyncio.create_task(one()) for _ in range(ended)]
            await asyncio.sleep(0.3)
            release.set()
            return await asyncio.gather(*tasks)

        pids = await hold_together()
        assert len(set(pids)) == ended
        for pid in pids:
            await _end_backend(postgres_url, pid)
        await asyncio.sleep(0.1)  # the client reads the server's goodbye and the closed socket
        after = await hold_together()
        assert not set(after) & set(pids)
    finally:
        await engine.dispose()
