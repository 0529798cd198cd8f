"""The image's steps, run without a container engine (none can run here: deploy/README.md says why).

What deploy/Dockerfile does, done on this machine in its order and with its inputs, into a folder
standing in for the image's /app: the files its COPY lines name (and nothing else of the
repository), a fresh Python environment given exactly the locked packages by the Dockerfile's own
`pip install` commands (each package checked against its hash), tsunagu installed from those files
without dependencies; then, as the image's numeric user, with its ENV, in a folder that user can
write only under var/: the release's `tsunagu migrate`, the image's CMD on a free port, and its
HEALTHCHECK command. So a lock missing a package the service imports, a file the image needs but
does not copy, or a write outside var/ and /tmp fails here as it would fail in the image.

The base image's Python is 3.11, as this machine's (Debian's, when the tests run as root). pip may use this machine's cache of downloads
(the Dockerfile's PIP_NO_CACHE_DIR only keeps the image small); the hashes are checked either way.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dockerfile import dockerfile, instructions
from processes import free_port, redis_server, wait_for

REPOSITORY = Path(__file__).resolve().parents[1]
SETUP = (  # the Dockerfile's own account and folder setup, done here by the test (it cannot add users to this machine)
    re.compile(r"groupadd --system --gid (\d+) \w+"),
    re.compile(r"useradd --system --uid (\d+) --gid (\d+) --home /app \w+"),
    re.compile(r"mkdir -p /app/var"),
    re.compile(r"chown \w+:\w+ /app/var"),
)


@pytest.fixture(scope="module")
def image() -> Iterator[Path]:
    """A folder standing in for the image's root: /app in it, and the Python environment beside it."""
    root = Path(tempfile.mkdtemp(prefix="tsunagu-image-"))  # not under pytest's own 0700 folders: the image's user reads it
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def image_user() -> tuple[int, int]:
    user = re.fullmatch(r"(\d+):(\d+)", dockerfile()["USER"])
    assert user is not None, "the image's USER must be numeric"
    return int(user.group(1)), int(user.group(2))


def image_python() -> str:
    """A Python 3.11 the image's user may run (as root, this one may live under /root, which that user cannot enter)."""
    if os.geteuid() != 0:
        return sys.executable
    found = shutil.which("python3.11", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        pytest.fail("no Python 3.11 outside /root for the image's user to run (Debian's python3 is 3.11 on bookworm)")
    return found


def build(root: Path) -> tuple[Path, dict[str, str]]:
    """Run the Dockerfile's steps into `root`; return /app and the image's environment."""
    app, python = root / "app", root / "python"
    subprocess.run([image_python(), "-m", "venv", str(python)], check=True, timeout=120)
    env = {"PATH": f"{python / 'bin'}:/usr/bin:/bin", "HOME": str(app), "LANG": "C.UTF-8"}
    for instruction, rest in instructions():
        if instruction == "FROM":
            assert re.fullmatch(r"python:3\.11-slim-\w+", rest), f"the base image changed ({rest}): run these steps on its Python"
        elif instruction == "ENV":
            env |= dict(pair.split("=", 1) for pair in shlex.split(rest)) | {"PIP_NO_CACHE_DIR": "0"}
        elif instruction == "WORKDIR":
            assert rest == "/app"
            app.mkdir()
        elif instruction == "COPY":
            *sources, target = rest.split()
            for source in sources:
                into = app / (source if target == "./" else target)
                if (REPOSITORY / source).is_dir():
                    shutil.copytree(REPOSITORY / source, into, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(REPOSITORY / source, into)
        elif instruction == "RUN":
            for command in rest.split("&&"):
                words = command.split()
                if words[0] == "pip":
                    done = subprocess.run(
                        [str(python / "bin" / "pip"), "--disable-pip-version-check", *words[1:]],
                        cwd=app,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=900,
                    )
                    assert done.returncode == 0, f"`{command.strip()}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                else:
                    assert any(step.fullmatch(command.strip()) for step in SETUP), f"a step this rehearsal does not know: {command}"
    return app, env


def as_image_user() -> dict[str, Any]:
    """subprocess arguments that run a command as the image's user (when the tests run as root, as CI does)."""
    if os.geteuid() != 0:
        return {}
    uid, gid = image_user()
    return {"user": uid, "group": gid, "extra_groups": []}


def test_the_images_steps_build_a_service_that_runs_as_its_user_from_the_lock_alone(image: Path, tmp_path: Path) -> None:
    app, env = build(image)
    var = app / "var"
    var.mkdir()
    if os.geteuid() == 0:
        os.chown(var, *image_user())  # the Dockerfile's chown: the only folder of /app its user may write
    before = sorted(p.relative_to(app) for p in app.rglob("*") if var not in p.parents and p != var)
    cmd, port = list(dockerfile()["CMD"]), free_port()
    cmd[cmd.index("--host") + 1], cmd[cmd.index("--port") + 1] = "127.0.0.1", str(port)
    healthcheck = dockerfile()["HEALTHCHECK"].split(" CMD ", 1)[1].replace("8000", str(port))

    with redis_server(tmp_path / "redis") as rds:
        run_env = env | {"TSUNAGU_REDIS_URL": rds.url, "TSUNAGU_VAR_DIR": str(var), "TMPDIR": "/tmp"}
        migrated = subprocess.run(
            ["tsunagu", "migrate"], cwd=app, env=run_env, capture_output=True, text=True, timeout=120, **as_image_user()
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        log = (tmp_path / "serve.log").open("wb")
        service = subprocess.Popen(
            cmd, cwd=app, env=run_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **as_image_user()
        )
        try:

            def healthy() -> bool:
                assert service.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("the image's CMD to answer", healthy, seconds=90, every=0.2, logs=(tmp_path / "serve.log",))
            checked = subprocess.run(
                ["/bin/sh", "-c", healthcheck], cwd=app, env=run_env, capture_output=True, text=True, timeout=30, **as_image_user()
            )
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        finally:
            os.killpg(service.pid, 15)
            service.wait(timeout=30)
            log.close()

    assert checked.returncode == 0, checked.stderr
    assert ready.status_code == 200, ready.text
    after = sorted(p.relative_to(app) for p in app.rglob("*") if var not in p.parents and p != var)
    assert after == before, "the service wrote outside var/ (the image's root file system is read-only)"
    assert (var / "tsunagu.db").exists()
