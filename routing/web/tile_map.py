"""Tile maps drawn by the server: no geography is needed, so nothing is fetched and no GIS package is added.

A prefecture's municipalities are square tiles in a grid, in 全国地方公共団体コード (JIS code) order, so
a designated city's wards sit together after the cities before them; the country is the 47
prefectures on a fixed grid that keeps each near its neighbours (Hokkaidō top right, Okinawa
bottom left). Positions are in the SVG's own units (WIDTH wide); the page scales it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

WIDTH = 1000
TILE_GAP = 3
MAX_FONT = 20.0
MIN_FONT = 8.0
SPLIT_BELOW = 12.0  # a name whose one line would be smaller than this goes on two
LINE_HEIGHT = 1.2
WARD_NOTE_SCALE = 0.8  # a ward's city, under its name, is smaller than the name
_DISTRICT = re.compile(r"^.+?郡(?=.+[町村]$)")

# (column, row) of each prefecture on a 13 × 11 grid.
PREFECTURE_TILES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "01": (12, 0),
        "02": (12, 1),
        "05": (11, 2),
        "03": (12, 2),
        "06": (11, 3),
        "04": (12, 3),
        "17": (8, 4),
        "16": (9, 4),
        "15": (10, 4),
        "07": (11, 4),
        "32": (3, 5),
        "31": (4, 5),
        "28": (5, 5),
        "26": (6, 5),
        "18": (7, 5),
        "21": (8, 5),
        "20": (9, 5),
        "10": (10, 5),
        "09": (11, 5),
        "08": (12, 5),
        "35": (2, 6),
        "34": (3, 6),
        "33": (4, 6),
        "27": (5, 6),
        "25": (6, 6),
        "24": (7, 6),
        "23": (8, 6),
        "19": (9, 6),
        "11": (10, 6),
        "13": (11, 6),
        "12": (12, 6),
        "41": (0, 7),
        "40": (1, 7),
        "38": (3, 7),
        "37": (4, 7),
        "30": (5, 7),
        "29": (6, 7),
        "22": (9, 7),
        "14": (10, 7),
        "42": (0, 8),
        "43": (1, 8),
        "44": (2, 8),
        "39": (3, 8),
        "36": (4, 8),
        "46": (1, 9),
        "45": (2, 9),
        "47": (0, 10),
    }
)
PREFECTURE_COLUMNS, PREFECTURE_ROWS = 13, 11


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    y: float  # baseline
    font: float
    note: bool  # the smaller line under the name: a ward's city, or a share


@dataclass(frozen=True, slots=True)
class Tile:
    key: str  # a municipality's 5-digit code, or a prefecture's 2-digit code
    x: float
    y: float
    size: float
    lines: tuple[Line, ...]

    @property
    def middle(self) -> float:
        return round(self.x + self.size / 2, 2)


@dataclass(frozen=True, slots=True)
class Grid:
    width: float
    height: float
    tiles: tuple[Tile, ...]


def municipality_grid(places: Sequence[tuple[str, str, str]]) -> Grid:
    """Lay (code, name, note) triples out row by row in the order given, in a grid a little wider than tall."""
    columns = max(1, math.ceil(math.sqrt(len(places) * 1.6)))
    size = WIDTH / columns
    tiles = tuple(
        _tile(code, name, note, (i % columns) * size, (i // columns) * size, size, note_scale=WARD_NOTE_SCALE)
        for i, (code, name, note) in enumerate(places)
    )
    rows = math.ceil(len(places) / columns)
    return Grid(WIDTH, rows * size, tiles)


def prefecture_grid(names: Mapping[str, str], notes: Mapping[str, str]) -> Grid:
    """Lay the 47 prefectures out on their fixed grid; names and notes by 2-digit code."""
    size = WIDTH / PREFECTURE_COLUMNS
    tiles = [
        _tile(code, names.get(code, code), notes.get(code, ""), column * size, row * size, size, note_scale=1.0)
        for code, (column, row) in PREFECTURE_TILES.items()
    ]
    return Grid(WIDTH, PREFECTURE_ROWS * size, tuple(sorted(tiles, key=lambda t: t.key)))


def short_name(name: str, city: str | None = None) -> str:
    """A municipality's name short enough for its tile: a ward without its city, a town or village without its district."""
    if city and name.startswith(city):
        return name[len(city) :]
    return _DISTRICT.sub("", name)


def _tile(key: str, name: str, note: str, x: float, y: float, size: float, *, note_scale: float) -> Tile:
    """A tile with its name centred, on two lines when one would be too small to read, and a note under it (note_scale × its size)."""
    inner = size - TILE_GAP
    room = inner - 6
    parts = [name]
    if room / max(len(name), 2) < SPLIT_BELOW and len(name) >= 4:
        half = math.ceil(len(name) / 2)
        parts = [name[:half], name[half:]]
    font = _font(room / max(max(len(p) for p in parts), 2))
    texts = [(p, font, False) for p in parts]
    if note:
        texts.append((note, _font(min(font * note_scale, room / max(len(note), 2))), True))
    height = sum(f * LINE_HEIGHT for _, f, _ in texts)
    cursor = y + (inner - height) / 2
    lines = []
    for text, f, is_note in texts:
        cursor += f * LINE_HEIGHT
        lines.append(Line(text, round(cursor - f * 0.3, 1), round(f, 1), is_note))
    return Tile(key, round(x, 2), round(y, 2), round(inner, 2), tuple(lines))


def _font(size: float) -> float:
    return max(MIN_FONT, min(MAX_FONT, size))
