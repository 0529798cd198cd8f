"""The chat side of a surge drill: the fake LINE platform, the service's LINE settings, the chat drain, and what is read after.

The drill (drill.py) runs the fake LINE platform (routing/chats/line/fake.py) in its own process, on
a free port, and starts the service with LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN and
TSUNAGU_LINE_API_URL pointing at it, and with the chat timers on the drill's scale
(chat_world.ChatParams.service_env). After the load it waits for the chats to settle (`drain`),
then reads the service's chats and messages (unsealed with the run's own keys: the drill made the
service's secret), the people's inboxes at the fake, and the leftovers in Redis (`read_chats`).
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from loadtests.surge.chat_gates import FIRST_REPLY_P99_S, ChatFacts, count_messages
from loadtests.surge.chat_world import ChatParams
from loadtests.surge.collect import CHAT_SLOTS, ServiceLine, _rows, slot_sets
from loadtests.surge.gates import EndpointLatency, histogram_percentile, percentile
from loadtests.surge.record import WorldLog
from loadtests.surge.shapes import Timeline
from routing.chats.line.fake import FakeLine
from routing.chats.models import OPEN_STATUSES
from routing.live.keys import counsellor_chats_key, line_inbox_key
from routing.privacy.confidentiality import person_pseudonym, try_unseal
from routing.privacy.keyring import Keyring

WEBHOOK = "/line/webhook"
DRAIN_MARGIN = 30.0  # seconds beyond the idle check and close, for the keeper's rounds


@dataclass
class ChatRun:
    """The fake LINE platform of one run and what the service must be told to use it."""

    params: ChatParams
    share: float  # chats per call attempt
    first_reply_s: float = FIRST_REPLY_P99_S
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))  # TSUNAGU_SECRET_KEY: the drill unseals with it
    fake: FakeLine = field(default_factory=lambda: FakeLine(access_token=secrets.token_urlsafe(24), channel_secret=secrets.token_hex(16)))

    probe: FakeProbe | None = None

    def start(self) -> str:
        """Serve the fake LINE platform on a free port, and time its answers meanwhile (FakeProbe); return its URL."""
        url = self.fake.serve_in_thread()
        self.probe = FakeProbe(url)
        self.probe.start()
        return url

    def stop(self) -> None:
        if self.probe is not None:
            self.probe.stop()
        self.fake.stop()

    def service_env(self, speed: float) -> dict[str, str]:
        """Return the service's settings for LINE (pointing at the fake), its secret, and its chat timers on this run's scale."""
        return {
            "LINE_CHANNEL_SECRET": self.fake.channel_secret,
            "LINE_CHANNEL_ACCESS_TOKEN": self.fake.access_token,
            "TSUNAGU_LINE_API_URL": self.fake.url,
            "TSUNAGU_SECRET_KEY": self.secret_key,
            **self.params.service_env(speed),
        }

    def keys(self, var_dir: Path) -> Keyring:
        """Return the service's keyring (no file is written in a drill: the keys derive from the secret)."""
        return Keyring(var_dir / "keys.json", secret_key=self.secret_key)

    def drain_seconds(self) -> float:
        """Return the longest the chats take to settle after the load: a quiet person's chat is checked, then closed."""
        return self.params.seconds(self.params.idle_minutes + self.params.close_minutes) + DRAIN_MARGIN


class FakeProbe:
    """Times a trivial request to the fake LINE platform every half second: how long the service waits on "LINE" for nothing.

    The fake shares the drill's process and the machine's cores with everything else; if it answers
    slowly, the service's replies and pushes wait on the drill, not on the service.
    """

    def __init__(self, url: str, period: float = 0.5) -> None:
        self.url, self.period = url + "/_fake/channel", period
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-line-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    answer.read()
            except OSError:
                self.seconds.append(10.0)
                continue
            self.seconds.append(time.perf_counter() - started)


