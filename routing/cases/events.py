"""What the dashboards hear when a case or a referral changes: which of an organisation's lists to read again.

An event names the case, the referral and its status, and the lists that changed; never a text, a
name or a number. It is published on the organisation's channel (routing/live/keys.py) only once
the change is committed (db.after_commit), numbered per organisation in the same step
(routing/live/lua/announce_changes.lua), so a page that sees a number skipped knows it missed
one. The dashboard's stream relays it (routing/web/dashboard_live.py) and the page reads the
named lists again, rendered by the server as on a reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.storage import db
from routing.cases.handoff import LIVE_FOR_RECEIVER
from routing.cases.models import Case, Referral
from routing.live.keys import dashboard_channel, dashboard_count_key

if TYPE_CHECKING:
    from routing.runtime import Runtime

log = structlog.get_logger("tsunagu.cases")
List = Literal["cases", "inbox", "outbox"]


@dataclass(frozen=True, slots=True)
class Change:
    """One organisation's lists that changed, and the case (and referral) they changed for."""

    org: str
    lists: tuple[List, ...]
    case: str
    referral: str | None = None
    status: str | None = None

    def event(self) -> str:
        """Return the event its dashboards hear: ids, a status and list names only."""
        fields: dict[str, object] = {"event": "change", "case": self.case, "lists": list(self.lists)}
        if self.referral is not None:
            fields |= {"referral": self.referral, "status": self.status}
        return json.dumps(fields)


def referral_changes(referral: Referral, *, made_on: Case | None = None, chain: Sequence[Referral] = ()) -> list[Change]:
    """Return who hears of a referral answered, or made on a case (`made_on`, with its `chain` before it): the receiver
    (its inbox, and its cases: the case comes or goes) and the sender (its outbox); a new referral updates the case,
    so the sender and the case's other windows read their cases again too."""
    status = referral.status
    told = [
        Change(referral.to_org, ("inbox", "cases"), referral.case_id, referral.id, status),
        Change(referral.from_org, ("outbox", "cases") if made_on else ("outbox",), referral.case_id, referral.id, status),
    ]
    if made_on is not None:
        told += [c for c in case_changes(made_on, chain) if c.org not in (referral.to_org, referral.from_org)]
    return told


def case_changes(case: Case, referrals: Sequence[Referral] = ()) -> list[Change]:
    """Return who hears that a case opened or changed (its topic, risk or last update): its holder, and every window
    whose case list shows it because it was referred there."""
    orgs = dict.fromkeys([case.holder_org, *(r.to_org for r in referrals if r.status in LIVE_FOR_RECEIVER)])
    return [Change(org, ("cases",), case.id) for org in orgs]


def tell_after_commit(session: AsyncSession, runtime: Runtime, changes: Iterable[Change]) -> None:
    """Have the changes announced to their organisations' dashboards once the session's transaction commits."""
    told = list(changes)

    async def announce_them() -> None:
        await announce(runtime, told)

    db.after_commit(session, announce_them)


async def announce(runtime: Runtime, changes: Sequence[Change]) -> None:
    """Publish committed changes on their organisations' channels, each numbered; a failure is logged, never raised
    (the change is stored; the dashboards catch up at their next change or reload)."""
    if not changes:
        return
    keys = [dashboard_count_key(c.org) for c in changes]
    args = [part for c in changes for part in (dashboard_channel(c.org), c.event())]
    try:
        await runtime.live.batched("announce_changes", keys, args)
    except Exception as error:
        log.warning("dashboard_change_not_announced", changes=len(changes), error=type(error).__name__)


async def announced(runtime: Runtime, org: str) -> int:
    """Return how many changes the organisation's dashboards have been told of so far (a page reads it before its lists)."""
    return int(await runtime.redis.get(dashboard_count_key(org)) or 0)
