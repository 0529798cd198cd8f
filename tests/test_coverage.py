"""The coverage-gap computation (routing/coverage.py) on a small hand-made directory, checked by hand.

The world: 東京都's window (weekdays 9:00-17:00, closed for 年末年始), 千代田区's overnight window
(every day 20:00-02:00, open on holidays and over 年末年始), 港区's office hours (8:30-17:15,
closed for 年末年始), nothing of 新宿区's own; 大阪市's service reaching every ward (weekdays
9:00-17:00, closed for 年末年始), and nothing at all for 堺市堺区. A national line is open all day
and never counts.
"""

from __future__ import annotations

import functools
import operator
from datetime import date, datetime

import pytest
from builders import make_records, make_schedule, make_service

from referral_directory.demo import demo_directory
from referral_directory.hours import JST, japanese_holidays
from referral_directory.records import NATION, WEEKDAYS, derived_id
from referral_directory.regions import Regions, lgcode6
from referral_directory.snapshot import Snapshot, build_snapshot
from routing import coverage
from routing.coverage import LOCAL_TIERS, local_coverage
from routing.web import coverage_view, tile_map

HOLIDAYS = japanese_holidays(2026, 2027)
CHIYODA, MINATO, SHINJUKU, KITA, CHUO_OSAKA, SAKAI_KU = "13101", "13103", "13104", "27127", "27128", "27141"
PLACES = (CHIYODA, MINATO, SHINJUKU, KITA, CHUO_OSAKA, SAKAI_KU)
NEW_YEAR = make_schedule(kind="closed", valid_from="2026-12-29", valid_to="2027-01-03")
OFFICE = make_schedule(byday=WEEKDAYS[:5], opens_at="09:00", closes_at="17:00")


def service(name: str, tier: str, area: str, *schedules, holidays: str = "closed", topics=("mind",)):
    return make_service(
        id=derived_id("coverage", name), name=name, tier=tier, areas=(area,), topics=topics, holidays=holidays, schedules=schedules
    )


WORLD = make_records(
    service("全国 こころ", "national", NATION, make_schedule(byday=WEEKDAYS, opens_at="00:00", closes_at="24:00"), holidays="open"),
    service("東京都 こころ", "prefecture", "130001", OFFICE, NEW_YEAR),
    service(
        "千代田区 夜のこころ",
        "municipal",
        lgcode6(CHIYODA),
        make_schedule(byday=WEEKDAYS, opens_at="20:00", closes_at="02:00"),
        holidays="open",
    ),
    service("港区 こころ", "municipal", lgcode6(MINATO), make_schedule(byday=WEEKDAYS[:5], opens_at="08:30", closes_at="17:15"), NEW_YEAR),
    service("大阪市 こころ", "municipal", "271004", OFFICE, NEW_YEAR),
)


@pytest.fixture(scope="module")
def world(regions: Regions) -> Snapshot:
    return build_snapshot(WORLD, regions, version=1, holidays=HOLIDAYS, built_at=datetime(2026, 12, 1, tzinfo=JST))


def places(regions: Regions):
    return [regions.municipalities[code] for code in PLACES]


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JST)


