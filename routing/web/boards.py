"""The dashboard's two live boards: the windows open now that share a case worker's topics and region, with their
free lines; and, for supervisors, how many callers wait per topic in the voice queues their windows answer.

Which windows and which queues follows from the directory snapshot alone (the pure part, first); the free lines and
the waits are then read from Redis as routing sees them (routing/live/state.py), at the service clock's now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from referral_directory.hours import is_open_at
from referral_directory.records import CHANNELS, NATION, TIER_NAMES, TIERS
from referral_directory.snapshot import ServiceEntry, Snapshot
from referral_directory.staff.accounts import Role, Staff
from routing.cases.events import announced
from routing.cases.handoff import next_tier
from routing.contacts.rules import UNKNOWN_PREFECTURE, queue_name
from routing.runtime import Runtime
from routing.telephony.prompts import TOPIC_NAMES
from routing.web.case_views import works_cases
from routing.web.directory_views import hours_state, line_text

OPEN_SHOWN = 12  # windows the board lists before saying how many more are open


@dataclass(frozen=True)
class Reach:
    """What an organisation's windows answer: their topics, the prefectures they serve (None: the whole country), and
    the tier the organisation works at (the highest of its windows)."""

    topics: frozenset[str]
    prefectures: frozenset[str] | None
    tier: str | None


def reach_of(snapshot: Snapshot, org: str, channel: str | None = None) -> Reach:
    """Return what the organisation's windows (on one channel, or any) answer."""
    own = [s for s in snapshot.services.values() if s.organization_id == org and (channel is None or channel in s.channels)]
    areas = {a for s in own for a in s.areas}
    tiers = [s.tier for s in own if s.tier in TIERS]
    return Reach(
        topics=frozenset(t for s in own for t in s.topics),
        prefectures=None if NATION in areas else frozenset(a[:2] for a in areas),
        tier=min(tiers, key=TIERS.index) if tiers else None,
    )


def serves_region(entry: ServiceEntry, reach: Reach) -> bool:
    """Whether a window serves some of the organisation's region (a national window serves every region)."""
    return reach.prefectures is None or any(a == NATION or a[:2] in reach.prefectures for a in entry.areas)


def open_windows(snapshot: Snapshot, org: str, reach: Reach, now: datetime) -> list[ServiceEntry]:
    """Return the other organisations' windows open now that share a topic and a region with this one: the next tier
    of the chain first, then by tier and name (a stable order, whatever the lines do)."""
    found = [
        s
        for s in snapshot.services.values()
        if s.organization_id != org and s.topics & reach.topics and serves_region(s, reach) and is_open_at(s.hours, now, snapshot.holidays)
    ]
    wanted = next_tier(reach.tier) if reach.tier else None
    return sorted(found, key=lambda s: (s.tier != wanted, TIERS.index(s.tier) if s.tier in TIERS else len(TIERS), s.name))


def waiting_queues(reach: Reach, prefectures: Iterable[str]) -> dict[str, list[str]]:
    """Return, per topic the organisation answers by phone, the voice queues its callers wait in (one per prefecture it
    serves; a national window's callers include those whose place is unknown)."""
    served = sorted(reach.prefectures) if reach.prefectures is not None else [*sorted(prefectures), UNKNOWN_PREFECTURE]
    ordered = [t for t in TOPIC_NAMES if t in reach.topics] + sorted(reach.topics - set(TOPIC_NAMES))
    return {topic: [queue_name(topic, p) for p in served] for topic in ordered}


def waited_text(seconds: float) -> str:
    """Return how long someone has waited, as the pages say it: 1分未満, 4分, 1時間5分."""
    minutes = max(0, int(seconds // 60))
    if minutes < 1:
        return "1分未満"
    return f"{minutes}分" if minutes < 60 else f"{minutes // 60}時間{minutes % 60}分"


# --- what the boards show --------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenRow:
    name: str
    organization: str
    tier: str
    until: str
    lines: list[str]


@dataclass(frozen=True)
class WaitingRow:
    topic: str
    waiting: int
    longest: str


def _region_text(runtime: Runtime, reach: Reach) -> str:
    if reach.prefectures is None:
        return "全国"
    names = [runtime.regions.prefectures[p].name for p in sorted(reach.prefectures) if p in runtime.regions.prefectures]
    return "、".join(names)


async def open_board(runtime: Runtime, staff: Staff) -> dict:
    """Return the board of windows open now for the staff member's organisation: its rows, how many more are open, and
    the topics and region it was chosen by."""
    snapshot, org, now = runtime.snapshot, staff.organization_id or "", runtime.clock.now()
    if snapshot is None:
        return {"open_rows": [], "open_more": 0, "open_topics": "", "open_region": ""}
    reach = reach_of(snapshot, org)
    found = open_windows(snapshot, org, reach, now)
    shown = found[:OPEN_SHOWN]
    in_use = {c: await runtime.live.slots_in_use([s.id for s in shown], c) for c in CHANNELS}
    rows = [
        OpenRow(
            name=s.name,
            organization=s.organization,
            tier=TIER_NAMES.get(s.tier, s.tier),
            until=hours_state(s.hours, now, snapshot.holidays).text,
            lines=[line_text(c, s.capacity.get(c, 0), True, in_use[c].get(s.id, 0)) for c in CHANNELS if c in s.channels],
        )
        for s in shown
    ]
    return {
        "open_rows": rows,
        "open_more": len(found) - len(shown),
        "open_topics": "、".join(TOPIC_NAMES.get(t, t) for t in TOPIC_NAMES if t in reach.topics),
        "open_region": _region_text(runtime, reach),
    }


def sees_waiting(staff: Staff) -> bool:
    """Whether the staff member's dashboard shows the callers waiting (a supervisor of an organisation)."""
    return staff.role is Role.SUPERVISOR and bool(staff.organization_id)


async def waiting_board(runtime: Runtime, staff: Staff) -> dict:
    """Return the board of callers waiting per topic in the voice queues the staff member's organisation answers."""
    snapshot, now = runtime.snapshot, runtime.clock.now().timestamp()
    reach = reach_of(snapshot, staff.organization_id or "", "voice") if snapshot is not None else Reach(frozenset(), frozenset(), None)
    queues = waiting_queues(reach, runtime.regions.prefectures)
    loads = await runtime.live.queue_loads(key for keys in queues.values() for key in keys)
    rows = []
    for topic, keys in queues.items():
        found = [loads[k] for k in keys if k in loads]
        longest = waited_text(now - min(f.since for f in found)) if found else "—"
        rows.append(WaitingRow(TOPIC_NAMES.get(topic, topic), sum(f.waiting for f in found), longest))
    return {"waiting_rows": rows, "waiting_total": sum(r.waiting for r in rows), "waiting_region": _region_text(runtime, reach)}


async def live_context(runtime: Runtime, staff: Staff) -> dict:
    """Return what the whole dashboard adds for its live parts: the change count (read before the lists, so that any
    change committed after it reaches the page) and the boards; nothing for staff who work no cases."""
    if not works_cases(staff):
        return {"live": False}
    context = {"live": True, "live_seq": await announced(runtime, staff.organization_id or "")}
    context |= await open_board(runtime, staff)
    if sees_waiting(staff):
        context |= await waiting_board(runtime, staff)
    return context
