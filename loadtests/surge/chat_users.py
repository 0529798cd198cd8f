"""Locust users for the chat channel: people on LINE (`LinePerson`) and counsellors at the chat console (`ChatCounsellor`).

Loaded with the callers (users.py) through loadtests/locustfile.py. The drill runs the fake LINE
platform (routing/chats/line/fake.py) in its own process and the service sends to it
(TSUNAGU_LINE_API_URL); the users here reach it over HTTP:

- Arrivals: each Locust process makes its share of a Poisson stream of chats whose rate follows
  the calendar at the run's chat share and the shape's chat profile (shapes.chat_arrivals), and
  hands each, as a ticket, to an idle `LinePerson`.
- A `LinePerson` plays one person (chat_world.ChatPerson) from following the account to leaving.
  For each thing they do, the fake builds LINE's webhook event (`POST /_fake/users/{id}/events`,
  which registers its reply token); the user signs the body exactly as LINE does and POSTs it to
  the service's `/line/webhook`, timed (the webhook's latency). What they read comes from their
  inbox at the fake (`GET /_fake/users/{id}/messages`, long-polled). The time to the first
  automated reply runs from sending the first event to the first message's delivery at the fake.
- A `ChatCounsellor` signs in with one chat counsellor's API token (staff.py), presses
  `POST /api/chats/next` while it holds fewer chats than its cap, reads what its people write
  (`GET /api/chats`, then `GET /api/chats/{id}` only when a chat has new messages: every read is
  audited), answers, closes when the person says thank you, and now and then hands a chat on down
  the chain (`GET /api/chats/{id}/windows`, `POST /api/chats/{id}/transfer`).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

import gevent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, constant, constant_pacing, events, task
from locust.runners import MasterRunner

from loadtests.surge.chat_world import COUNSELLOR_LINES, FAREWELLS, Action, ChatParams, ChatPerson
from loadtests.surge.desks import contact_number
from loadtests.surge.shapes import chat_arrivals
from loadtests.surge.users import TICKET_WAIT, surge
from loadtests.surge.world import Persona
from routing.chats.line.fake import line_signature, new_user_id, webhook_body

WEBHOOK = "/line/webhook"
# The console hears of new chats and messages by its event stream; these users poll instead, at a pace that keeps
# their polling a small part of the load: their chats every LOOK_EVERY s, 「次の相談へ」 again NEXT_PAUSE s after none.
LOOK_EVERY = 2.0
NEXT_PAUSE = 5.0
POLL_MAX = 10.0  # a long-poll at the fake waits at most this long
INTAKE = ("tap", "say", "sticker")


@dataclass(frozen=True)
class ChatDeskRates:
    """How chat counsellors answer, as shares (assumptions of the drill)."""

    reply: float = 0.8  # new words from the person get an answer
    transfer: float = 0.08  # a chat handed on down the chain, after the person has written twice
    consent: float = 0.5  # the person agreed to pass the messages so far on with it


class ChatState:
    """What one Locust process shares for chats: the parameters, the tickets, the LINE latencies not yet written."""

    def __init__(self) -> None:
        config = surge().config
        self.params = ChatParams.from_json(config.chat_world)
        self.tickets: Queue[float] = Queue()
        self.latency: Counter[int] = Counter()

    def feed_arrivals(self) -> None:
        """Issue this process's share of the chats, each at its time, until the calendar ends."""
        state = surge()
        rng = random.Random(f"{state.config.seed}:chats:{os.getpid()}")
        share = 1 / state.config.processes
        for due in chat_arrivals(state.timeline, rng, start=time.time(), chat_share=state.config.chat_share, share=share):
            gevent.sleep(max(0.0, due - time.time()))
            state.log.chat_ticket_issued()
            self.tickets.put(due)

    def flush_loop(self) -> None:
        """Add this process's LINE webhook times to the world's histogram every second, until the run ends."""
        while True:
            gevent.sleep(1.0)
            self.flush()

    def flush(self) -> None:
        pending, self.latency = self.latency, Counter()
        surge().log.add_line_latency(pending)


CHATS: ChatState | None = None


def chats() -> ChatState:
    assert CHATS is not None, "the init event builds the chat state"
    return CHATS


