"""The callback legs of a surge: a local stand-in for Twilio's REST API that plays every call tsunagu places.

tsunagu calls people back through `POST /2010-04-01/Accounts/{sid}/Calls.json` (TSUNAGU_TWILIO_API_URL
points here). Each call placed is played in a thread as Twilio would: the person answers (or not),
Twilio fetches the call's Url and follows its TwiML — the Dial to the window that holds the line
is logged to the world's dial stream like any other — and posts the StatusCallback at the end.
These legs run in the runner, not in Locust, so that callbacks placed while the surge drains are
still played to the end.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx

from loadtests.surge.config import ACCOUNT_SID, Signer
from loadtests.surge.player import CallPlayer, CallReport, DialEvent, Reply, Request, Sleep, drive, read_reply
from loadtests.surge.record import WorldLog
from loadtests.surge.world import Persona, WorldParams


class CallbackLegs:
    """Fake Calls.json endpoint plus the threads that play the calls it is asked to place."""

    def __init__(self, log: WorldLog, params: WorldParams, *, fallback_number: str, seed: int = 1, threads: int = 512) -> None:
        self.log, self.params, self.fallback_number = log, params, fallback_number
        self.rng = random.Random(f"callbacks:{seed}")
        self.signer: Signer | None = None
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="callback-leg")
        self.lock = threading.Lock()
        self.in_flight = 0
        self.placed = 0
        self.refusing = False  # the drain is over: calls are no longer placed
        self.latency: dict[str, list[float]] = defaultdict(list)  # endpoint → ms
        self.failures: dict[str, int] = defaultdict(int)  # "endpoint: problem" → count
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-twilio-rest", daemon=True)

    def start(self, signer: Signer) -> None:
        """Serve Calls.json; calls are played against the service `signer` signs for."""
        self.signer = signer
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def refuse_new_calls(self) -> None:
        """Answer every further call creation as an unavailable API would (HTTP 503)."""
        self.refusing = True

    def idle(self) -> bool:
        with self.lock:
            return self.in_flight == 0

    def place(self, form: dict[str, str]) -> dict[str, str]:
        """Accept a call as Twilio's API does, and start playing it."""
        sid = "CA" + uuid.uuid4().hex
        with self.lock:
            self.in_flight += 1
            self.placed += 1
            seed = self.rng.random()
        self.pool.submit(self._play, sid, form, seed)
        return {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
        }

    def _play(self, sid: str, form: dict[str, str], seed: float) -> None:
        started = time.time()
        report = CallReport(sid=sid, kind="callback", ended_by="error")
        try:
            persona = Persona(self.params, random.Random(seed), None, called_back=True)
            params = {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "CallSid": sid,
                "From": form.get("From", ""),
                "To": form.get("To", ""),
                "Called": form.get("To", ""),
                "Caller": form.get("From", ""),
                "Direction": "outbound-api",
            }
            player = CallPlayer(
                persona,
                sid=sid,
                call_params=params,
                fallback_number=self.fallback_number,
                time_scale=self.params.time_scale,
                kind="callback",
            )
            with httpx.Client(timeout=15.0) as client:
                run = player.play(form["Url"], form.get("StatusCallback"), answered=persona.answers_callback())
                report = drive(run, lambda action: self._handle(client, action))
        except Exception as error:  # a leg that cannot be played is a failure of the run, never a crash of the runner
            report.problems.append(f"callback leg crashed: {type(error).__name__}: {error}")
            report.world_problems.append(report.problems[-1])
        finally:
            with self.lock:
                for problem in report.world_problems:
                    self.failures[f"callback leg: {problem}"] += 1
            self.log.record_call(report, started=started, ended=time.time(), late=0.0)
            with self.lock:
                self.in_flight -= 1

    def _handle(self, client: httpx.Client, action: Request | Sleep | DialEvent) -> Reply | None:
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, DialEvent):
            self.log.dial(action)
            return None
        assert self.signer is not None
        began = time.perf_counter()
        try:
            answer = client.request(
                action.method,
                self.signer.public_url + self.signer.path(action.url),
                content=Signer.body(action.params),
                headers=self.signer.headers(action.url, action.params),
            )
            elapsed = (time.perf_counter() - began) * 1000
            reply = read_reply(
                answer.status_code, answer.headers.get("content-type", ""), answer.content, twiml=action.twiml, elapsed_ms=elapsed
            )
        except httpx.HTTPError as error:
            elapsed = (time.perf_counter() - began) * 1000
            reply = Reply(0, problem=f"no answer: {type(error).__name__}", elapsed_ms=elapsed)
        with self.lock:
            self.latency[action.name].append(elapsed)
            if reply.problem is not None:
                self.failures[f"{action.name}: {reply.problem}"] += 1
        return reply


def _handler(legs: CallbackLegs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if not self.path.endswith("/Calls.json") or "Url" not in form:
                self._answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                return
            if legs.refusing:
                self._answer(503, {"code": 20503, "message": "Service unavailable", "status": 503})
                return
            self._answer(201, legs.place(form))

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            return  # quiet: the runner prints a summary

    return Handler
