"""The staff API answers as its OpenAPI description says, whatever it is sent.

Schemathesis generates requests for every `/api/` operation from `/openapi.json` and sends them
to a real `tsunagu serve` (SQLite, a real redis-server, the demo directory) as a coordinator of
千代田区: a non-admin whose changes are limited to a few services, so the run may change what
it is allowed to. Every answer must be a documented status with a body of the documented shape,
and none may be a server error.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from referral_directory.regions import Regions
from referral_directory.staff.accounts import add_user
from referral_directory.storage import db

ROOT = Path(__file__).resolve().parents[1]
TSUNAGU = ROOT / ".venv" / "bin" / "tsunagu"
REGION = "131016"  # 千代田区
EXAMPLES = 25  # per operation: enough to reach each field's edges, few enough for the suite's time
# What "answers as described" means here: never a server error, only documented statuses, content types,
# headers and body shapes. Not whether a request the schema allows is accepted: the API also refuses what
# no schema can say (a region that does not exist, an instant outside 2000–2099, a change outside a
# coordinator's regions), and says why.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def add_coordinator(database: Path, regions: Regions) -> str:
    """Create the coordinator in the service's database, as `tsunagu users add` does (test_cli.py runs that command); return its token."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.transaction(db.session_factory(engine)) as session:
            _, token = await add_user(session, regions, name="sora", role="coordinator", organization_id=None, region_codes=(REGION,))
    finally:
        await engine.dispose()
    return token


@pytest.fixture(scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory, redis_server_url: str, regions: Regions, migrated_file: Path
) -> AsyncIterator[tuple[str, str]]:
    """A running service and a coordinator's API token."""
    folder = tmp_path_factory.mktemp("schemathesis")
    env = os.environ | {"TSUNAGU_VAR_DIR": str(folder), "TSUNAGU_REDIS_URL": redis_server_url, "TSUNAGU_LOG_LEVEL": "WARNING"}
    # A copy of the migrated database (the service migrates at start; test_migrations.py and test_serve_process.py run
    # Alembic for real), with the coordinator in it: a `tsunagu users add` process would cost seconds of start-up.
    shutil.copyfile(migrated_file, folder / "tsunagu.db")
    token = await add_coordinator(folder / "tsunagu.db", regions)
    port = _free_port()
    server = subprocess.Popen(
        [str(TSUNAGU), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("tsunagu serve did not become ready")
            time.sleep(0.2)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> schemathesis.BaseSchema:
    base, token = served
    described = httpx.get(f"{base}/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert described.status_code == 200, "the API description is readable by staff"
    loaded = schemathesis.openapi.from_dict(described.json())
    loaded.config.update(base_url=base, headers={"Authorization": f"Bearer {token}"}, request_timeout=30)
    return loaded.include(path_regex="^/api/")


def test_every_staff_api_operation_answers_as_described(api_schema: schemathesis.BaseSchema) -> None:
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20, "the staff API's operations are described"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_described(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            answers_as_described()
        except Exception as failure:  # one operation's failure is reported with the others, not instead of them
            failures.append(f"{operation.label}: {type(failure).__name__}: {str(failure)[:1500]}")
    assert not failures, "\n\n".join(failures)
