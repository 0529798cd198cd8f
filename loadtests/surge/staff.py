"""Create a surge drill's staff accounts: one counsellor per organisation in the directory, and an admin.

Run by the drill (loadtests/surge/drill.py) before the service starts, in the service's environment (the same
TSUNAGU_* settings), on the run's fresh database:

    .venv/bin/python -m loadtests.surge.staff OUT.json

It loads the demo directory into the empty database, as `tsunagu serve` would, and writes
{"admin": TOKEN, "desks": {ORGANISATION_ID: [TOKEN, TIER]}} to OUT.json. A tier is that of the
organisation's highest-tier service (national before prefecture before municipal). One process
and one transaction for some 1,800 accounts, where `tsunagu users add` would start 1,800 times.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from referral_directory.snapshot import Snapshot
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


async def create_staff() -> dict:
    runtime = await open_runtime(Settings(), demo=True, snapshot=True, watch=False)
    try:
        assert runtime.snapshot is not None
        desks = {}
        async with db.transaction(runtime.sessions) as session:
            _, admin = await add_user(session, runtime.regions, name="surge-admin", role="admin", organization_id=None, region_codes=())
            for org, tier in organisation_tiers(runtime.snapshot).items():
                _, token = await add_user(
                    session, runtime.regions, name=f"surge-{org}", role="counsellor", organization_id=org, region_codes=()
                )
                desks[org] = [token, tier]
        return {"admin": admin, "desks": desks}
    finally:
        await runtime.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m loadtests.surge.staff OUT.json", file=sys.stderr)
        return 2
    staff = asyncio.run(create_staff())
    Path(argv[0]).write_text(json.dumps(staff), encoding="utf-8")
    print(f"created {len(staff['desks'])} counsellors and an admin")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
