"""What the coverage page shows, from routing/coverage.py's answer: tiles coloured by coverage, the hour × weekday
heatmap, and the tables of places without an open local window. Japanese, no decision of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from referral_directory.hours import JST
from referral_directory.regions import Regions
from routing.coverage import LOCAL_TIERS, Coverage, PlaceCoverage
from routing.web import tile_map
from routing.web.case_views import WEEKDAY_NAMES

STATUS_NAMES: Mapping[str, str] = {
    "both": "都道府県と市区町村の窓口が開いている",
    "prefecture": "都道府県の窓口だけが開いている",
    "municipal": "市区町村の窓口だけが開いている",
    "closed": "地域の窓口はあるが、どれも開いていない",
    "none": "地域の窓口がない（全国の窓口だけ）",
}
TIER_COLUMNS = {"prefecture": "都道府県の窓口", "municipal": "市区町村の窓口"}
NAMES_SHOWN = 40  # names listed in a sentence before "ほか N か所"


@dataclass(frozen=True, slots=True)
class ColouredTile:
    tile: tile_map.Tile
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class TileMap:
    width: float
    height: float
    tiles: tuple[ColouredTile, ...]


def status(place: PlaceCoverage, span: int = 0) -> str:
    """Which local windows of a place are open in a span: a key of STATUS_NAMES."""
    if not place.served:
        return "none"
    pref, muni = place.open_in("prefecture", span), place.open_in("municipal", span)
    return "both" if pref and muni else "prefecture" if pref else "municipal" if muni else "closed"


def heat(share: float) -> str:
    """The CSS class of a share of coverage: heat-0 (none) to heat-10 (all)."""
    return f"heat-{round(share * 10)}"


def municipality_map(coverage: Coverage, regions: Regions) -> TileMap:
    """The prefecture's municipalities as tiles in code order, coloured by status (one span) or by hours covered (a week)."""
    labels = []
    for p in coverage.places:
        city = _city_name(regions, p.code)
        labels.append((p.code, tile_map.short_name(p.name, city), city or ""))
    grid = tile_map.municipality_grid(labels)
    week = len(coverage.spans) > 1
    tiles = []
    for tile, place in zip(grid.tiles, coverage.places, strict=True):
        if week:
            hours = place.hours_open()
            share = hours / len(coverage.spans)
            css, title = heat(share), f"{place.name}：地域の窓口が開いている時間 {hours}時間／{len(coverage.spans)}時間"
        else:
            key = status(place)
            css, title = f"status-{key}", f"{place.name}：{STATUS_NAMES[key]}"
        tiles.append(ColouredTile(tile, css, title))
    return TileMap(grid.width, grid.height, tuple(tiles))


def prefecture_map(coverage: Coverage, regions: Regions) -> TileMap:
    """The 47 prefectures as tiles, coloured by the share of their municipalities (or of their hours) with a local window open."""
    names = {code: _prefecture_short(p.name) for code, p in regions.prefectures.items()}
    shares = prefecture_shares(coverage)
    percents = {code: f"{round(share * 100)}%" for code, share in shares.items()}
    grid = tile_map.prefecture_grid(names, percents)
    tiles = []
    for tile in grid.tiles:
        name, share = regions.prefectures[tile.key].name, shares.get(tile.key, 0.0)
        tiles.append(ColouredTile(tile, heat(share), f"{name}：地域の窓口が開いている割合 {percents.get(tile.key, '0%')}"))
    return TileMap(grid.width, grid.height, tuple(tiles))


def prefecture_shares(coverage: Coverage) -> dict[str, float]:
    """Per prefecture: the share of its municipalities × spans with some local window open."""
    covered: dict[str, int] = {}
    total: dict[str, int] = {}
    spans = len(coverage.spans)
    for place in coverage.places:
        code = place.code[:2]
        covered[code] = covered.get(code, 0) + place.hours_open()
        total[code] = total.get(code, 0) + spans
    return {code: covered[code] / total[code] for code in total if total[code]}


@dataclass(frozen=True, slots=True)
class HeatCell:
    css: str
    percent: int
    title: str


def heatmap(coverage: Coverage) -> tuple[list[str], list[tuple[int, list[HeatCell]]]]:
    """The week as 24 rows of hours × 7 days: the share of municipalities with some local window open in each hour."""
    days = [coverage.spans[d * 24][0].astimezone(JST) for d in range(7)]
    headers = [f"{d.month}/{d.day}（{WEEKDAY_NAMES[d.weekday()]}）" for d in days]
    shares = coverage.shares_open()
    rows = []
    for hour in range(24):
        cells = []
        for d, day in enumerate(days):
            share = shares[d * 24 + hour]
            percent = round(share * 100)
            title = f"{day.month}月{day.day}日 {hour}時台：{percent}%の市区町村で地域の窓口が開いている"
            cells.append(HeatCell(heat(share), percent, title))
        rows.append((hour, cells))
    return headers, rows


def tier_rows(coverage: Coverage) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per municipality: its name and, per local tier, (開いている / 閉まっている / なし or the hours open in a week, CSS class)."""
    week = len(coverage.spans) > 1
    rows = []
    for place in coverage.places:
        cells = []
        for tier in LOCAL_TIERS:
            hours = place.hours_open(tier)
            if tier not in place.served:
                cells.append(("なし", "cell-none"))
            elif week:
                cells.append((f"{hours}時間", "cell-open" if hours else "cell-closed"))
            else:
                cells.append(("開いている", "cell-open") if hours else ("閉まっている", "cell-closed"))
        rows.append((place.name, cells))
    return rows


def listed(names: Sequence[str]) -> str:
    """Names in one sentence, the first NAMES_SHOWN of them, then how many more."""
    shown = "、".join(names[:NAMES_SHOWN])
    return shown + (f" ほか{len(names) - NAMES_SHOWN}か所" if len(names) > NAMES_SHOWN else "")


@dataclass(frozen=True, slots=True)
class TopicLine:
    topic: str
    closed: int
    closed_names: str
    unserved: int


def topic_lines(by_topic: Iterable[tuple[str, Coverage]]) -> list[TopicLine]:
    """Per topic: the municipalities that lose every local window, and those with none at all."""
    lines = []
    for topic, coverage in by_topic:
        closed = coverage.closed_throughout()
        lines.append(TopicLine(topic, len(closed), listed([p.name for p in closed]), len(coverage.unserved())))
    return lines


def _city_name(regions: Regions, code: str) -> str | None:
    municipality = regions.municipalities.get(code)
    city = regions.designated_cities.get(municipality.city) if municipality and municipality.city else None
    return city.name if city else None


def _prefecture_short(name: str) -> str:
    """東京都 → 東京, 京都府 → 京都; 北海道 stays."""
    return name[:-1] if name.endswith(("都", "府", "県")) else name
