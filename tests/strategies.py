"""Hypothesis strategies for directory records that validate: for round-trip properties."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta

from builders import make_schedule, make_service
from hypothesis import strategies as st

from referral_directory.records import CHANNELS, NATION, TIERS, TOPICS, WEEKDAYS, ScheduleRecord, ServiceRecord, derived_id

AREAS = st.sampled_from([NATION, "130001", "131016", "131041", "271004", "270008", "011002"])
OPENS = st.sampled_from(["00:00", "06:30", "09:00", "17:15", "22:00"])
CLOSES = st.sampled_from(["02:00", "08:00", "12:00", "17:15", "20:00", "24:00"])


def in_order(members: set[str], order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for m in order if m in members)


@st.composite
def schedules(draw: st.DrawFn, key: str) -> ScheduleRecord:
    """Return a weekly, dated-opening or closure schedule whose id derives from key."""
    kind = draw(st.sampled_from(["weekly", "open", "closed"]))
    start = date(2026, 12, 1) + timedelta(days=draw(st.integers(0, 60)))
    dates = {"valid_from": start, "valid_to": start + timedelta(days=draw(st.integers(0, 10)))}
    if kind == "closed":
        return make_schedule(id=derived_id(key), kind=kind, **dates)
    opens = draw(OPENS)
    closes = draw(CLOSES.filter(lambda t: t != opens))
    days = in_order(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1)), WEEKDAYS)
    hours = {"byday": days, "opens_at": opens, "closes_at": closes}
    return make_schedule(id=derived_id(key), kind=kind, **hours, **(dates if kind == "open" else {}))


@st.composite
def services(draw: st.DrawFn, index: int) -> ServiceRecord:
    """Return a valid service named after index, with up to three schedules (at least one opening)."""
    channels = in_order(draw(st.sets(st.sampled_from(CHANNELS), min_size=1)), CHANNELS)
    weekly = make_schedule(id=derived_id("weekly", str(index)))
    return make_service(
        name=f"窓口{index}",
        tier=draw(st.sampled_from(TIERS)),
        topics=in_order(draw(st.sets(st.sampled_from(TOPICS), min_size=1)), TOPICS),
        channels=channels,
        capacity=tuple((c, draw(st.integers(0, 50))) for c in channels),
        areas=tuple(sorted(draw(st.sets(AREAS, min_size=1)))),
        holidays=draw(st.sampled_from(["closed", "open"])),
        status=draw(st.sampled_from(["active", "inactive"])),
        sns_url="https://sns.example.jp/q" if "sns" in channels else "",
        schedules=(weekly, *_distinct(draw(schedules(f"{index}.{i}")) for i in range(draw(st.integers(0, 2))))),
    )


def _distinct(drawn: Iterable[ScheduleRecord]) -> list[ScheduleRecord]:
    """Return the schedules without repeats of the same content: a sheet refuses an entry listed twice."""
    unique = {replace(s, id=""): s for s in drawn}
    return [s for key, s in unique.items() if key != replace(make_schedule(), id="")]


def valid_services() -> st.SearchStrategy[tuple[ServiceRecord, ...]]:
    """Return one to three valid services with distinct ids."""
    return st.integers(1, 3).flatmap(lambda n: st.tuples(*(services(i) for i in range(n))))
