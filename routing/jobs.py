"""The periodic work, in one table: which loops run, how often, and how long one round may hold its lock.

`tsunagu serve` runs them in role `all` (beside HTTP) and `jobs` (alone); role `web` runs none. Every
loop takes the same round lock (routing/live/leader.py), so each round runs in one process of the
deployment however many workers or `jobs` processes there are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from twilio.rest import Client

from referral_directory.storage import db
from routing.cases.rules import SWEEP_SECONDS, sweep_referrals
from routing.chats import keeper
from routing.chats.hub import ChatHub
from routing.contacts import reconciler
from routing.live.leader import leads_round
from routing.privacy.purge import CHECK_SECONDS, purge_if_due
from routing.runtime import CHECKPOINT_SECONDS, Runtime
from routing.telephony import record_log
from routing.telephony.callbacks import dispatch_once


@dataclass(frozen=True)
class Loop:
    """One periodic job: its name (logs and lock), one round of its work, its period, and the longest a round may hold the lock."""

    name: str
    work: Callable[[], Awaitable[object]]
    every: float
    hold: float
    wait_first: bool = False  # the first round comes after one period (start-up stays quick)


def background_loops(runtime: Runtime, twilio: Client | None, hub: ChatHub) -> list[Loop]:
    """Return every periodic job this deployment runs: call records, chats, slots, purges, overdue referrals, SQLite checkpoints,
    callbacks."""
    settings = runtime.settings
    records = record_log.RecordDrainer(runtime.redis, runtime.engine, settings.var_dir, runtime.metrics)
    loops = [
        Loop("call_records", records.drain_once, every=record_log.EVERY_SECONDS, hold=record_log.ROUND_SECONDS + 20),
        Loop("chat_keeper", lambda: keeper.keep_chats(runtime, hub), every=keeper.EVERY_SECONDS, hold=keeper.EVERY_SECONDS * 6),
        Loop("reconcile", lambda: reconciler.reconcile_once(runtime, twilio), every=settings.reconcile_seconds, hold=120),
        Loop("purge", lambda: purge_if_due(runtime), every=min(CHECK_SECONDS, settings.purge_every_seconds), hold=600, wait_first=True),
        Loop("referral_sweep", lambda: sweep_referrals(runtime), every=SWEEP_SECONDS, hold=60),
    ]
    if runtime.engine.dialect.name == "sqlite":
        # One process checkpoints the file for all: the others' commits leave the log to it (open_runtime's `serving`).
        loops.append(Loop("checkpoint", lambda: db.checkpoint(runtime.engine), every=CHECKPOINT_SECONDS, hold=10))
    if twilio is not None:
        loops.append(Loop("callback_dispatch", lambda: dispatch_once(runtime, twilio), every=settings.callback_seconds, hold=30))
    return loops


def start_loops(runtime: Runtime, loops: list[Loop]) -> None:
    """Run each loop in the background for as long as the runtime lives, each round under its round lock."""
    for loop in loops:
        runtime.repeat(loop.name, _under_lock(runtime, loop), every=loop.every, wait_first=loop.wait_first)


def _under_lock(runtime: Runtime, loop: Loop) -> Callable[[], Awaitable[bool]]:
    return lambda: leads_round(runtime.redis, loop.name, loop.work, every=loop.every, hold=loop.hold)
