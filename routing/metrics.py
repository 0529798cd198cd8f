"""Prometheus metrics: calls by outcome and topic, webhook latency, waiting, and (read live from Redis) slots per tier."""

from __future__ import annotations

import hmac
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from referral_directory.errors import NotFound, Unauthorized

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def check_scraper(token: str, presented: str | None) -> None:
    """Let only Prometheus read the metrics (they show counts of 1 and 2 with their times, which statistics suppress).

    Without a configured token nobody may: 404, as for a path that does not exist. With one, the
    request must carry it as a bearer token (401 otherwise).
    """
    if not token:
        raise NotFound("Not Found")
    if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
        raise Unauthorized("metrics need `Authorization: Bearer` with TSUNAGU_METRICS_TOKEN")


class Metrics:
    """One set of metrics per app. With several workers, PROMETHEUS_MULTIPROC_DIR makes them add up."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("tsunagu_calls", "Calls ended, by outcome and topic", ["outcome", "topic"], registry=self.registry)
        self.webhook_seconds = Histogram(
            "tsunagu_webhook_seconds",
            "Time to answer a Twilio webhook",
            ["step"],
            registry=self.registry,
            # 75 ms: the surge drills read the service's own p99 off these, and the target is 100 ms
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.fallbacks = Counter(
            "tsunagu_webhook_fallbacks",
            "Webhooks answered with the fallback number, by why: error, timeout, malformed (a field missing), unknown_call",
            ["step", "reason"],
            registry=self.registry,
        )
        self.sheds = Counter(
            "tsunagu_webhook_sheds",
            "Webhooks answered at once without their work because the worker was behind (the caller is asked again or keeps waiting)",
            ["step"],
            registry=self.registry,
        )
        # Call records written behind (routing/telephony/record_log.py): how they were kept, and the drainer's work.
        self.records_kept = Counter(
            "tsunagu_call_records_kept",
            "Call records kept by the status callback, by where: stream (Redis), database (Redis failed), spool (both failed)",
            ["where"],
            registry=self.registry,
        )
        self.records_drained = Counter("tsunagu_call_records_drained", "Queued call records written to SQL", registry=self.registry)
        self.record_retries = Counter(
            "tsunagu_call_records_retries", "Drainer rounds that failed and will be retried", registry=self.registry
        )
        self.status_failures = Counter(
            "tsunagu_status_callback_failures", "Status callbacks whose work failed (answered 204 all the same)", registry=self.registry
        )
        self.wait_seconds = Histogram(
            "tsunagu_wait_seconds",
            "How long callers waited for a free line",
            registry=self.registry,
            buckets=(0, 20, 40, 60, 120, 180, 300, 600, 1200),
        )

        # SNS consultations: how chats go, and how LINE is used (replies are free; pushes count against a quota).
        self.chat_sends = Counter(
            "tsunagu_chat_sends",
            "Messages sent to people on LINE, by how: reply, push, quota (429), failed",
            ["how"],
            registry=self.registry,
        )
        self.line_webhook_seconds = Histogram(
            "tsunagu_line_webhook_seconds",
            "Time to acknowledge a LINE webhook (signature, dedupe, enqueue)",
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.chats = Counter(
            "tsunagu_chats",
            "Chats ended, by how they ended, their band and whether a counsellor had taken them (reached: yes or no)",
            ["reason", "band", "reached"],
            registry=self.registry,
        )
        self.chat_first_reply_seconds = Histogram(
            "tsunagu_chat_first_reply_seconds",
            "From a person's first message to the first automated answer",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
        )
        self.line_event_seconds = Histogram(
            "tsunagu_line_event_seconds",
            "A LINE event after the webhook answered, by stage: waited (in its inbox, for a drainer), person (applied to the chat), send",
            ["stage"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.chat_first_human_seconds = Histogram(
            "tsunagu_chat_first_human_seconds",
            "From joining a queue to a counsellor's first message, by band",
            ["band"],
            registry=self.registry,
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
        )

    def render(
        self, slots: dict[str, tuple[int, int]], waiting: int, chats: dict[str, int] | None = None, records_queued: int | None = None
    ) -> bytes:
        """Return the exposition text: this process's (or every worker's) metrics, plus live state from Redis."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        # Live state is read from Redis at scrape time, the same for every worker: written as plain
        # gauges here rather than as client objects, which multiprocess mode would store per process.
        lines = [
            "# HELP tsunagu_slots_in_use Voice slots held now, by tier",
            "# TYPE tsunagu_slots_in_use gauge",
            *(f'tsunagu_slots_in_use{{tier="{tier}"}} {float(held)}' for tier, (held, _) in sorted(slots.items())),
            "# HELP tsunagu_slots_capacity Voice slots of active services, by tier",
            "# TYPE tsunagu_slots_capacity gauge",
            *(f'tsunagu_slots_capacity{{tier="{tier}"}} {float(total)}' for tier, (_, total) in sorted(slots.items())),
            "# HELP tsunagu_queue_length Callers waiting for a free line now",
            "# TYPE tsunagu_queue_length gauge",
            f"tsunagu_queue_length {float(waiting)}",
            "# HELP tsunagu_chats_held Chats in progress now, held by counsellors",
            "# TYPE tsunagu_chats_held gauge",
            f"tsunagu_chats_held {float(sum((chats or {}).values()))}",
            "# HELP tsunagu_counsellors_chatting Counsellors holding at least one chat now (chats per counsellor: held / this)",
            "# TYPE tsunagu_counsellors_chatting gauge",
            f"tsunagu_counsellors_chatting {float(len(chats or {}))}",
        ]
        if records_queued is not None:
            lines += [
                "# HELP tsunagu_call_records_queued Call records waiting in Redis to be written to SQL (the drainer's backlog)",
                "# TYPE tsunagu_call_records_queued gauge",
                f"tsunagu_call_records_queued {float(records_queued)}",
            ]
        return generate_latest(registry) + ("\n".join(lines) + "\n").encode()