# Per place: (prefecture window open?, municipal window open?), None for a tier with no window reaching the place.
ONE_SPAN_CASES = [
    pytest.param(
        coverage.instant_spans(at(12, 1, 10)),
        {
            CHIYODA: (True, False),
            MINATO: (True, True),
            SHINJUKU: (True, None),
            KITA: (None, True),
            CHUO_OSAKA: (None, True),
            SAKAI_KU: (None, None),
        },
        id="tuesday-10-00",
    ),
    pytest.param(
        coverage.instant_spans(at(12, 1, 23, 30)),
        {
            CHIYODA: (False, True),
            MINATO: (False, False),
            SHINJUKU: (False, None),
            KITA: (None, False),
            CHUO_OSAKA: (None, False),
            SAKAI_KU: (None, None),
        },
        id="tuesday-23-30-overnight",
    ),
    pytest.param(
        coverage.instant_spans(at(12, 2, 1, 59)),
        {
            CHIYODA: (False, True),
            MINATO: (False, False),
            SHINJUKU: (False, None),
            KITA: (None, False),
            CHUO_OSAKA: (None, False),
            SAKAI_KU: (None, None),
        },
        id="overnight-window-after-midnight",
    ),
    pytest.param(
        coverage.instant_spans(at(12, 2, 2, 0)),
        {
            CHIYODA: (False, False),
            MINATO: (False, False),
            SHINJUKU: (False, None),
            KITA: (None, False),
            CHUO_OSAKA: (None, False),
            SAKAI_KU: (None, None),
        },
        id="overnight-window-closed-at-2",
    ),
    pytest.param(
        coverage.instant_spans(at(12, 30, 10)),
        {
            CHIYODA: (False, False),
            MINATO: (False, False),
            SHINJUKU: (False, None),
            KITA: (None, False),
            CHUO_OSAKA: (None, False),
            SAKAI_KU: (None, None),
        },
        id="nenmatsu-weekday-10-00",
    ),
    pytest.param(
        coverage.range_spans(date(2026, 12, 29), date(2027, 1, 3)),
        {
            CHIYODA: (False, True),
            MINATO: (False, False),
            SHINJUKU: (False, None),
            KITA: (None, False),
            CHUO_OSAKA: (None, False),
            SAKAI_KU: (None, None),
        },
        id="nenmatsu-range",
    ),
    pytest.param(
        coverage.range_spans(date(2026, 12, 28), date(2026, 12, 28)),
        {
            CHIYODA: (True, True),
            MINATO: (True, True),
            SHINJUKU: (True, None),
            KITA: (None, True),
            CHUO_OSAKA: (None, True),
            SAKAI_KU: (None, None),
        },
        id="the-working-day-before",
    ),
]


@pytest.mark.parametrize(("spans", "expected"), ONE_SPAN_CASES)
def test_which_local_tiers_are_open_in_one_span(world: Snapshot, regions: Regions, spans, expected) -> None:
    found = local_coverage(world, places(regions), topic="mind", channel="voice", spans=spans)
    seen = {p.code: tuple(p.open_in(tier, 0) if tier in p.served else None for tier in coverage.LOCAL_TIERS) for p in found.places}
    assert seen == expected


def test_nenmatsu_lists_the_places_that_lose_every_local_window(world: Snapshot, regions: Regions) -> None:
    found = local_coverage(
        world, places(regions), topic="mind", channel="voice", spans=coverage.range_spans(date(2026, 12, 29), date(2027, 1, 3))
    )
    assert [p.code for p in found.closed_throughout()] == [MINATO, SHINJUKU, KITA, CHUO_OSAKA]
    assert [p.code for p in found.unserved()] == [SAKAI_KU]
    assert [coverage_view.status(p) for p in found.places] == ["municipal", "closed", "closed", "closed", "closed", "none"]


def test_a_designated_citys_service_covers_each_of_its_wards_and_no_other_city(world: Snapshot, regions: Regions) -> None:
    found = local_coverage(world, places(regions), topic="mind", channel="voice", spans=coverage.instant_spans(at(12, 1, 10)))
    by_code = {p.code: p for p in found.places}
    assert by_code[KITA].served == by_code[CHUO_OSAKA].served == frozenset({"municipal"})
    assert not by_code[SAKAI_KU].served  # 堺市 is another designated city


def test_other_topics_and_channels_have_no_local_window_here(world: Snapshot, regions: Regions) -> None:
    spans = coverage.instant_spans(at(12, 1, 10))
    for topic, channel in (("life", "voice"), ("mind", "sns")):
        found = local_coverage(world, places(regions), topic=topic, channel=channel, spans=spans)
        assert len(found.unserved()) == len(PLACES) and not found.closed_throughout()


