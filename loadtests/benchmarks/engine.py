"""Benchmark: the routing engine against a per-contact SQL baseline, and snapshot rebuilds.

Run from the repository root:

    .venv/bin/python -m loadtests.benchmarks.engine [--contacts N] [--seed S] [--sql-sample M] [--check]

Everything is measured in one run, so the ratios are meaningful on a noisy shared machine.

1. Setup: build the regions and the demo directory (~1,800 services), store it in a fresh
   SQLite file in a temp dir (migrate + save_records) and build the snapshot.
2. Contacts (seeded): topics weighted (general most, crisis 5 %), voice 85 % / sns 15 %,
   region 10 % unknown / 10 % prefecture only / 80 % a municipality or ward; instants over
   2026 (60 % uniform, plus 15 % at night, 10 % on national holidays, 15 % in 年末年始);
   a Load per contact (in_use for ~30 % of services, so some are full; rotation counter).
3. engine: decide_route per decision, perf_counter_ns around each call after a warm-up:
   median, p90, p99, max in µs; decisions/s = N / the sum of the per-call times.
4. SQL baseline (sync sqlite3 on the same file; no async overhead, so fairer to SQL): one
   query per contact for the services with the topic and channel whose area is the nation,
   the prefecture, the municipality or its designated city, joined with their schedules;
   then hours compiled with snapshot.compile_hours, is_open_at, full ones dropped, ordered
   by the trial tier order, free slots, id. Timed over the first --sql-sample contacts and
   checked against decide_route (rotation=0, so equals are in id order in both): the two
   ordered service-id lists must be equal. The baseline does not compute open_until or
   build Candidate objects, which the engine does: the comparison favours SQL.
5. Ratios SQL / engine at the median and at p99 (step 3's engine figures), and as a
   cross-check the engine timed interleaved with SQL on the same sample, so that drift in
   machine load hits both sides alike.
6. Snapshot rebuild: build_snapshot over the demo records (best and median of 5), and the
   full reload path (load_directory from the database + build_snapshot).
7. Summary against the targets: engine p99 <= 50 µs; SQL / engine median >= 20x;
   build_snapshot <= 1 s (median). Exit code 0 unless something crashed; with --check,
   1 when a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from referral_directory import service as directory_service
from referral_directory.demo import demo_directory
from referral_directory.hours import JST, is_open_at, japanese_holidays
from referral_directory.records import NATION, ScheduleRecord, ServiceRecord
from referral_directory.regions import build_regions
from referral_directory.snapshot import build_snapshot, compile_hours
from referral_directory.storage import db
from routing import migrations
from routing.engine import TIER_ORDER, Contact, Load, decide_route

TOPIC_WEIGHTS = {"general": 35, "life": 14, "mind": 14, "family": 9, "youth": 6, "violence": 6, "crisis": 5, "sogi": 5, "foreign": 6}
YEAR_START = datetime(2026, 1, 1, tzinfo=JST)
YEAR_END_START = datetime(2026, 12, 29, tzinfo=JST)  # 年末年始: Dec 29 .. Jan 3
TARGET_P99_US, TARGET_RATIO, TARGET_REBUILD_S = 50.0, 20.0, 1.0
SQL = """
SELECT s.id, s.tier, s.holidays, c.capacity, sc.kind, sc.byday, sc.opens_at, sc.closes_at, sc.valid_from, sc.valid_to
FROM service s
JOIN service_topic t ON t.service_id = s.id AND t.topic = ?
JOIN service_channel c ON c.service_id = s.id AND c.channel = ?
LEFT JOIN schedule sc ON sc.service_id = s.id
WHERE s.status = 'active' AND s.id IN (SELECT service_id FROM service_area WHERE lgcode IN (?, ?, ?, ?))
ORDER BY s.id, sc.position
"""


def percentiles(ns: list[int]) -> dict[str, float]:
    """Median, p90, p99 and max of nanosecond timings, in µs (nearest rank)."""
    s = sorted(ns)
    at = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000  # noqa: E731
    return {"median": statistics.median(s) / 1000, "p90": at(0.90), "p99": at(0.99), "max": s[-1] / 1000}


def make_contacts(n, rng, regions, holidays, service_caps):  # type: ignore[no-untyped-def]
    """Return n (contact, instant, in_use) triples; see the module docstring for the mix."""
    topics, weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
    prefectures, municipalities = sorted(regions.prefectures), sorted(regions.municipalities)
    holiday_days = sorted(d for d in holidays if d.year == 2026)
    # A pool of live loads: each marks ~30 % of services busy, with 0..capacity sessions held.
    ids = sorted(service_caps)
    loads = [{sid: rng.randint(0, service_caps[sid]) for sid in rng.sample(ids, len(ids) * 3 // 10)} for _ in range(64)]
    out = []
    for _ in range(n):
        topic = rng.choices(topics, weights)[0]
        channel = "voice" if rng.random() < 0.85 else "sns"
        r = rng.random()
        if r < 0.10:
            contact = Contact(topic, channel)
        elif r < 0.20:
            contact = Contact(topic, channel, prefecture=rng.choice(prefectures))
        else:
            code = rng.choice(municipalities)
            contact = Contact(topic, channel, municipality=code, prefecture=code[:2])
        r, minute = rng.random(), rng.randrange(1440)
        if r < 0.60:
            at = YEAR_START + timedelta(minutes=rng.randrange(365 * 1440))
        elif r < 0.75:  # night: 22:00 .. 06:00
            at = YEAR_START + timedelta(days=rng.randrange(365), minutes=(22 * 60 + rng.randrange(480)))
        elif r < 0.85:
            at = datetime.combine(rng.choice(holiday_days), datetime.min.time(), JST) + timedelta(minutes=minute)
        else:
            at = YEAR_END_START + timedelta(days=rng.randrange(6), minutes=minute)
        out.append((contact, at, rng.choice(loads)))
    return out


def area_codes(contact: Contact, regions) -> tuple[str, str, str, str]:  # type: ignore[no-untyped-def]
    """The four lgcodes whose services reach a contact (padded with NATION)."""
    codes = [NATION]
    if contact.prefecture is not None:
        codes.append(regions.prefectures[contact.prefecture].lgcode)
    if contact.municipality is not None:
        municipality = regions.municipalities[contact.municipality]
        codes.append(municipality.lgcode)
        if municipality.city is not None:
            codes.append(regions.designated_cities[municipality.city].lgcode)
    return tuple(codes + [NATION] * (4 - len(codes)))  # type: ignore[return-value]


def sql_route(conn, contact, at, in_use, regions, holidays, tier_rank) -> list[str]:  # type: ignore[no-untyped-def]
    """The SQL baseline: the ordered ids of the open services with a free slot for this contact."""
    rows = conn.execute(SQL, (contact.topic, contact.channel, *area_codes(contact, regions))).fetchall()
    services: dict[str, tuple[str, str, int, list[ScheduleRecord]]] = {}
    for sid, tier, hol, capacity, kind, byday, opens_at, closes_at, valid_from, valid_to in rows:
        entry = services.setdefault(sid, (tier, hol, capacity, []))
        if kind is not None:
            entry[3].append(
                ScheduleRecord(
                    id="",
                    kind=kind,
                    byday=tuple(d for d in byday.split(",") if d),
                    opens_at=opens_at,
                    closes_at=closes_at,
                    valid_from=date.fromisoformat(valid_from) if valid_from else None,
                    valid_to=date.fromisoformat(valid_to) if valid_to else None,
                )
            )
    ranked = []
    for sid, (tier, hol, capacity, schedules) in services.items():
        record = ServiceRecord(
            id=sid, organization_id="", name="", tier=tier, topics=(), channels=(), areas=(), holidays=hol, schedules=tuple(schedules)
        )
        if not is_open_at(compile_hours(record), at, holidays):
            continue
        free = capacity - in_use.get(sid, 0)
        if free > 0:
            ranked.append((tier_rank.get(tier, 9), -free, sid))
    return [sid for _, _, sid in sorted(ranked)]


async def store(path: Path, records) -> None:  # type: ignore[no-untyped-def]
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrations.migrate(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await directory_service.save_records(session, records, actor="bench")
    finally:
        await engine.dispose()


async def reload_path(path: Path, regions, holidays, runs: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Time load_directory + build_snapshot, as Runtime.reload_snapshot does it; returns (load s, total s) per run."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    sessions, loads, totals = db.session_factory(engine), [], []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            async with sessions() as session:
                version = await directory_service.directory_version(session)
                records = await directory_service.load_directory(session)
            t1 = time.perf_counter()
            build_snapshot(records, regions, version=version, holidays=holidays, built_at=datetime.now(JST))
            loads.append(t1 - t0)
            totals.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return loads, totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="timed engine decisions (default 20,000)")
    parser.add_argument("--seed", type=int, default=20261226)
    parser.add_argument("--sql-sample", type=int, default=2_000, help="contacts for the SQL baseline (default 2,000)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    # 1. Setup.
    t0 = time.perf_counter()
    regions = build_regions()
    holidays = japanese_holidays(2025, 2028)
    records = demo_directory(regions)
    tmp = tempfile.TemporaryDirectory(prefix="tsunagu-bench-")
    path = Path(tmp.name) / "bench.db"
    asyncio.run(store(path, records))
    snapshot = build_snapshot(records, regions, version=1, holidays=holidays, built_at=datetime.now(JST))
    print(
        f"setup: {len(snapshot.services)} services, {len(regions.municipalities)} municipalities, "
        f"SQLite {path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s"
    )

    # 2. Contacts.
    caps = {s.id: max(dict(s.capacity).values(), default=0) for s in records.services}
    contacts = make_contacts(args.contacts, rng, regions, holidays, caps)

    # 3. Engine.
    for i, (contact, at, in_use) in enumerate(contacts[:2_000]):
        decide_route(snapshot, contact, at, Load(in_use, i))
    loads = [Load(in_use, i) for i, (_, _, in_use) in enumerate(contacts)]
    timings, outcomes, clock = [], {}, time.perf_counter_ns
    for (contact, at, _), load in zip(contacts, loads, strict=True):
        start = clock()
        decision = decide_route(snapshot, contact, at, load)
        timings.append(clock() - start)
        outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
    eng = percentiles(timings)
    rate = len(timings) / (sum(timings) / 1e9)
    print(
        f"\nengine decide_route over {len(timings):,} contacts (µs): median {eng['median']:.1f}  p90 {eng['p90']:.1f}"
        f"  p99 {eng['p99']:.1f}  max {eng['max']:.1f}  → {rate:,.0f} decisions/s"
    )
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    # What the preview pays: the decision plus its explanations (each candidate's open_until,
    # the next opening per tier when all is closed), which decide_route works out on first use.
    explained = []
    for (contact, at, _), load in zip(contacts, loads, strict=True):
        start = clock()
        decision = decide_route(snapshot, contact, at, load)
        _ = [candidate.open_until for candidate in decision.candidates], decision.next_openings
        explained.append(clock() - start)
    exp = percentiles(explained)
    print(f"  with explanations (open_until, next openings): median {exp['median']:.1f}  p90 {exp['p90']:.1f}  p99 {exp['p99']:.1f} µs")

    # 4. SQL baseline, sync sqlite3 on the same file; checked against the engine.
    sample = contacts[: args.sql_sample]
    conn = sqlite3.connect(str(path))
    tier_rank = {tier: i for i, tier in enumerate(TIER_ORDER["trial"])}
    for contact, at, in_use in sample[:200]:
        sql_route(conn, contact, at, in_use, regions, holidays, tier_rank)
    sql_timings, paired, matched, nonempty, mismatches = [], [], 0, 0, []
    for contact, at, in_use in sample:
        start = clock()
        got = sql_route(conn, contact, at, in_use, regions, holidays, tier_rank)
        sql_timings.append(clock() - start)
        load = Load(in_use, 0)
        start = clock()
        decision = decide_route(snapshot, contact, at, load)
        paired.append(clock() - start)
        want = [c.service_id for c in decision.candidates]
        matched += got == want
        nonempty += bool(want)
        if got != want and len(mismatches) < 3:
            mismatches.append((contact, at.isoformat(), got, want))
    conn.close()
    sql = percentiles(sql_timings)
    print(
        f"\nSQL baseline (sync sqlite3, one query + Python hours per contact) over {len(sample):,} contacts (µs): "
        f"median {sql['median']:.1f}  p90 {sql['p90']:.1f}  p99 {sql['p99']:.1f}  max {sql['max']:.1f}"
    )
    print(f"  same ordered candidates as decide_route: {matched}/{len(sample)} ({nonempty} with candidates)")
    for mismatch in mismatches:
        print(f"  MISMATCH {mismatch}")

    # 5. Ratios.
    ratio_median, ratio_p99 = sql["median"] / eng["median"], sql["p99"] / eng["p99"]
    pair = percentiles(paired)
    print(f"\nSQL / engine: median {ratio_median:.1f}x  p99 {ratio_p99:.1f}x")
    print(
        f"  cross-check, engine timed interleaved on the SQL sample (rotation=0): median {pair['median']:.1f} µs, "
        f"p99 {pair['p99']:.1f} µs → SQL / engine median {sql['median'] / pair['median']:.1f}x, "
        f"p99 {sql['p99'] / pair['p99']:.1f}x"
    )

    # 6. Snapshot rebuild.
    builds = []
    for _ in range(5):
        t0 = time.perf_counter()
        build_snapshot(records, regions, version=2, holidays=holidays, built_at=datetime.now(JST))
        builds.append(time.perf_counter() - t0)
    load_s, reload_s = asyncio.run(reload_path(path, regions, holidays, 5))
    build_median = statistics.median(builds)
    print(
        f"\nbuild_snapshot ({len(records.services)} services, 5 runs): best {min(builds) * 1e3:.0f} ms  median {build_median * 1e3:.0f} ms"
    )
    print(
        f"reload path (load_directory + build_snapshot, 5 runs): best {min(reload_s) * 1e3:.0f} ms  median "
        f"{statistics.median(reload_s) * 1e3:.0f} ms (of which load_directory median {statistics.median(load_s) * 1e3:.0f} ms)"
    )
    tmp.cleanup()

    # 7. Summary.
    results = [
        (f"engine p99 <= {TARGET_P99_US:.0f} µs", f"{eng['p99']:.1f} µs", eng["p99"] <= TARGET_P99_US),
        (f"SQL / engine median >= {TARGET_RATIO:.0f}x", f"{ratio_median:.1f}x", ratio_median >= TARGET_RATIO),
        (
            f"build_snapshot <= {TARGET_REBUILD_S:.0f} s (median)",
            f"{build_median * 1e3:.0f} ms (reload path {statistics.median(reload_s) * 1e3:.0f} ms)",
            build_median <= TARGET_REBUILD_S,
        ),
        ("SQL baseline answers as the engine", f"{matched}/{len(sample)}", matched == len(sample)),
    ]
    print("\n== summary ==")
    for name, value, ok in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<40} {value}")
    return 1 if args.check and not all(ok for _, _, ok in results) else 0


if __name__ == "__main__":
    sys.exit(main())
