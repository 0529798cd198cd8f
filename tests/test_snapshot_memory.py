"""A directory snapshot is kept out of garbage collections after every load (settings.freeze_gc), which is only safe
because a snapshot holds no reference cycle: a replaced one is freed by reference counting alone."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from referral_directory.demo import demo_directory
from referral_directory.hours import japanese_holidays
from referral_directory.regions import Regions
from referral_directory.snapshot import build_snapshot


def test_a_dropped_snapshot_leaves_no_cyclic_garbage(regions: Regions) -> None:
    records = demo_directory(regions)
    holidays = japanese_holidays(2026, 2028)
    gc.collect()
    before = len(gc.get_objects())
    snapshot = build_snapshot(records, regions, version=1, holidays=holidays, built_at=datetime.now(UTC))
    assert len(gc.get_objects()) > before + 10_000  # a real directory: tens of thousands of objects
    del snapshot
    assert gc.collect() == 0, "a snapshot with a reference cycle would stay in memory once frozen"
    assert len(gc.get_objects()) < before + 100