def unsettled(database: str, redis: Redis) -> dict[str, int]:
    """Return what still moves in the chat channel: chats talking, messages being sent, LINE inboxes, chat slots held."""
    talking = _rows(database, "SELECT count(*) FROM chat WHERE status = 'talking'")[0][0]
    pending = _rows(database, "SELECT count(*) FROM chat_message WHERE delivery = 'pending'")[0][0]
    left = {
        "talking": int(talking),
        "sending": int(pending),
        "inboxes": len(list(redis.scan_iter(match=line_inbox_key("*"), count=1000))),
        "chat slots": sum(slot_sets(redis, CHAT_SLOTS).values()),
    }
    return {k: v for k, v in left.items() if v}


def drain(database: str, redis: Redis, timeout: float, notes: list[str], alive: Callable[[], None]) -> None:
    """Wait until the chats have settled (the keeper closes those left silent), or `timeout` seconds."""
    started = time.time()
    while True:
        alive()
        left = unsettled(database, redis)
        waited = time.time() - started
        if not left:
            notes.append(f"the chats settled {waited:.0f} s after the load")
            return
        if waited > timeout:
            notes.append(f"the chats had not settled {waited:.0f} s after the load: {left}")
            return
        time.sleep(1)


@dataclass(frozen=True)
class ChatReading:
    """What read_chats found: the gates' facts and the summary's figures."""

    facts: ChatFacts
    figures: dict


def read_chats(
    run: ChatRun,
    *,
    log: WorldLog,
    database: str,
    redis: Redis,
    keys: Keyring,
    timeline: Timeline,
    most_held: Mapping[str, int],
    services: Mapping[str, ServiceLine],
    latency: Sequence[EndpointLatency],
    failures: Mapping[str, int],
    p99_ms: float,
) -> ChatReading:
    """Read everything the chats left (world, service, fake LINE, Redis) and return the SNS gates' facts and figures."""
    reports = log.chats()
    people = {person_pseudonym("line", r["user_id"], keys=keys): r for r in reports}
    chats = _rows(database, "SELECT id, person_ref, status, close_reason, assigned_at IS NOT NULL, band FROM chat WHERE medium = 'line'")
    owner = {chat_id: people.get(ref or "") for chat_id, ref, *_ in chats}
    stored: dict[str, list[tuple[str, str | None]]] = {}
    for chat_id, body, delivery in _rows(
        database,
        "SELECT m.chat_id, m.body_sealed, m.delivery FROM chat_message m JOIN chat c ON c.id = m.chat_id "
        "WHERE c.medium = 'line' AND m.sender != 'person' ORDER BY m.chat_id, m.seq",
    ):
        person = owner.get(chat_id)
        key = person["user_id"] if person else f"unknown person of chat {chat_id}"
        stored.setdefault(key, []).append((try_unseal(body, keys=keys) or "" if body else "", delivery))
    stats = run.fake.stats()
    inboxes = {r["user_id"]: [m.text for m in run.fake.inbox(r["user_id"])] for r in reports}
    blocked = [r["user_id"] for r in reports if r["blocked"]]
    messages = count_messages(stored, inboxes, blocked, held_back_by_line=stats.undelivered_blocked, duplicates=stats.duplicates)
    open_after: Counter[str] = Counter()
    left_open = 0
    for chat_id, _ref, status, *_ in chats:
        if status in OPEN_STATUSES:
            person = owner.get(chat_id)
            if person is not None and person["left_open"]:
                left_open += 1
            else:
                open_after[status] += 1
    held = slot_sets(redis, CHAT_SLOTS) | slot_sets(redis, counsellor_chats_key("*"))
    inboxes_left = len(list(redis.scan_iter(match=line_inbox_key("*"), count=1000)))
    webhook = next((e for e in latency if e.name == WEBHOOK), None)
    facts = ChatFacts(
        webhook_requests=webhook.requests if webhook else 0,
        webhook_failures={what: n for what, n in failures.items() if what.startswith(WEBHOOK + ":")},
        webhook_p99_ms=histogram_percentile(log.line_latency(), 0.99),
        first_replies=[r["first_reply"] for r in reports if r["events"] > 0],
        messages=messages,
        sampled_held=dict(most_held),
        capacities={s.service_id: s.chat_capacity for s in services.values()},
        held_after_drain=held,
        inboxes_after_drain=inboxes_left,
        open_after_drain=dict(open_after),
        left_open=left_open,
        p99_target_ms=p99_ms,
        first_reply_target_s=run.first_reply_s,
        names={s.service_id: s.name for s in services.values()},
    )
    figures = chat_figures(run, reports, chats, facts, stats.as_dict(), log, timeline, services)
    return ChatReading(facts, figures)