@events.init.add_listener
def _build(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    global CHATS
    CHATS = ChatState()
    ChatCounsellor.fixed_count = len(surge().config.chat_desks)


@events.test_start.add_listener
def _start_arrivals(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if not isinstance(environment.runner, MasterRunner) and surge().config.chat_share > 0:
        gevent.spawn(chats().feed_arrivals)
        gevent.spawn(chats().flush_loop)


@events.request.add_listener
def _count_webhook_time(request_type, name, response_time, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if CHATS is not None and name == WEBHOOK:
        CHATS.latency[round(response_time)] += 1


@events.test_stop.add_listener
def _flush(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if CHATS is not None and not isinstance(environment.runner, MasterRunner):
        CHATS.flush()


@dataclass
class ChatReport:
    """One person's chat as they lived it (the world's view), kept in the world log for the gates."""

    user_id: str  # made up by the drill: the fake's inbox is read by it after the run
    plan: str
    outcome: str = "error"
    started: float = 0.0
    ended: float = 0.0
    late: float = 0.0
    first_reply: float | None = None  # seconds from the first event sent to the first message delivered
    answer_replies: list[float] = field(default_factory=list)  # the same, for each answer during the questions
    reached_human: bool = False
    transfers: int = 0
    events: int = 0
    read: int = 0
    left_open: bool = False  # they left their chat open on purpose (went quiet)
    blocked: bool = False


class LinePerson(FastHttpUser):
    """A person on LINE: whenever a chat is due, someone starts one with the dial's account."""

    weight = 1
    wait_time = constant(0)
    network_timeout = POLL_MAX + 20.0
    connection_timeout = 5.0

    @task
    def chat(self) -> None:
        state, shared = surge(), chats()
        try:
            due = shared.tickets.get(timeout=TICKET_WAIT)
        except Empty:
            return
        started = time.time()
        state.log.chat_started(started)
        rng = random.Random()
        person = ChatPerson(shared.params, rng, [state.postal.draw(rng)], Persona(state.world, rng, None).talk_seconds())
        report = ChatReport(user_id=new_user_id(), plan=person.plan, started=started, late=started - due)
        try:
            self.play(person, report)
        finally:
            report.outcome = person.outcome or "error"
            report.reached_human, report.transfers, report.left_open = person.reached_human, person.transfers, person.left_open
            report.ended = time.time()
            state.log.chat_ended(asdict(report))

    def play(self, person: ChatPerson, report: ChatReport) -> None:
        """Send what the person does and read what they get, until they leave."""
        actions = person.start(time.time())
        sent_at: float | None = None
        while True:
            for action in actions:
                sent_at = time.time()
                if not self.act(report, action):
                    return
            if person.state == "done":
                return
            wait = min(POLL_MAX, max(0.0, person.next_deadline() - time.time()))
            messages = self.read(report, wait)
            if messages is None:
                return
            now = time.time()
            if messages and sent_at is not None:
                waited = messages[0]["at"] - sent_at
                if report.first_reply is None:
                    report.first_reply = waited
                elif person.state == "intake":
                    report.answer_replies.append(round(waited, 4))
                sent_at = None
            actions = person.hear([(m["text"], m["quick_data"]) for m in messages], now) if messages else []
            if actions and person.state == "intake" and actions[0][0] in INTAKE:
                gevent.sleep(person.think())
            actions += person.tick(time.time())

    def act(self, report: ChatReport, action: Action) -> bool:
        """Have the fake build the event for one action and POST it, signed, to the service; False when that failed."""
        config = surge().config
        kind, value = action
        body = {
            "follow": {"type": "follow"},
            "unfollow": {"type": "unfollow"},
            "sticker": {"type": "sticker"},
            "tap": {"type": "postback", "data": value},
            "say": {"type": "text", "text": value},
        }[kind]
        event = self._json("POST", f"{config.line_url}/_fake/users/{quote(report.user_id)}/events", "fake LINE: event", json=body)
        if event is None:
            return False
        payload = webhook_body(config.line_bot_user_id, [event])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "LineBotWebhook/2.0",
            "X-Line-Signature": line_signature(config.line_channel_secret, payload),
        }
        report.events += 1
        report.blocked = report.blocked or kind == "unfollow"
        with self.client.request("POST", WEBHOOK, data=payload, headers=headers, name=WEBHOOK, catch_response=True) as answer:
            if answer.status_code == 200:
                answer.success()
                return True
            answer.failure(
                f"answered HTTP {answer.status_code}" if answer.status_code else f"no answer: {getattr(answer, 'error', None)!r}"
            )
            return False

    def read(self, report: ChatReport, wait: float) -> list[dict] | None:
        """Return the messages that reached the person since last time, waiting up to `wait` s for one; None when that failed."""
        url = f"{surge().config.line_url}/_fake/users/{quote(report.user_id)}/messages?after={report.read}&wait={wait:.2f}"
        data = self._json("GET", url, "fake LINE: messages")
        if data is None:
            return None
        report.read += len(data["messages"])
        return data["messages"]

    def _json(self, method: str, url: str, name: str, json: dict | None = None) -> dict | None:
        with self.client.request(method, url, json=json, name=name, catch_response=True) as answer:
            if answer.status_code == 200:
                answer.success()
                return answer.json()
            answer.failure(
                f"answered HTTP {answer.status_code}" if answer.status_code else f"no answer: {getattr(answer, 'error', None)!r}"
            )
            return None


@dataclass
class Held:
    """A chat a counsellor holds: its case, the last message read, and how many the person wrote."""

    case_id: str | None
    seen: int
    person_wrote: int = 0


class ChatCounsellor(FastHttpUser):
    """A counsellor at the chat console of one organisation, signed in with an API token, holding up to their cap of chats."""

    fixed_count = 0  # one per chat counsellor account (staff.py), set when Locust starts (_build)
    wait_time = constant_pacing(LOOK_EVERY)

    def on_start(self) -> None:
        account = surge().log.take_chat_account()
        self.token, self.org = account if account else (None, None)
        self.held: dict[str, Held] = {}
        self.rates = ChatDeskRates()
        self.rng = random.Random()
        self.full_until = 0.0

    @task
    def work(self) -> None:
        if self.token is None:
            return
        if self.held:
            self.look_at_chats()
        if len(self.held) < surge().config.chat_cap and time.time() >= self.full_until:
            self.take_next()

    def take_next(self) -> None:
        status, chat = self.api("POST", "/api/chats/next", "/api/chats/next", expected=(204, 409))
        if status in (204, 409):
            self.full_until = time.time() + NEXT_PAUSE  # nobody waits, or every line of the windows is taken
            self.count("next: none waiting" if status == 204 else "next: lines full")
            return
        if status != 200 or not isinstance(chat, dict):
            return
        self.count("taken")
        self.held[chat["id"]] = Held(chat["case_id"], seen=max((m["seq"] for m in chat["messages"]), default=0))
        self.write(chat["id"], COUNSELLOR_LINES[0])

    def look_at_chats(self) -> None:
        status, listed = self.api("GET", "/api/chats", "/api/chats")
        if status != 200 or not isinstance(listed, list):
            return
        counts = {chat["id"]: chat["message_count"] for chat in listed}
        for chat_id in [c for c in self.held if c not in counts]:
            del self.held[chat_id]
            self.count("ended without the counsellor")  # the person left, or the keeper closed it for silence
        for chat_id, count in counts.items():
            held = self.held.setdefault(chat_id, Held(None, seen=0))
            if count > held.seen:
                self.answer(chat_id, held)

    def answer(self, chat_id: str, held: Held) -> None:
        status, chat = self.api("GET", f"/api/chats/{chat_id}?after={held.seen}", "/api/chats/{id}")
        if status != 200 or not isinstance(chat, dict):
            return
        messages = chat["messages"]
        held.seen = max([held.seen, *(m["seq"] for m in messages)])
        words = [m["text"] for m in messages if m["from"] == "person"]
        if not words or chat["status"] != "talking":
            return
        held.person_wrote += len(words)
        if any(text in FAREWELLS for text in words):
            self.close(chat_id)
        elif held.person_wrote >= 2 and self.rng.random() < self.rates.transfer and self.transfer(chat_id, held.case_id):
            return
        elif self.rng.random() < self.rates.reply:
            self.write(chat_id, self.rng.choice(COUNSELLOR_LINES[1:]))

    def write(self, chat_id: str, text: str) -> None:
        status, _ = self.api("POST", f"/api/chats/{chat_id}/messages", "/api/chats/{id}/messages", json={"text": text}, expected=(409,))
        self.count("wrote" if status == 201 else "wrote after the end")

    def close(self, chat_id: str) -> None:
        status, _ = self.api("POST", f"/api/chats/{chat_id}/close", "/api/chats/{id}/close")
        if status == 200:
            self.held.pop(chat_id, None)
            self.count("closed")

    def transfer(self, chat_id: str, case_id: str | None) -> bool:
        """Hand the chat to the first window further down the chain answering in tsunagu with a free line; False when none.

        With the person's consent, the messages so far go with it: the consent is recorded on the
        case first (the case API asks for a contact number with it).
        """
        status, windows = self.api("GET", f"/api/chats/{chat_id}/windows", "/api/chats/{id}/windows")
        if status != 200 or not isinstance(windows, list):
            return False
        targets = [w for w in windows if not w["own_sns_url"] and w["free_lines"] > 0]
        if not targets:
            self.count("no window to hand on to")
            return False
        share = "none"
        if case_id is not None and self.rng.random() < self.rates.consent:
            path = f"/api/cases/{case_id}/consent"
            status, _ = self.api("POST", path, "/api/cases/{id}/consent", json={"contact": contact_number(self.rng)})
            share = "consent" if status in (200, 201) else "none"
        body = {"service_id": targets[0]["service_id"], "share": share}
        status, _ = self.api("POST", f"/api/chats/{chat_id}/transfer", "/api/chats/{id}/transfer", json=body, expected=(409,))
        if status != 200:
            self.count("transfer refused")
            return False
        self.held.pop(chat_id, None)
        self.count("handed on")
        return True

    def count(self, action: str) -> None:
        surge().log.chat_action(action)

    def api(self, method: str, path: str, name: str, json: dict | None = None, expected: tuple[int, ...] = ()) -> tuple[int, object]:
        """Make one API request as the counsellor; return (status, JSON or None). A status not 2xx nor expected is a failure."""
        headers = {"Authorization": f"Bearer {self.token}"}
        with self.client.request(method, path, json=json, headers=headers, name=name, catch_response=True) as answer:
            status = answer.status_code or 0
            if status in (200, 201) or status in expected:
                answer.success()
                return status, (answer.json() if status in (200, 201) else None)
            text = (answer.text or "")[:300] if status else f"no answer: {getattr(answer, 'error', None)!r}"
            answer.failure(f"answered HTTP {status}: {text}")
            return status, None
