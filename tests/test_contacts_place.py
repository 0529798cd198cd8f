"""Tests for routing.contacts.place: a contact's place from what its postal code matched, against the real regions."""

from __future__ import annotations

import pytest

from referral_directory.regions import Regions
from routing.contacts.place import Place, place_of, prefectures_of, shared_municipality


@pytest.mark.parametrize(
    ("postal_code", "place"),
    [
        ("1000001", Place("13", "13101", "131016")),  # 東京都千代田区: one municipality
        ("5300001", Place("27", "27127", "271276")),  # 大阪市北区: one ward is its own place
        ("0040000", Place("01", "01100", "011002")),  # 札幌市厚別区・清田区: wards of one city → the city
        ("9850000", Place("04", None, None)),  # 塩竈市・多賀城市・七ヶ浜町: the prefecture only
        ("4980000", Place(None, None, None)),  # 愛知県弥富市・三重県木曽岬町: nowhere until a prefecture is chosen
        ("8710000", Place(None, None, None)),  # 福岡県吉富町・大分県中津市
    ],
)
def test_a_postal_codes_municipalities_give_the_contacts_place(regions: Regions, postal_code: str, place: Place) -> None:
    match = regions.postal(postal_code)
    assert match is not None
    assert place_of(regions, match.municipalities) == place


def test_the_share_of_a_chosen_prefecture_settles_a_code_that_spans_two(regions: Regions) -> None:
    match = regions.postal("4980000")
    assert match is not None
    assert prefectures_of(match.municipalities) == ["23", "24"]
    mie = [code for code in match.municipalities if code.startswith("24")]
    assert place_of(regions, mie) == Place("24", "24303", "243035")


def test_no_codes_is_no_place(regions: Regions) -> None:
    assert place_of(regions, []) == Place(None, None, None)
    assert prefectures_of([]) == []


def test_prefectures_are_listed_once_each_in_code_order() -> None:
    assert prefectures_of(["40642", "44203", "40101", "01101"]) == ["01", "40", "44"]
    assert prefectures_of(iter(["13101"])) == ["13"]


@pytest.mark.parametrize(
    ("codes", "shared"),
    [
        (("13101",), "13101"),
        (("01108", "01110"), "01100"),
        (("27127", "27128"), "27100"),
        (("01108", "04101"), None),  # wards of two cities
        (("01108", "01202"), None),  # a ward and a city beside it
        (("04203", "04209"), None),
    ],
)
def test_shared_municipality(regions: Regions, codes: tuple[str, ...], shared: str | None) -> None:
    assert shared_municipality(regions, codes) == shared