def chat_figures(
    run: ChatRun,
    reports: Sequence[Mapping],
    chats: Sequence[tuple],
    facts: ChatFacts,
    fake_stats: Mapping[str, int],
    log: WorldLog,
    timeline: Timeline,
    services: Mapping[str, ServiceLine],
) -> dict:
    """Return the chat figures of summary.json (and summary.txt): what people did and got, what the service recorded."""
    replies = [r for r in facts.first_replies if r is not None]
    answers = [a for r in reports for a in r["answer_replies"]]
    line_ms = log.line_latency()
    assigned = [c for c in chats if c[4]]
    abandoned = [c for c in chats if not c[4] and (c[2] in OPEN_STATUSES or c[3] in ("person_left", "left_in_intake", "idle"))]
    windows = {
        s: {"name": services[s].name if s in services else s, "held": n, "capacity_sns": facts.capacities.get(s, 0)}
        for s, n in sorted(facts.sampled_held.items(), key=lambda item: -item[1])
    }
    starts = log.chat_starts()
    return {
        "chat_share": run.share,
        "chats_expected": round(timeline.expected_chats(timeline.epoch0, timeline.epoch_end, run.share)),
        "chats_started": sum(starts.values()),
        "people": {
            "by_plan": dict(Counter(r["plan"] for r in reports)),
            "by_outcome": dict(Counter(r["outcome"] for r in reports)),
            "reached_a_counsellor": sum(1 for r in reports if r["reached_human"]),
            "handed_on": sum(r["transfers"] for r in reports),
            "left_open_on_purpose": sum(1 for r in reports if r["left_open"]),
            "late_over_1s": sum(1 for r in reports if r["late"] > 1),
        },
        "service": {
            "chats": len(chats),
            "reached_a_counsellor": len(assigned),
            "abandoned": len(abandoned),
            "by_status": dict(Counter(c[2] for c in chats)),
            "closed_by": dict(Counter(c[3] for c in chats if c[3])),
            "by_band": dict(Counter(c[5] for c in chats)),
        },
        "first_reply_s": _spread(replies),
        "intake_answer_reply_s": _spread(answers),
        "line_webhook_ms": {
            "requests": facts.webhook_requests,
            **{k: histogram_percentile(line_ms, f) for k, f in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        },
        "messages": {
            "stored_as_sent": facts.messages.stored_sent,
            "delivered": facts.messages.delivered,
            "lost": facts.messages.lost,
            "twice": facts.messages.extra,
            "unsent": dict(facts.messages.unsent),
            "held_back_after_a_block": facts.messages.held_back,
        },
        "fake_line": dict(fake_stats),
        "fake_line_answer_s": _spread(run.probe.seconds if run.probe else []) | {"max": round(max(run.probe.seconds, default=0.0), 4)}
        if run.probe
        else None,
        "counsellors": log.chat_actions(),
        "windows": windows,
        "held_after_drain": dict(facts.held_after_drain),
        "open_after_drain": dict(facts.open_after_drain),
    }


def _spread(values: Sequence[float]) -> dict[str, float | int]:
    return {"n": len(values), **{k: round(percentile(values, f), 4) for k, f in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}}
