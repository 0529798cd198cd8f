"""Locust scenario for tsunagu's surge drills: callers playing the real voice flow, and a counsellor.

Loaded by Locust through loadtests/locustfile.py. Run by the drill (`python -m loadtests.surge`),
which starts redis-server and `tsunagu serve` on a compressed clock and writes the run's
configuration (SURGE_CONFIG). What happens here:

- Arrivals: each Locust process makes its share of a Poisson stream of call attempts whose rate
  follows the surge calendar (shapes.arrivals) and hands each attempt, as a ticket, to an
  idle `Caller`. Users are phone lines, not callers: the shape keeps enough of them (calls in
  progress + tickets waiting + ten seconds of arrivals at the coming rate) and never stops one
  mid-call, so the attempt rate follows the calendar however long calls last.
- A `Caller` plays one call as Twilio would (player): POST /twilio/voice/incoming, then
  whatever the TwiML says — Gathers answered by the simulated caller (world), Dials held
  for the ring and talk time with each dial logged to the world's stream, Redirects followed — and
  finally the status callback. Every request is form-encoded and signed. Invalid TwiML, an HTTP
  error or a call the world cannot play is a failure in Locust's statistics.
- A `Counsellor` sits at one organisation's desk at a time and works its cases and referrals
  through the API (desks): accepts, declines, contacts and closes referrals, records intakes
  and consent, and refers cases on, national → prefecture → municipal. Now and then it asks
  GET /api/routing/preview, which also reads the service's clock.
"""

from __future__ import annotations

import math
import os
import random
import time
import uuid
from collections import Counter
from datetime import datetime
from functools import partial
from urllib.parse import urlencode

import gevent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, LoadTestShape, constant, constant_pacing, events, task
from locust.runners import MasterRunner

from loadtests.surge.config import STATUS_PATH, VOICE_PATH, Signer, SurgeConfig, caller_number, inbound_params
from loadtests.surge.desks import Desk, DeskBoard
from loadtests.surge.player import CallPlayer, CallReport, DialEvent, Reply, Request, Sleep, drive, read_reply
from loadtests.surge.record import WorldLog
from loadtests.surge.shapes import arrivals
from loadtests.surge.world import TOPIC_NAMES, Persona

HEADROOM_SECONDS = 10  # idle lines kept ready: this many seconds of arrivals at the coming peak rate
SPAWN_RATE = 500  # users per second when the shape adds lines
TICKET_WAIT = 2.0  # an idle line looks for a ticket this long before its task ends (and Locust may stop it)
FINISH_SECONDS = 600  # after the calendar's end, the longest the last calls are waited for


class Surge:
    """Everything one Locust process shares: configuration, timeline, postal sample, world log, tickets."""

    def __init__(self, config: SurgeConfig) -> None:
        self.config = config
        self.timeline = config.timeline()
        self.world = config.world_params()
        self.postal = config.postal()  # built once at start-up: nothing here is shared across threads
        self.log = WorldLog.from_url(config.world_redis_url)
        self.desks = DeskBoard.from_url(config.world_redis_url)
        self.signer = Signer(config.public_url, config.auth_token)
        self.tickets: Queue[float] = Queue()
        self.latency: Counter[int] = Counter()  # webhook response times (whole ms) not yet added to the world's histogram

    def feed_arrivals(self) -> None:
        """Issue this process's share of the call attempts, each at its time, until the calendar ends."""
        rng = random.Random(f"{self.config.seed}:{os.getpid()}")
        for due in arrivals(self.timeline, rng, start=time.time(), share=1 / self.config.processes):
            gevent.sleep(max(0.0, due - time.time()))
            self.log.ticket_issued()
            self.tickets.put(due)

    def watch_loop(self) -> None:
        """Record, each second, how late this process's event loop wakes a sleeper: late attempts come from there."""
        while True:
            worst = 0.0
            for _ in range(4):
                asleep = time.monotonic()
                gevent.sleep(0.25)
                worst = max(worst, time.monotonic() - asleep - 0.25)
            self.log.loop_lag(time.time(), worst)
            self.flush_latency()
            if time.time() > self.timeline.epoch_end:
                return

    def flush_latency(self) -> None:
        """Add this process's webhook response times to the world's histogram (all processes together)."""
        pending, self.latency = self.latency, Counter()
        self.log.add_latency(pending)


