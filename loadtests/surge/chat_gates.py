"""The SNS gates of a surge run with chats: pure functions of what the run measured (see gates.py for the voice gates).

A run with chats passes only when, besides the voice gates, there is:
- no failed LINE webhook (every signed webhook the people sent answered 200);
- the LINE webhook's p99 at or under the target (over every webhook request of the people);
- the first automated reply's p99 under its target (from the first event sent to the first
  message delivered at the fake LINE platform; a person who never got one counts as too slow);
- no message lost or sent twice: every outbound message the service stored as sent is in its
  person's inbox at the fake (those LINE held back from people who had blocked the account
  excepted, at most as many as it held back), none is there more often than the service stored
  it, the fake counted no duplicate delivery, and none is left unsent (pending, failed, over the
  quota) for a person who did not block;
- no chat window over its capacity_sns in the sampled slot sets;
- nothing held after the drain: no chat slot, no counsellor's hold, no LINE inbox, and no chat
  left in its questions, waiting or talking but those whose people the drill left there on purpose.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from loadtests.surge.gates import DEFAULT_P99_MS, Gate, percentile

FIRST_REPLY_P99_S = 1.0


@dataclass(frozen=True)
class MessageCheck:
    """The service's outbound LINE messages against what reached the people's inboxes at the fake."""

    people: int
    stored_sent: int  # outbound messages the service stored as sent
    delivered: int  # messages in the people's inboxes
    lost: int  # stored as sent and not in the inbox (beyond what LINE held back from people who blocked)
    held_back: int  # stored as sent to people who had blocked, missing, and within what LINE held back
    extra: int  # in an inbox more often than the service stored it
    duplicates: int  # the fake's own count of messages delivered again
    unsent: Mapping[str, int]  # stored, never sent (pending, failed, quota), to people who did not block


@dataclass(frozen=True)
class ChatFacts:
    """Everything the SNS gates look at."""

    webhook_requests: int
    webhook_failures: Mapping[str, int]  # what failed → how often
    webhook_p99_ms: float | None
    first_replies: Sequence[float | None]  # seconds, per person who sent something (None: no reply ever came)
    messages: MessageCheck
    sampled_held: Mapping[str, int]  # service → most chat slots seen held at once
    capacities: Mapping[str, int]  # service → capacity_sns
    held_after_drain: Mapping[str, int]  # chat slot sets and counsellors' holds → leases left
    inboxes_after_drain: int  # LINE inboxes with events never processed
    open_after_drain: Mapping[str, int]  # status → chats still open whose person the drill did not leave there
    left_open: int  # chats still open whose person went quiet on purpose
    p99_target_ms: float = DEFAULT_P99_MS
    first_reply_target_s: float = FIRST_REPLY_P99_S
    names: Mapping[str, str] = field(default_factory=dict)


def count_messages(
    stored: Mapping[str, Sequence[tuple[str, str | None]]],
    inboxes: Mapping[str, Sequence[str]],
    blocked: Iterable[str],
    *,
    held_back_by_line: int,
    duplicates: int,
) -> MessageCheck:
    """Compare, person by person, the outbound messages the service stored ((text, delivery)) with the texts in their inbox.

    A text may rightly come twice (two stickers, two questions asked again), so the two are compared
    as multisets. LINE accepts but never delivers a message to someone who has blocked the account,
    and the service learns of the block only from its webhook: for those people, messages missing
    are explained up to the number the fake held back (held_back_by_line).
    """
    blocked = set(blocked)
    lost = missing_blocked = extra = stored_sent = delivered = 0
    unsent: Counter[str] = Counter()
    for person in sorted(set(stored) | set(inboxes)):
        rows = stored.get(person, ())
        sent = Counter(text for text, delivery in rows if delivery == "sent")
        got = Counter(inboxes.get(person, ()))
        missing = sum((sent - got).values())
        stored_sent += sum(sent.values())
        delivered += sum(got.values())
        extra += sum((got - Counter(text for text, _ in rows)).values())
        if person in blocked:
            missing_blocked += missing
        else:
            lost += missing
            unsent.update(delivery or "none" for _, delivery in rows if delivery not in ("sent", "blocked"))
    held_back = min(missing_blocked, held_back_by_line)
    return MessageCheck(
        len(set(stored) | set(inboxes)), stored_sent, delivered, lost + missing_blocked - held_back, held_back, extra, duplicates, unsent
    )


def chat_gates(chats: ChatFacts) -> list[Gate]:
    """Return the SNS gates' verdicts, in a fixed order."""
    failed = sum(chats.webhook_failures.values())
    worst = sorted(chats.webhook_failures.items(), key=lambda item: -item[1])[:8]
    gates = [
        Gate(
            "no failed LINE webhook",
            failed == 0 and chats.webhook_requests > 0,
            f"{chats.webhook_requests} webhooks, {failed} failed",
            tuple(f"{n} × {what}" for what, n in worst),
        )
    ]
    p99 = chats.webhook_p99_ms
    gates.append(
        Gate(
            "LINE webhook p99",
            p99 is not None and p99 <= chats.p99_target_ms,
            "no webhook requests" if p99 is None else f"p99 {p99:g} ms (target ≤ {chats.p99_target_ms:g} ms)",
        )
    )
    replies = [math.inf if r is None else r for r in chats.first_replies]
    never = sum(1 for r in chats.first_replies if r is None)
    first = percentile(replies, 0.99) if replies else None
    figures = "no chats" if first is None else f"p99 {_seconds(first)} over {len(replies)} chats, {never} never answered"
    gates.append(
        Gate(
            "first automated reply p99",
            first is not None and first < chats.first_reply_target_s,
            f"{figures} (target < {chats.first_reply_target_s:g} s)",
        )
    )
    m = chats.messages
    problems = [
        f"{what}: {n}"
        for what, n in (
            ("stored as sent, never delivered", m.lost),
            ("delivered more often than stored", m.extra),
            ("delivered again (the fake's count)", m.duplicates),
            *((f"left {status}", n) for status, n in sorted(m.unsent.items())),
        )
        if n
    ]
    gates.append(
        Gate(
            "no message lost or sent twice",
            not problems and m.people > 0,
            f"{m.stored_sent} stored as sent to {m.people} people, {m.delivered} delivered; {m.lost} lost, "
            f"{m.extra + m.duplicates} twice, {sum(m.unsent.values())} unsent; {m.held_back} held back by LINE after a block",
            tuple(problems),
        )
    )
    over = [
        f"{chats.names.get(s, s)}: {held} chat slots held, capacity_sns {chats.capacities.get(s, 0)}"
        for s, held in sorted(chats.sampled_held.items())
        if held > chats.capacities.get(s, 0)
    ]
    full = sum(1 for s, held in chats.sampled_held.items() if held >= chats.capacities.get(s, 0) > 0)
    gates.append(
        Gate(
            "no chat window over capacity_sns",
            not over,
            f"{len(chats.sampled_held)} windows held chats, {full} reached capacity, {len(over)} over it",
            tuple(over),
        )
    )
    held, still_open = sum(chats.held_after_drain.values()), sum(chats.open_after_drain.values())
    details = tuple(f"{key}: {n}" for key, n in sorted(chats.held_after_drain.items()))
    details += tuple(f"{n} chat(s) still {status}" for status, n in sorted(chats.open_after_drain.items()))
    if chats.inboxes_after_drain:
        details += (f"{chats.inboxes_after_drain} LINE inbox(es) never drained",)
    gates.append(
        Gate(
            "no chat held after drain",
            held == 0 and still_open == 0 and chats.inboxes_after_drain == 0,
            f"{held} chat slot(s) or hold(s), {chats.inboxes_after_drain} inbox(es), {still_open} chat(s) open "
            f"({chats.left_open} left open on purpose by people who went quiet)",
            details,
        )
    )
    return gates


def _seconds(value: float) -> str:
    return "never" if value == math.inf else f"{value:.3f} s"
