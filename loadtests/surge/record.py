"""The simulated world's shared log, in the same redis-server the service uses (its own DB number, keys under surge:).

Every Locust process and the runner's callback legs write here, so the world sees all of them
at once: the dial stream (who rang which number, in Redis's own order), each finished call's
report, call attempts per real second, and how many calls are in progress or waiting to start;
for chats, each person's report, chats started per second, LINE webhook response times, the chat
counsellors' accounts still to be taken up and what they did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from redis import BlockingConnectionPool, Redis

from loadtests.surge.player import CallReport, DialEvent

PREFIX = "surge:"
KEYS = ("dials", "calls", "attempts", "active", "backlog", "skew", "lag", "latency")
DIALS, CALLS, ATTEMPTS, ACTIVE, BACKLOG, SKEW, LAG, LATENCY = (PREFIX + k for k in KEYS)
CHAT_KEYS = ("chats", "chat-starts", "chat-active", "chat-backlog", "line-latency", "chat-accounts", "chat-actions")
CHATS, CHAT_STARTS, CHAT_ACTIVE, CHAT_BACKLOG, LINE_LATENCY, CHAT_ACCOUNTS, CHAT_ACTIONS = (PREFIX + k for k in CHAT_KEYS)
WORLD_DB = 1  # the service uses DB 0
WORLD_CONNECTIONS = 500  # per process of the drill (Locust's, the runner's)


def world_url(redis_url: str) -> str:
    """Return the URL of the world's database on the service's redis-server."""
    return f"{redis_url}{'&' if '?' in redis_url else '?'}db={WORLD_DB}"


def world_redis(url: str) -> Redis:
    """A client of the world's Redis for every greenlet of a Locust process: they wait for a connection rather than fail.

    redis-py's pool refuses a 101st connection ("Too many connections"); a Locust process has a
    greenlet per caller, and hundreds wait in queues at once.
    """
    pool = BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=WORLD_CONNECTIONS, timeout=30)
    return Redis(connection_pool=pool)


class WorldLog:
    """Write and read the world's shared log."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @classmethod
    def from_url(cls, url: str) -> WorldLog:
        return cls(world_redis(url))

    def reset(self) -> None:
        """Forget everything from an earlier run."""
        self.redis.delete(*(PREFIX + k for k in (*KEYS, *CHAT_KEYS)))

    # -- writing (callers, callback legs, the counsellor) --

    def attempt(self, epoch: float) -> None:
        """Count one call attempt (an incoming call placed) in its real second."""
        self.redis.hincrby(ATTEMPTS, str(int(epoch)), 1)

    def dial(self, event: DialEvent) -> None:
        """Append a dial start or end; Redis orders the stream across every process."""
        self.redis.xadd(DIALS, {"n": event.number, "d": "1" if event.started else "0", "c": event.call_sid})

    def call_started(self) -> None:
        self.redis.incr(ACTIVE)

    def call_ended(self, report: CallReport, *, started: float, ended: float, late: float) -> None:
        """Record a finished call placed by a Locust line and count it out of the calls in progress (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(CALLS, _entry(report, started, ended, late))
        pipe.decr(ACTIVE)
        pipe.execute()

    def record_call(self, report: CallReport, *, started: float, ended: float, late: float) -> None:
        """Record a finished call played outside Locust (a callback leg)."""
        self.redis.rpush(CALLS, _entry(report, started, ended, late))

    def ticket_issued(self) -> None:
        self.redis.incr(BACKLOG)

    def ticket_taken(self) -> None:
        self.redis.decr(BACKLOG)

    def clock_seen(self, epoch: float, service_at: float, expected_at: float) -> None:
        """Record the service's clock (from the preview's `at`) against the simulated clock the load follows."""
        self.redis.rpush(SKEW, json.dumps({"t": round(epoch, 3), "service": service_at, "expected": expected_at}))

    def loop_lag(self, epoch: float, seconds: float) -> None:
        """Record how late a Locust process's event loop woke a sleeper (its CPU starvation) over the last second."""
        self.redis.rpush(LAG, f"{epoch:.1f} {seconds:.3f}")

    def add_latency(self, counts: Mapping[int, int]) -> None:
        """Add webhook response times (whole ms → how many) to the histogram of every process (one round trip)."""
        if not counts:
            return
        pipe = self.redis.pipeline(transaction=False)
        for ms, n in counts.items():
            pipe.hincrby(LATENCY, str(ms), n)
        pipe.execute()

    # -- chats (the people on LINE and the chat counsellors) --

    def chat_ticket_issued(self) -> None:
        self.redis.incr(CHAT_BACKLOG)

    def chat_started(self, epoch: float) -> None:
        """Count a chat started (a person took a ticket) in its real second, and in the chats in progress."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.decr(CHAT_BACKLOG)
        pipe.incr(CHAT_ACTIVE)
        pipe.hincrby(CHAT_STARTS, str(int(epoch)), 1)
        pipe.execute()

    def chat_ended(self, report: Mapping) -> None:
        """Record a person's finished chat (chat_users.ChatReport) and count it out of the chats in progress."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(CHATS, json.dumps(report, ensure_ascii=False))
        pipe.decr(CHAT_ACTIVE)
        pipe.execute()

    def add_line_latency(self, counts: Mapping[int, int]) -> None:
        """Add LINE webhook response times (whole ms → how many) to the histogram of every process."""
        if counts:
            pipe = self.redis.pipeline(transaction=False)
            for ms, n in counts.items():
                pipe.hincrby(LINE_LATENCY, str(ms), n)
            pipe.execute()

    def offer_chat_accounts(self, accounts: list[list[str]]) -> None:
        """Put the chat counsellors' accounts ([token, organisation]) where the ChatCounsellor users take them up."""
        self.redis.delete(CHAT_ACCOUNTS)
        if accounts:
            self.redis.rpush(CHAT_ACCOUNTS, *(json.dumps(a) for a in accounts))

    def take_chat_account(self) -> list[str] | None:
        """Return a chat counsellor's account no other user has taken, or None when every one is in use."""
        taken = self.redis.lpop(CHAT_ACCOUNTS)
        return json.loads(taken) if taken else None

    def chat_action(self, action: str, n: int = 1) -> None:
        self.redis.hincrby(CHAT_ACTIONS, action, n)

    def chat_demand(self) -> tuple[int, int]:
        """Return (chats in progress, chat arrivals waiting for a free person)."""
        active, backlog = self.redis.mget(CHAT_ACTIVE, CHAT_BACKLOG)
        return int(active or 0), int(backlog or 0)

    def chats(self) -> list[dict]:
        """Return every person's chat report."""
        return [json.loads(item) for item in self.redis.lrange(CHATS, 0, -1)]

    def chat_starts(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.redis.hgetall(CHAT_STARTS).items()}

    def line_latency(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.redis.hgetall(LINE_LATENCY).items()}

    def chat_actions(self) -> dict[str, int]:
        return {k: int(v) for k, v in sorted(self.redis.hgetall(CHAT_ACTIONS).items())}

    # -- reading (the shape, the runner) --

    def demand(self) -> tuple[int, int]:
        """Return (calls in progress, arrivals waiting for a free simulated line)."""
        active, backlog = self.redis.mget(ACTIVE, BACKLOG)
        return int(active or 0), int(backlog or 0)

    def dial_events(self, batch: int = 10_000) -> Iterator[tuple[str, bool, str]]:
        """Yield every (number, started, call sid) in stream order."""
        last = "-"
        while True:
            entries = self.redis.xrange(DIALS, min=last, count=batch)
            if last != "-":
                entries = entries[1:]
            if not entries:
                return
            for _, fields in entries:
                yield fields["n"], fields["d"] == "1", fields["c"]
            last = entries[-1][0]

    def calls(self) -> list[dict]:
        """Return every finished call's report."""
        return [json.loads(item) for item in self.redis.lrange(CALLS, 0, -1)]

    def attempts(self) -> dict[int, int]:
        """Return call attempts by real epoch second."""
        return {int(k): int(v) for k, v in self.redis.hgetall(ATTEMPTS).items()}

    def latency(self) -> dict[int, int]:
        """Return the webhook response-time histogram: whole ms → requests."""
        return {int(k): int(v) for k, v in self.redis.hgetall(LATENCY).items()}

    def loop_lags(self) -> list[float]:
        """Return every per-second loop lag recorded, in seconds."""
        return [float(item.split()[1]) for item in self.redis.lrange(LAG, 0, -1)]

    def clock_samples(self) -> list[dict]:
        return [json.loads(item) for item in self.redis.lrange(SKEW, 0, -1)]


def _entry(report: CallReport, started: float, ended: float, late: float) -> str:
    return json.dumps(
        {**report.to_json(), "started": round(started, 3), "ended": round(ended, 3), "late": round(late, 3)}, ensure_ascii=False
    )
