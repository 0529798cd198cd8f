"""The service-area picker: which areas a staff member may choose, how they are named, and an area typed by name or code.

Pure: a function of the regions and the staff member's scope.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from referral_directory.records import NATION
from referral_directory.regions import NATION_NAME, Area, RegionError, Regions
from referral_directory.staff.accounts import Role, Staff, area_within

_CODE = re.compile(r"[0-9]{6}")
_DECORATION = re.compile(r"[（(][^）)]*[）)]|全域|全区")


@dataclass(frozen=True, slots=True)
class AreaChoice:
    lgcode: str
    label: str  # as the picker lists it within its prefecture: 東京都（全域）, 大阪市（全区）, 大阪市北区

    @property
    def option(self) -> str:
        """Return what the picker's list offers and the field then holds: 新宿区（131041）."""
        return f"{self.label}（{self.lgcode}）"


def full_name(regions: Regions, lgcode: str) -> str:
    """Return an area's name with its prefecture: 全国, 東京都, 東京都 新宿区, 大阪府 大阪市北区."""
    if lgcode == NATION:
        return NATION_NAME
    try:
        area = regions.area(lgcode)
    except RegionError:
        return lgcode
    if area.kind == "prefecture" or area.prefecture is None:
        return area.name
    return f"{regions.prefectures[area.prefecture].name} {area.name}"


def in_scope(staff: Staff, regions: Regions, lgcode: str) -> bool:
    """Return whether an area lies inside the staff member's regions (an admin's scope is everywhere)."""
    if staff.role is Role.ADMIN:
        return True
    return any(area_within(lgcode, scope, regions) for scope in staff.regions)


def prefecture_choices(staff: Staff, regions: Regions) -> list[tuple[str, str]]:
    """Return (code, name) of the prefectures the staff member's regions touch; 全国 first when the whole country is theirs."""
    national = staff.role is Role.ADMIN or NATION in staff.regions
    touched = {regions.area(code).prefecture for code in staff.regions if code != NATION}
    choices = [(NATION, NATION_NAME)] if national else []
    choices += [(code, p.name) for code, p in regions.prefectures.items() if national or code in touched]
    return choices


def area_choices(staff: Staff, regions: Regions, prefecture: str) -> list[AreaChoice]:
    """Return the areas of one prefecture (or 全国) the staff member may choose: the prefecture, its designated cities, then
    its municipalities and wards, in code order."""
    if prefecture == NATION:
        return [AreaChoice(NATION, NATION_NAME)] if in_scope(staff, regions, NATION) else []
    place = regions.prefectures.get(prefecture)
    if place is None:
        return []
    found = [AreaChoice(place.lgcode, f"{place.name}（全域）")]
    found += [AreaChoice(c.lgcode, f"{c.name}（全区）") for c in regions.designated_cities.values() if c.prefecture == prefecture]
    found += [AreaChoice(m.lgcode, m.name) for m in regions.municipalities.values() if m.prefecture == prefecture]
    return sorted((c for c in found if in_scope(staff, regions, c.lgcode)), key=lambda c: (c.lgcode[2:5] != "000", c.lgcode))


def typed_area(regions: Regions, typed: str, prefecture: str) -> tuple[str | None, str | None]:
    """Return (lgcode, None) for an area typed by code or by name (within the chosen prefecture when one is), else
    (None, why) in Japanese."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return None, None
    code = _CODE.search(text)
    if code:
        try:
            return regions.area(code[0]).lgcode, None
        except RegionError:
            return None, f"地域コード「{code[0]}」が見つかりませんでした。一覧から選んでください。"
    name = _DECORATION.sub("", text).replace(" ", "").replace("\u3000", "")
    if name == NATION_NAME:
        return NATION, None
    matches = [a for a in _named_areas(regions, prefecture) if name in (a.name, _with_prefecture(regions, a))]
    if len(matches) == 1:
        return matches[0].lgcode, None
    if matches:
        return None, f"「{text}」は複数の都道府県にあります。先に都道府県を選んでから、もう一度入れてください。"
    return None, f"「{text}」に当てはまる地域が見つかりませんでした。市区町村の名前を、一覧から選んでください。"


def _named_areas(regions: Regions, prefecture: str) -> list[Area]:
    areas = [a for a in regions.areas.values() if a.kind != "nation"]
    return [a for a in areas if a.prefecture == prefecture] if prefecture in regions.prefectures else areas


def _with_prefecture(regions: Regions, area: Area) -> str:
    return area.name if area.prefecture is None else regions.prefectures[area.prefecture].name + area.name