def test_a_week_counts_the_hours_with_a_local_window_open(world: Snapshot, regions: Regions) -> None:
    """The week of Monday Dec 28: only Monday is a working day; 千代田区's overnight window opens every evening."""
    found = local_coverage(world, places(regions), topic="mind", channel="voice", spans=coverage.week_spans(date(2026, 12, 28)))
    hours = {p.code: (p.hours_open("prefecture"), p.hours_open("municipal"), p.hours_open()) for p in found.places}
    assert hours == {
        # Monday 0-2 from Sunday's window, 20-24 on each of 7 days, 0-2 on Tuesday to Sunday: 2 + 28 + 12.
        CHIYODA: (8, 42, 50),
        MINATO: (8, 10, 10),  # 8:30-17:15 touches the hours 8 to 17
        SHINJUKU: (8, 0, 8),
        KITA: (0, 8, 8),
        CHUO_OSAKA: (0, 8, 8),
        SAKAI_KU: (0, 0, 0),
    }
    monday_10, tuesday_10, wednesday_21 = 10, 24 + 10, 2 * 24 + 21
    assert found.share_open(monday_10) == pytest.approx(5 / 6)
    assert found.share_open(tuesday_10) == 0
    assert found.share_open(wednesday_21) == pytest.approx(1 / 6)
    assert found.shares_open() == tuple(found.share_open(i) for i in range(len(found.spans))), "the heatmap's one pass agrees span by span"
    headers, rows = coverage_view.heatmap(found)
    assert headers[0] == "12/28（月）" and headers[4] == "1/1（金）"
    assert rows[10][1][0].percent == 83 and rows[10][1][0].css == "heat-8"


def test_topics_asked_over_the_same_spans_may_share_the_open_spans_of_each_set_of_hours(world: Snapshot, regions: Regions) -> None:
    spans = coverage.week_spans(at(11, 30, 0).date())
    masks = coverage.OpenMasks(spans, world.holidays)
    shared = [local_coverage(world, places(regions), topic=t, channel="voice", spans=spans, masks=masks) for t in ("mind", "general")]
    alone = [local_coverage(world, places(regions), topic=t, channel="voice", spans=spans) for t in ("mind", "general")]
    assert shared == alone and masks.by_service, "each service's hours walked once, the same answer"
    assert len(masks.by_hours) < len(masks.by_service), "services with the same hours share one walk"
    with pytest.raises(ValueError, match="other spans"):
        local_coverage(world, places(regions), topic="mind", channel="voice", spans=spans[:24], masks=masks)


def test_places_of_a_prefecture_include_designated_city_wards_in_code_order(regions: Regions) -> None:
    osaka = coverage.places_of(regions, "27")
    codes = [p.code for p in osaka]
    assert codes == sorted(codes) and KITA in codes and "27100" not in codes
    assert len(coverage.places_of(regions, None)) == len(regions.municipalities)


def test_the_prefecture_tile_map_has_47_tiles_on_47_cells(regions: Regions) -> None:
    assert sorted(tile_map.PREFECTURE_TILES) == sorted(regions.prefectures)
    assert len(set(tile_map.PREFECTURE_TILES.values())) == 47
    assert all(0 <= c < tile_map.PREFECTURE_COLUMNS and 0 <= r < tile_map.PREFECTURE_ROWS for c, r in tile_map.PREFECTURE_TILES.values())


@pytest.mark.parametrize(
    ("name", "city", "short"),
    [("千代田区", None, "千代田区"), ("大阪市北区", "大阪市", "北区"), ("賀茂郡東伊豆町", None, "東伊豆町"), ("郡山市", None, "郡山市")],
)
def test_tiles_show_short_names(name: str, city: str | None, short: str) -> None:
    assert tile_map.short_name(name, city) == short


def test_every_place_of_the_country_is_reached_by_exactly_the_windows_routing_would_offer(regions: Regions) -> None:
    """The coverage works out the country's and each prefecture's windows once; the answer is, place by place, the one
    found from snapshot.reaching (what routing offers), on the national demo directory."""
    demo = build_snapshot(demo_directory(regions), regions, version=1, holidays=HOLIDAYS, built_at=datetime(2026, 12, 1, tzinfo=JST))
    spans = coverage.week_spans(date(2026, 12, 28))[18:30]
    country = places(regions)
    for topic in ("general", "mind", "life"):
        for channel in ("voice", "sns"):
            found = local_coverage(demo, country, topic=topic, channel=channel, spans=spans)
            masks = coverage.OpenMasks(spans, demo.holidays)
            for place, got in zip(country, found.places, strict=True):
                local = [r.entry for r in demo.reaching(channel, topic, place.prefecture, place.code) if r.entry.tier in LOCAL_TIERS]
                expected = tuple(
                    functools.reduce(operator.or_, (masks.of(e.id, e.hours) for e in local if e.tier == tier), 0) for tier in LOCAL_TIERS
                )
                assert (got.served, got.open) == (frozenset(e.tier for e in local), expected), (topic, channel, place.name)
    assert any(p.served for p in found.places) and any(not p.served for p in found.places)
