"""One day of routing (routing/timeline.py): who answers a こころ contact in 千代田区 at each moment, on a small world.

The world: a national general line all day, a national こころ line 17:00-22:00, 東京都's window for こころ
and general on weekdays 9:00-17:00 (closed for 年末年始), and 千代田区's overnight こころ window,
every day 20:00-02:00.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from builders import make_records, make_schedule, make_service

from referral_directory.hours import JST, japanese_holidays
from referral_directory.records import NATION, WEEKDAYS, derived_id
from referral_directory.regions import Regions
from referral_directory.snapshot import Snapshot, build_snapshot
from routing.engine import Contact
from routing.timeline import day_timeline
from routing.web import timeline_view

NEW_YEAR = make_schedule(kind="closed", valid_from="2026-12-29", valid_to="2027-01-03")


def service(name: str, tier: str, area: str, topics: tuple[str, ...], *schedules, holidays: str = "open"):
    return make_service(
        id=derived_id("timeline", name), name=name, tier=tier, areas=(area,), topics=topics, holidays=holidays, schedules=schedules
    )


WORLD = make_records(
    service("全国 総合", "national", NATION, ("general",), make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00")),
    service("全国 こころ", "national", NATION, ("mind",), make_schedule(byday=WEEKDAYS, opens_at="17:00", closes_at="22:00")),
    service("東京都 窓口", "prefecture", "130001", ("mind", "general"), make_schedule(), NEW_YEAR, holidays="closed"),
    service("千代田区 夜", "municipal", "131016", ("mind",), make_schedule(byday=WEEKDAYS, opens_at="20:00", closes_at="02:00")),
)
CHIYODA_MIND = Contact(topic="mind", municipality="13101", prefecture="13")


@pytest.fixture(scope="module")
def world(regions: Regions) -> Snapshot:
    return build_snapshot(WORLD, regions, version=1, holidays=japanese_holidays(2026, 2027), built_at=datetime(2026, 12, 1, tzinfo=JST))


def trial(topic: str) -> str:
    return "trial"


def local_first(topic: str) -> str:
    return "local-first"


def answers(timeline) -> list[tuple[str, str, str | None, str | None]]:
    return [(f"{a.start:%H:%M}", f"{a.end:%H:%M}", a.name, a.via) for a in timeline.answers]


@pytest.mark.parametrize(
    ("day", "policy_for", "expected"),
    [
        pytest.param(
            date(2026, 12, 1),
            trial,
            [
                ("00:00", "02:00", "千代田区 夜", None),  # Monday's overnight window, after midnight
                ("02:00", "09:00", "全国 総合", "general"),  # no こころ window open: the general lines take the person
                ("09:00", "17:00", "東京都 窓口", None),
                ("17:00", "22:00", "全国 こころ", None),  # the trial tries the national window first, also from 20:00
                ("22:00", "00:00", "千代田区 夜", None),
            ],
            id="tuesday-trial",
        ),
        pytest.param(
            date(2026, 12, 1),
            local_first,
            [
                ("00:00", "02:00", "千代田区 夜", None),
                ("02:00", "09:00", "全国 総合", "general"),
                ("09:00", "17:00", "東京都 窓口", None),
                ("17:00", "20:00", "全国 こころ", None),
                ("20:00", "00:00", "千代田区 夜", None),  # local first: the municipal window before the national one
            ],
            id="tuesday-local-first",
        ),
        pytest.param(
            date(2026, 12, 30),
            trial,
            [
                ("00:00", "02:00", "千代田区 夜", None),
                ("02:00", "17:00", "全国 総合", "general"),  # 東京都 is closed for 年末年始
                ("17:00", "22:00", "全国 こころ", None),
                ("22:00", "00:00", "千代田区 夜", None),
            ],
            id="nenmatsu-trial",
        ),
    ],
)
def test_who_answers_at_each_moment_of_the_day(world: Snapshot, day: date, policy_for, expected) -> None:
    timeline = day_timeline(world, CHIYODA_MIND, day, policy_for)
    assert answers(timeline) == expected
    assert timeline.answers[0].start == timeline.start and timeline.answers[-1].end == timeline.end
    assert all(a.end == b.start for a, b in zip(timeline.answers, timeline.answers[1:], strict=False))


def test_each_tier_and_the_general_lines_get_a_row(world: Snapshot) -> None:
    timeline = day_timeline(world, CHIYODA_MIND, date(2026, 12, 1), trial)
    rows = {row.key: [(f"{s.start:%H:%M}", f"{s.end:%H:%M}", s.names) for s in row.stretches] for row in timeline.rows}
    assert rows == {
        "national": [("17:00", "22:00", ("全国 こころ",))],
        "prefecture": [("09:00", "17:00", ("東京都 窓口",))],
        "municipal": [("00:00", "02:00", ("千代田区 夜",)), ("20:00", "00:00", ("千代田区 夜",))],
        "general": [
            ("00:00", "09:00", ("全国 総合",)),
            ("09:00", "17:00", ("全国 総合", "東京都 窓口")),
            ("17:00", "00:00", ("全国 総合",)),
        ],
    }


def test_nobody_answers_where_no_window_reaches(world: Snapshot) -> None:
    timeline = day_timeline(world, Contact(topic="youth", municipality="27127", prefecture="27"), date(2026, 12, 1), trial)
    assert answers(timeline) == [("00:00", "00:00", "全国 総合", "general")]
    only_general = day_timeline(world, Contact(topic="general", channel="sns"), date(2026, 12, 1), trial)
    assert [(a.outcome, a.name) for a in only_general.answers] == [("no_service", None)]
    assert [row.key for row in only_general.rows] == ["national", "prefecture", "municipal"]


def test_the_strip_places_segments_on_a_24_hour_axis(world: Snapshot) -> None:
    timeline = day_timeline(world, CHIYODA_MIND, date(2026, 12, 30), trial)
    strip = timeline_view.strip(timeline, "mind", datetime(2026, 12, 30, 22, 30, tzinfo=JST))
    answer_lane = strip.lanes[0]
    assert [s.css for s in answer_lane.segments] == ["seg-municipal", "seg-national", "seg-national", "seg-municipal"]
    assert [s.via for s in answer_lane.segments] == [False, True, False, False]
    assert answer_lane.segments[0].x == timeline_view.STRIP_X0
    last = answer_lane.segments[-1]
    assert last.x + last.width == pytest.approx(timeline_view.STRIP_X1)
    assert strip.marker is not None and strip.marker[1] == "22:30"
    assert [row[1] for row in timeline_view.answer_rows(timeline)] == ["千代田区 夜", "全国 総合", "全国 こころ", "千代田区 夜"]