SURGE: Surge | None = None


def surge() -> Surge:
    assert SURGE is not None, "the init event builds the surge state"
    return SURGE


@events.init.add_listener
def _build(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    global SURGE
    SURGE = Surge(SurgeConfig.from_environment())
    Counsellor.fixed_count = SURGE.config.desk_users


@events.test_start.add_listener
def _start_arrivals(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if not isinstance(environment.runner, MasterRunner):
        gevent.spawn(surge().feed_arrivals)
        gevent.spawn(surge().watch_loop)


@events.request.add_listener
def _count_webhook_time(request_type, name, response_time, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if SURGE is not None and name.startswith("/twilio/") and request_type == "POST":
        SURGE.latency[round(response_time)] += 1


@events.test_stop.add_listener
def _flush(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if not isinstance(environment.runner, MasterRunner):
        surge().flush_latency()


class SignedTwilio(FastHttpUser):
    """Requests made as Twilio makes them: signed, form-encoded, answered within 15 s."""

    abstract = True
    network_timeout = 15.0  # Twilio gives up on a webhook after 15 s
    connection_timeout = 5.0

    def handle(self, action: Request | Sleep | DialEvent) -> Reply | None:
        """Do one thing a call's player asks for."""
        if isinstance(action, Sleep):
            gevent.sleep(action.seconds)
            return None
        if isinstance(action, DialEvent):
            surge().log.dial(action)
            return None
        return self.send(action)

    def send(self, request: Request) -> Reply:
        signer = surge().signer
        path = signer.path(request.url)
        body = signer.body(request.params)
        if request.method.upper() == "GET":  # params in the query, signed as part of the URL
            url = request.url + ("&" if "?" in request.url else "?") + body
            path, body = signer.path(url), ""
            headers = signer.headers(url, {})
        else:
            headers = signer.headers(request.url, request.params)
        with self.client.request(
            request.method.upper(), path, data=body, headers=headers, name=request.name, catch_response=True
        ) as answer:
            if not answer.status_code:  # no HTTP answer at all: refused, reset, or over Twilio's 15 s
                problem = f"no answer: {getattr(answer, 'error', None)!r}"
                answer.failure(problem)
                return Reply(0, problem=problem)
            content_type = (answer.headers or {}).get("content-type", "") or ""
            reply = read_reply(answer.status_code, content_type, answer.content or b"", twiml=request.twiml)
            if reply.problem is not None:
                answer.failure(reply.problem)
            else:
                answer.success()
            return reply


class Caller(SignedTwilio):
    """A phone line of the simulated Twilio: whenever an attempt is due, someone calls the dial on it."""

    wait_time = constant(0)

    @task
    def place_call(self) -> None:
        state = surge()
        try:
            due = state.tickets.get(timeout=TICKET_WAIT)
        except Empty:
            return
        state.log.ticket_taken()
        started = time.time()
        state.log.call_started()
        state.log.attempt(started)
        rng = random.Random()
        sid = "CA" + uuid.uuid4().hex
        persona = Persona(state.world, rng, state.postal)
        player = CallPlayer(
            persona,
            sid=sid,
            call_params=inbound_params(sid, caller_number(rng)),
            fallback_number=state.config.fallback_number,
            time_scale=state.world.time_scale,
        )
        report = CallReport(sid=sid, kind="inbound", ended_by="error")
        try:
            report = drive(player.play(state.signer.public_url + VOICE_PATH, state.signer.public_url + STATUS_PATH), self.handle)
        finally:
            for problem in report.world_problems:
                self.environment.events.request.fire(
                    request_type="WORLD", name=problem[:60], response_time=0, response_length=0, exception=RuntimeError(problem), context={}
                )
            state.log.call_ended(report, started=started, ended=time.time(), late=started - due)


class Counsellor(FastHttpUser):
    """A counsellor at a member organisation's desk: works its cases and referrals through the API (desks)."""

    fixed_count = 1  # the run's desk_users, set when Locust starts (_build)
    wait_time = constant_pacing(1.0)

    @task(4)
    def work_desk(self) -> None:
        state = surge()
        taken = state.desks.take()
        if taken is None:
            return
        org, noticed = taken
        token, tier = state.config.desks[org]
        try:
            desk = Desk(
                state.desks,
                partial(self.api, token),
                org,
                tier,
                rng=random.Random(),
                speed=state.config.speed,
                simulated_epoch=state.timeline.epoch,
            )
            desk.visit(noticed=noticed)
        finally:
            state.desks.release(org)

    @task(1)
    def preview(self) -> None:
        """Check where a contact would go, and record the service's clock against the calendar the load follows."""
        state = surge()
        rng = random.Random()
        query = urlencode({"topic": rng.choice(TOPIC_NAMES), "postal_code": state.postal.draw(rng)})
        data = self.api(
            state.config.staff_token,
            "GET",
            f"/api/routing/preview?{query}",
            "/api/routing/preview",
            check=lambda d: None if isinstance(d.get("candidates"), list) else "no candidates list in the preview",
        )
        if data is None:
            return
        seen = time.time()
        state.log.clock_seen(seen, datetime.fromisoformat(data["at"]).timestamp(), state.timeline.simulated(seen).timestamp())

    def api(self, token: str, method: str, path: str, name: str, json: dict | None = None, check=None) -> dict | list | None:  # type: ignore[no-untyped-def]
        """Make one API request as the staff member; return its JSON, or None when it did not succeed (a failure in Locust's
        statistics, unless the referral expired meanwhile: the service's sweeper may get there first, as it would at a desk).
        `check(answer)` may name a problem with a 200 answer's JSON, which makes it a failure too."""
        headers = {"Authorization": f"Bearer {token}"}
        with self.client.request(method, path, json=json, headers=headers, name=name, catch_response=True) as answer:
            if answer.status_code in (200, 201):
                data = answer.json()
                problem = check(data) if check is not None else None
                if problem is not None:
                    answer.failure(problem)
                    return None
                answer.success()
                return data
            text = (answer.text or "")[:300] if answer.status_code else f"no answer: {getattr(answer, 'error', None)!r}"
            if answer.status_code == 409 and "expired referral" in text:
                answer.success()
                surge().desks.count("expired-meanwhile")
            else:
                answer.failure(f"answered HTTP {answer.status_code}: {text}")
            return None


class SurgeShape(LoadTestShape):
    """Keeps enough phone lines and people on LINE for the surge calendar's arrivals; stops when the calendar ends.

    The targets are call attempts and chats per second (the arrivals follow them); the user count
    only has to be high enough never to delay one. Callers and people on LINE have the same weight,
    so the count is twice what the busier of the two needs, plus the counsellors (fixed counts). It
    never goes down: users are stopped only at the end, once every call and chat has finished (and
    Locust's stop-timeout in locust.conf lets a last task end).
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines = 1

    def tick(self) -> tuple[int, float] | None:
        state = surge()
        now = time.time()
        active, backlog = state.log.demand()
        chat_active, chat_backlog = state.log.chat_demand()
        if now >= state.timeline.epoch_end:
            # No new arrivals: stop once every call and chat (in every process) has ended, status callback included.
            # Waiting here rather than on Locust's stop-timeout also holds with --processes.
            finished = active <= 0 and backlog <= 0 and chat_active <= 0 and chat_backlog <= 0
            return None if finished or now > state.timeline.epoch_end + FINISH_SECONDS else (self.lines, SPAWN_RATE)
        coming = state.timeline.busiest_ahead(now, HEADROOM_SECONDS)
        callers = 1 + active + backlog + math.ceil(coming * HEADROOM_SECONDS) + 5
        chatting = 0
        if state.config.chat_share > 0:
            coming_chats = max(state.timeline.chat_rate(now + s / 4, state.config.chat_share) for s in range(HEADROOM_SECONDS * 4 + 1))
            chatting = 1 + chat_active + chat_backlog + math.ceil(coming_chats * HEADROOM_SECONDS) + 5
        fixed = state.config.desk_users + len(state.config.chat_desks)
        wanted = fixed + 2 * max(callers, chatting)
        self.lines = min(max(self.lines, wanted), state.config.max_users)
        return self.lines, SPAWN_RATE
