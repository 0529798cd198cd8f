"""A contact's place from what its postal code matched: the one rule every channel (phone, LINE, web chat) uses.

Pure: a function of the regions and the municipality codes a postal code (or a chosen prefecture's
share of it) names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from referral_directory.regions import Regions, lgcode6


@dataclass(frozen=True, slots=True)
class Place:
    """Where a contact is, as routing needs it: a prefecture, and a municipality when the codes resolve to one."""

    prefecture: str | None  # 2 digits, or None when unknown or the codes span prefectures
    municipality: str | None  # 5 digits: a municipality, a ward, or the designated city of all the wards
    lgcode: str | None  # the municipality's 6-digit lgcode


NOWHERE = Place(None, None, None)


def place_of(regions: Regions, municipalities: Iterable[str]) -> Place:
    """Return the place the municipality codes share: their prefecture, and their one municipality when they have one.

    Codes in one prefecture give it; codes across prefectures (or none) give no place at all, so the
    contact is served by the national windows until someone says which prefecture.
    """
    codes = tuple(municipalities)
    prefectures = prefectures_of(codes)
    if len(prefectures) != 1:
        return NOWHERE
    municipality = shared_municipality(regions, codes)
    return Place(prefectures[0], municipality, lgcode6(municipality) if municipality else None)


def prefectures_of(municipalities: Iterable[str]) -> list[str]:
    """Return the 2-digit prefecture codes of municipality codes, sorted (the order a prefecture question lists them in)."""
    return sorted({code[:2] for code in municipalities})


def shared_municipality(regions: Regions, codes: tuple[str, ...]) -> str | None:
    """Return the one municipality a postal code's places share: itself, or the designated city of all its wards."""
    if len(codes) == 1:
        return codes[0]
    cities = {regions.municipalities[code].city for code in codes}
    return cities.pop() if len(cities) == 1 and None not in cities else None
