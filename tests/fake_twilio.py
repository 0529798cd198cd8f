"""A local HTTP server that speaks the few Twilio REST endpoints tsunagu uses, recording every request."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class FakeTwilio:
    url: str
    calls: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer this many call creations with Twilio's error shape
    statuses: dict[str, str] = field(default_factory=dict)  # CallSid → status for GET .../Calls/{sid}.json
    fetched: list[str] = field(default_factory=list)  # every CallSid whose status was asked
    updates: list[dict[str, str]] = field(default_factory=list)  # every live call redirected (CallSid, Url, Method)
    on_create: Callable[[dict[str, str]], None] | None = None  # runs before a call creation is answered (Twilio may call back first)
    fail_updates: int = 0  # answer this many live-call redirects with Twilio's error shape
    on_update: Callable[[dict[str, str]], None] | None = None  # runs (in the fake's thread) before a redirect is answered


def _app(fake: FakeTwilio) -> FastAPI:
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account_sid}/Calls.json")
    async def create_call(account_sid: str, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if fake.on_create is not None:
            fake.on_create(form)
        if fake.fail_next:
            fake.fail_next -= 1
            return JSONResponse({"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}, status_code=400)
        sid = "CA" + uuid.uuid4().hex
        fake.calls.append({"account_sid": account_sid, "authorization": request.headers.get("authorization", ""), **form})
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{sid}.json",
            },
            status_code=201,
        )

    @app.post("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
    async def update_call(account_sid: str, call_sid: str, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if fake.on_update is not None:
            fake.on_update(form)
        if fake.fail_updates:
            fake.fail_updates -= 1
            return JSONResponse({"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}, status_code=400)
        fake.updates.append({"CallSid": call_sid, **form})
        return JSONResponse(
            {
                "sid": call_sid,
                "account_sid": account_sid,
                "status": "in-progress",
                "direction": "inbound",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
            }
        )

    @app.get("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
    async def fetch_call(account_sid: str, call_sid: str) -> JSONResponse:
        fake.fetched.append(call_sid)
        if call_sid not in fake.statuses:
            return JSONResponse({"code": 20404, "message": "The requested resource was not found", "status": 404}, status_code=404)
        return JSONResponse(
            {
                "sid": call_sid,
                "account_sid": account_sid,
                "status": fake.statuses[call_sid],
                "direction": "inbound",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
            }
        )

    return app


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    """Run the fake on a free loopback port for the duration of the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeTwilio(url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(_app(fake), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake Twilio server did not start"
        time.sleep(0.02)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
