"""The embedded Redis of a var dir after a hard stop: a stale registry, a stray server. Real redis-server processes.

What `tsunagu serve` killed with SIGKILL leaves behind is tested with the real command in
tests/test_serve_process.py; here the same folder is set up directly, in a second or two.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis

from routing.live.redis_server import EmbeddedRedis, servers_of


@contextmanager
def embedded(var: Path) -> Iterator[EmbeddedRedis]:
    """An EmbeddedRedis on `var`, stopped afterwards, and every redis-server of the folder killed should a test fail."""
    server = EmbeddedRedis(var)
    try:
        yield server
    finally:
        server.close()
        for pid in servers_of(var.resolve()):
            os.kill(pid, signal.SIGKILL)


def answers(url: str) -> bool:
    with redis.Redis(unix_socket_path=url.removeprefix("unix://")) as client:
        return bool(client.ping())


def test_a_registry_naming_a_dead_server_whose_pid_is_now_another_process_is_cleared(tmp_path: Path) -> None:
    var, gone = tmp_path / "var", tmp_path / "gone"
    var.mkdir()
    gone.mkdir()
    (gone / "redis.pid").write_text(f"{os.getpid()}\n")  # the pid came back as another process (this one)
    (gone / "redis.socket").write_text("")  # a socket file left by a server killed with SIGKILL
    registry = {"pidfile": str(gone / "redis.pid"), "unixsocket": str(gone / "redis.socket"), "dbdir": str(var), "dbfilename": "redis.db"}
    (var / "redis.db.settings").write_text(json.dumps(registry))
    with embedded(var) as server:
        assert answers(server.url) and "gone" not in server.url
        assert len(servers_of(var.resolve())) == 1


def test_a_stray_server_of_the_folder_that_no_registry_names_is_stopped(tmp_path: Path) -> None:
    var = tmp_path / "var"
    stray = EmbeddedRedis(var)
    stray_pid = stray._server.pid
    try:
        (var / "redis.db.settings").unlink()  # lost: nothing can find this server any more
        with embedded(var) as server:
            assert answers(server.url)
            assert not psutil.pid_exists(stray_pid) or psutil.Process(stray_pid).status() == psutil.STATUS_ZOMBIE
            assert servers_of(var.resolve()) == [server._server.pid]
    finally:
        if psutil.pid_exists(stray_pid):
            os.kill(stray_pid, signal.SIGKILL)
