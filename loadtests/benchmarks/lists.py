"""The dashboard's lists cost the same on a young database and on one a year old.

    .venv/bin/python -m loadtests.benchmarks.lists [--small 5000] [--large 50000] [--reads 200] [--check]

Builds two SQLite databases through the real migrations: one where the national window has
taken --small cases (a month or so), one where it has taken --large (a year), each with one
referral in ten passed on to a prefecture, half of them to the busiest one (most of them closed).
Every list is full (200 rows) on both, so each reads as many rows. Then reads, through
tsunagu's engine and the queries the API runs, the lists counsellors' dashboards refresh: the
national window's case list and referral outbox, the busiest prefecture's inbox and case list.

Target: the national window's lists and the prefecture's inbox read in index order, so their
median read time on the large database is at most twice that on the small one, measured in the
same run. (Before migration 0007 the national case list read and sorted every case the window ever
held: about 8× here.) The prefecture's case list is reported, not targeted: the cases referred to
it are found through its referrals and sorted by their last activity, a cost that grows with the
referrals it received (about 250 and 2,500 here), a few milliseconds per thousand.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory import models  # noqa: F401  (registers the directory's tables)
from referral_directory.storage import db
from routing import migrations
from routing.cases.models import Case, Referral, new_case_id
from routing.cases.service import CASE_LIST, referral_box_query
from routing.settings import async_database_url

TARGET_RATIO = 2.0
NATIONAL, PREFECTURES = "org-national", [f"org-pref-{n:02d}" for n in range(1, 48)]
BUSIEST = PREFECTURES[12]
START = datetime(2027, 1, 4, tzinfo=UTC)
UNTARGETED = {"prefecture case list"}
LISTS: dict[str, Callable[[], tuple]] = {  # name → (statement, parameters)
    "national case list": lambda: (CASE_LIST, {"org": NATIONAL}),
    "national outbox": lambda: (referral_box_query(NATIONAL, "outbox"), {}),
    "prefecture case list": lambda: (CASE_LIST, {"org": BUSIEST}),
    "prefecture inbox": lambda: (referral_box_query(BUSIEST, "inbox"), {}),
}


def rows_for(cases: int, seed: int = 7) -> tuple[list[dict], list[dict]]:
    """Return case and referral rows: the national window answered them all, one in ten referred on."""
    rng = random.Random(seed)
    case_rows, referral_rows = [], []
    for i in range(cases):
        at = START + timedelta(minutes=10 * i)  # a year is about 50,000 cases at this pace
        case_id = new_case_id()
        case_rows.append(
            dict(
                id=case_id,
                channel="voice",
                call_ref=uuid.uuid4().hex,
                topic="general",
                topics=[],
                holder_org=NATIONAL,
                holder_tier="national",
                opened_at=at,
                updated_at=at,
                contact_sealed="",
            )
        )
        if rng.random() < 0.1:
            referral_rows.append(
                dict(
                    id=str(uuid.uuid4()),
                    case_id=case_id,
                    hop=1,
                    kind="refer",
                    from_org=NATIONAL,
                    from_tier="national",
                    to_org=BUSIEST if rng.random() < 0.5 else rng.choice(PREFECTURES),
                    to_service="svc",
                    to_tier="prefecture",
                    share="none",
                    status=rng.choice(["closed"] * 8 + ["declined", "accepted"]),
                    created_by="bench",
                    created_at=at,
                )
            )
    return case_rows, referral_rows


async def read_times(session: AsyncSession, name: str, reads: int) -> float:
    """Return the median time, in ms, of one read of the named list (rows fetched)."""
    statement, parameters = LISTS[name]()
    (await session.execute(statement, parameters)).all()  # warm: compiled and cached
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        (await session.execute(statement, parameters)).all()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


async def measure(cases: int, reads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        engine = db.create_engine(async_database_url(f"sqlite:///{Path(directory) / 'lists.db'}"))
        try:
            await migrations.migrate(engine)
            sessions = db.session_factory(engine)
            case_rows, referral_rows = rows_for(cases)
            async with db.transaction(sessions) as session:
                await session.execute(insert(Case.__table__), case_rows)
                await session.execute(insert(Referral.__table__), referral_rows)
            async with sessions() as session:
                return {name: await read_times(session, name, reads) for name in LISTS}
        finally:
            await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=5000, help="cases in the young database (default 5000)")
    parser.add_argument("--large", type=int, default=50000, help="cases in the year-old database (default 50000)")
    parser.add_argument("--reads", type=int, default=200, help="reads of each list (default 200)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    small = asyncio.run(measure(args.small, args.reads))
    large = asyncio.run(measure(args.large, args.reads))
    print(f"{'list':<22} {args.small:>7} cases {args.large:>7} cases   ratio")
    ratios = {}
    for name in LISTS:
        ratio = large[name] / max(small[name], 1e-6)
        if name not in UNTARGETED:
            ratios[name] = ratio
        note = "  (reported, no target: grows with the referrals received)" if name in UNTARGETED else ""
        print(f"{name:<22} {small[name]:10.2f} ms {large[name]:10.2f} ms {ratio:6.2f}×{note}", flush=True)
    worst = max(ratios, key=ratios.__getitem__)
    passed = ratios[worst] <= TARGET_RATIO
    print("\nSummary")
    print(
        f"  {'PASS' if passed else 'FAIL'}  national lists and inbox: "
        f"read time at {args.large:,} cases / at {args.small:,} ≤ {TARGET_RATIO:.0f}×"
    )
    print(f"        worst {ratios[worst]:.2f}× ({worst}: {small[worst]:.2f} ms → {large[worst]:.2f} ms)")
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
