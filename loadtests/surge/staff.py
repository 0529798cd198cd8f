"""Create a surge drill's staff accounts: one counsellor per organisation in the directory, chat counsellors, and an admin.

Run by the drill (loadtests/surge/drill.py) before the service starts, in the service's environment (the same
TSUNAGU_* settings), on the run's fresh database:

    .venv/bin/python -m loadtests.surge.staff OUT.json

It loads the demo directory into the empty database, as `tsunagu serve` would, and writes
{"admin": TOKEN, "desks": {ORGANISATION_ID: [TOKEN, TIER]}, "chat_desks": [[TOKEN, ORGANISATION_ID], ...],
"chat_cap": N} to OUT.json. A tier is that of the organisation's highest-tier service (national
before prefecture before municipal). The organisations whose services answer chats in tsunagu's
console (channel sns, a capacity, no `sns_url`: the same rule as routing.chats.desk.console_windows)
get chat counsellors besides: enough, at TSUNAGU_CHAT_CAP chats each, to fill every line of their
windows, and one more, so that the windows' capacity and not the counsellors is what binds. One
process and one transaction for some 1,900 accounts, where `tsunagu users add` would start 1,900 times.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

from referral_directory.snapshot import ServiceEntry, Snapshot
from referral_directory.staff.accounts import add_user
from referral_directory.storage import db
from routing.runtime import open_runtime
from routing.settings import Settings

TIERS = ("national", "prefecture", "municipal")


def organisation_tiers(snapshot: Snapshot) -> dict[str, str]:
    """Return each organisation with a service, and its highest tier."""
    tiers: dict[str, str] = {}
    for entry in snapshot.services.values():
        known = tiers.get(entry.organization_id)
        if entry.organization_id and (known is None or TIERS.index(entry.tier) < TIERS.index(known)):
            tiers[entry.organization_id] = entry.tier
    return dict(sorted(tiers.items()))


def chat_counsellors(services: Iterable[ServiceEntry], cap: int) -> dict[str, int]:
    """Return, per organisation answering chats in tsunagu's console, how many chat counsellors fill its lines and one more."""
    lines: dict[str, int] = {}
    for entry in services:
        capacity = entry.capacity.get("sns", 0)
        if entry.organization_id and "sns" in entry.channels and not entry.sns_url and capacity > 0:
            lines[entry.organization_id] = lines.get(entry.organization_id, 0) + capacity
    return {org: math.ceil(n / max(1, cap)) + 1 for org, n in sorted(lines.items())}


async def create_staff() -> dict:
    settings = Settings()
    runtime = await open_runtime(settings, demo=True, snapshot=True, watch=False)
    try:
        assert runtime.snapshot is not None
        desks, chat_desks = {}, []
        async with db.transaction(runtime.sessions) as session:
            _, admin = await add_user(session, runtime.regions, name="surge-admin", role="admin", organization_id=None, region_codes=())
            for org, tier in organisation_tiers(runtime.snapshot).items():
                _, token = await add_user(
                    session, runtime.regions, name=f"surge-{org}", role="counsellor", organization_id=org, region_codes=()
                )
                desks[org] = [token, tier]
            for org, n in chat_counsellors(runtime.snapshot.services.values(), settings.chat_cap).items():
                for i in range(n):
                    _, token = await add_user(
                        session, runtime.regions, name=f"surge-chat-{i}-{org}", role="counsellor", organization_id=org, region_codes=()
                    )
                    chat_desks.append([token, org])
        return {"admin": admin, "desks": desks, "chat_desks": chat_desks, "chat_cap": settings.chat_cap}
    finally:
        await runtime.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m loadtests.surge.staff OUT.json", file=sys.stderr)
        return 2
    staff = asyncio.run(create_staff())
    Path(argv[0]).write_text(json.dumps(staff), encoding="utf-8")
    print(f"created {len(staff['desks'])} counsellors, {len(staff['chat_desks'])} chat counsellors and an admin")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
