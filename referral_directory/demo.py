"""A synthetic, deterministic national directory for demos, drills and load tests.

Every name, number and queue here is invented. Numbers are geographic Japanese numbers
whose subscriber part comes from a hash of the service id, so they are valid to
phonenumbers yet point nowhere on purpose; free-dial and navi-dial ranges (0120, 0800,
0570), where the real hotlines live, are never used.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import phonenumbers

from referral_directory.records import (
    CHANNELS,
    NATION,
    TOPICS,
    WEEKDAYS,
    DirectoryRecords,
    OrganizationRecord,
    PhoneRecord,
    ScheduleRecord,
    ServiceRecord,
    derived_id,
)

if TYPE_CHECKING:
    from referral_directory.regions import Municipality, Prefecture, Regions

# The 年末年始 closures are written for fixed years so the output never depends on the clock.
YEAR_END_YEARS: tuple[int, ...] = (2026, 2027)
SNS_BASE = "https://sns.example.jp/queues/"
DEMO_NOTE = "デモ用の架空のデータです。"

# Published numbers of real hotlines: a generated number must never be one of them.
PUBLISHED_HOTLINES: frozenset[str] = frozenset(
    {
        "+81120279338",  # よりそいホットライン
        "+81120279226",  # よりそいホットライン（岩手・宮城・福島）
        "+81570783556",  # いのちの電話（ナビダイヤル）
        "+81120783556",  # いのちの電話（フリーダイヤル）
        "+81120061338",  # こころの健康相談統一ダイヤル系
        "+81570064556",  # こころの健康相談統一ダイヤル
        "+81120997777",  # チャイルドライン
        "+81120078310",  # 24時間子供SOSダイヤル
        "+81120279889",  # DV相談＋
        "+81332644343",  # 東京いのちの電話
        "+81352869090",  # 東京自殺防止センター
        "+81663091121",  # 関西いのちの電話
        "+81662604343",  # 大阪自殺防止センター
    }
)

WEEKDAYS_ONLY = WEEKDAYS[:5]
EVERY_DAY = WEEKDAYS

# Area codes without the trunk 0: the prefecture seat, and the designated cities by name.
PREFECTURE_AREA_CODES: dict[str, str] = {
    "01": "11",
    "02": "17",
    "03": "19",
    "04": "22",
    "05": "18",
    "06": "23",
    "07": "24",
    "08": "29",
    "09": "28",
    "10": "27",
    "11": "48",
    "12": "43",
    "13": "3",
    "14": "45",
    "15": "25",
    "16": "76",
    "17": "76",
    "18": "776",
    "19": "55",
    "20": "26",
    "21": "58",
    "22": "54",
    "23": "52",
    "24": "59",
    "25": "77",
    "26": "75",
    "27": "6",
    "28": "78",
    "29": "742",
    "30": "73",
    "31": "857",
    "32": "852",
    "33": "86",
    "34": "82",
    "35": "83",
    "36": "88",
    "37": "87",
    "38": "89",
    "39": "88",
    "40": "92",
    "41": "952",
    "42": "95",
    "43": "96",
    "44": "97",
    "45": "985",
    "46": "99",
    "47": "98",
}
CITY_AREA_CODES: dict[str, str] = {
    "札幌市": "11",
    "仙台市": "22",
    "さいたま市": "48",
    "千葉市": "43",
    "横浜市": "45",
    "川崎市": "44",
    "相模原市": "42",
    "新潟市": "25",
    "静岡市": "54",
    "浜松市": "53",
    "名古屋市": "52",
    "京都市": "75",
    "大阪市": "6",
    "堺市": "72",
    "神戸市": "78",
    "岡山市": "86",
    "広島市": "82",
    "北九州市": "93",
    "福岡市": "92",
    "熊本市": "96",
}
# Prefectures whose window stays open over 年末年始 with extended hours instead of closing.
YEAR_END_EXTENDED: frozenset[str] = frozenset({"13", "27", "40"})
_DISTRICT = re.compile(r".+?郡(.+[町村])")


@dataclass(frozen=True, slots=True)
class _Hours:
    byday: tuple[str, ...]
    opens_at: str
    closes_at: str


@dataclass(frozen=True, slots=True)
class _NationalLine:
    slug: str
    name: str
    organization: str
    topics: tuple[str, ...]
    hours: tuple[_Hours, ...]
    voice: int
    sns: int = 0


ALL_DAY = (_Hours(EVERY_DAY, "00:00", "24:00"),)
NATIONAL_LINES: tuple[_NationalLine, ...] = (
    _NationalLine(
        "general", "孤独・孤立相談ダイヤル 総合窓口", "一般社団法人 つなぐ相談ネットワーク", ("general",), ALL_DAY, voice=40, sns=20
    ),
    _NationalLine(
        "mind",
        "こころと人間関係の相談ライン",
        "NPO法人 よるのこころ相談室",
        ("mind",),
        (_Hours(("MO", "TU", "WE", "TH", "SU"), "17:00", "22:00"), _Hours(("FR", "SA"), "18:00", "02:00")),
        voice=25,
        sns=15,
    ),
    _NationalLine(
        "life",
        "暮らし・お金・仕事の相談ライン",
        "一般社団法人 くらしとしごと支援機構",
        ("life",),
        (_Hours(WEEKDAYS_ONLY, "10:00", "20:00"),),
        voice=20,
    ),
    _NationalLine("violence", "DV・性暴力 24時間相談ライン", "NPO法人 あおぞら女性支援センター", ("violence",), ALL_DAY, voice=20, sns=10),
    _NationalLine(
        "family",
        "子育て・家族・ひとり親の相談ライン",
        "NPO法人 こそだてひろばネット",
        ("family",),
        (_Hours(EVERY_DAY, "10:00", "22:00"),),
        voice=15,
        sns=10,
    ),
    _NationalLine(
        "youth",
        "18歳以下のための こどもの相談ライン",
        "NPO法人 こどもの声ネットワーク",
        ("youth",),
        (_Hours(EVERY_DAY, "16:00", "21:00"),),
        voice=15,
        sns=15,
    ),
    _NationalLine(
        "sogi",
        "性別違和・同性愛の相談ライン",
        "NPO法人 にじいろ相談室",
        ("sogi",),
        (_Hours(EVERY_DAY, "18:00", "22:00"),),
        voice=10,
        sns=10,
    ),
    _NationalLine(
        "foreign",
        "Foreign Language Line 外国語相談ライン",
        "一般社団法人 多言語生活相談センター",
        ("foreign",),
        (_Hours(EVERY_DAY, "10:00", "22:00"),),
        voice=12,
    ),
    _NationalLine("crisis-a", "24時間 いのちの危機相談ライン", "NPO法人 ともしび危機相談センター", ("crisis",), ALL_DAY, voice=30, sns=20),
    _NationalLine(
        "crisis-b", "24時間 死にたいほどつらい時の相談ライン", "一般社団法人 よあけ相談支援会", ("crisis",), ALL_DAY, voice=20, sns=10
    ),
)


def demo_directory(regions: Regions) -> DirectoryRecords:
    """Return the synthetic national directory: national lines, 47 prefecture windows, municipal agencies."""
    builder = _Builder()
    for line in NATIONAL_LINES:
        builder.add_national(line)
    for prefecture in sorted(regions.prefectures.values(), key=lambda p: p.code):
        builder.add_prefecture(prefecture)
    for place in _municipal_places(regions):
        builder.add_municipal(place)
    return DirectoryRecords(organizations=tuple(builder.organizations), services=tuple(builder.services))


@dataclass(frozen=True, slots=True)
class _Place:
    """A municipality or designated city that gets one municipal agency."""

    code: str
    lgcode: str
    label: str  # name shown to people, with the prefecture when the name alone is ambiguous
    prefecture: str
    larger: bool
    designated: bool


def _municipal_places(regions: Regions) -> list[_Place]:
    """Return the places that get an agency: designated cities (for their wards) and every other municipality."""
    prefecture_names = {code: p.name for code, p in regions.prefectures.items()}
    cities = regions.designated_cities
    standalone = [m for m in regions.municipalities.values() if m.city is None and m.code not in cities]
    name_counts = Counter([_common_name(m.name) for m in standalone] + [c.name for c in cities.values()])

    def label(name: str, prefecture: str) -> str:
        return name if name_counts[name] == 1 else prefecture_names[prefecture] + name

    places = [_Place(c.code, c.lgcode, label(c.name, c.prefecture), c.prefecture, larger=True, designated=True) for c in cities.values()]
    places += [_Place(m.code, m.lgcode, label(_common_name(m.name), m.prefecture), m.prefecture, _is_larger(m), False) for m in standalone]
    return sorted(places, key=lambda p: p.code)


def _common_name(name: str) -> str:
    """Return a town or village's name without its district: "賀茂郡東伊豆町" → "東伊豆町"."""
    match = _DISTRICT.fullmatch(name)
    return match[1] if match else name


def _is_larger(municipality: Municipality) -> bool:
    """Cities and Tokyo's special wards run a こころ desk; towns and villages do not."""
    return municipality.name.endswith(("市", "区"))


class _Builder:
    def __init__(self) -> None:
        self.organizations: list[OrganizationRecord] = []
        self.services: list[ServiceRecord] = []
        self._numbers: set[str] = set(PUBLISHED_HOTLINES)

    def add_national(self, line: _NationalLine) -> None:
        org_id = derived_id("demo", "organization", "national", line.slug)
        self.organizations.append(
            OrganizationRecord(
                id=org_id,
                name=line.organization,
                description="全国窓口の受託団体（架空）。" + DEMO_NOTE,
                website=f"https://{line.slug}.example.jp/",
            )
        )
        service_id = derived_id("demo", "service", "national", line.slug)
        capacity = {"voice": line.voice, "sns": line.sns}
        self.services.append(
            ServiceRecord(
                id=service_id,
                organization_id=org_id,
                name=line.name,
                tier="national",
                topics=_in_order(line.topics, TOPICS),
                channels=_in_order([c for c, n in capacity.items() if n], CHANNELS),
                areas=(NATION,),
                capacity=_capacity(capacity),
                holidays="open",
                description=DEMO_NOTE,
                sns_url="",  # the national lines answer their chats in tsunagu's console
                phones=(self._phone(service_id, "3"),),
                schedules=_weekly(service_id, line.hours),
            )
        )

    def add_prefecture(self, prefecture: Prefecture) -> None:
        code, name = prefecture.code, prefecture.name
        org_id = derived_id("demo", "organization", "prefecture", code)
        self.organizations.append(OrganizationRecord(id=org_id, name=f"{name}社会福祉協議会", description=DEMO_NOTE))
        service_id = derived_id("demo", "service", "prefecture", code)
        late = _pick(code, 4) == 0
        hours = (_Hours(WEEKDAYS_ONLY, "09:00", "20:00" if late else "17:00"),)
        extended = code in YEAR_END_EXTENDED
        year_end = _year_end_hours(service_id, len(hours)) if extended else _year_end_closures(service_id, len(hours))
        capacity = {"voice": 3 + _pick(code, 6), "sns": 4 if _pick("sns" + code, 4) == 0 else 0}
        own_sns = _pick("own-sns" + code, 2) == 0  # some run their own SNS (a link is given); the others answer in tsunagu
        slug = f"pref-{code}"
        self.services.append(
            ServiceRecord(
                id=service_id,
                organization_id=org_id,
                name=f"{name} 孤独・孤立総合相談窓口",
                tier="prefecture",
                topics=_in_order(("general", "life", "mind", "family"), TOPICS),
                channels=_in_order([c for c, n in capacity.items() if n], CHANNELS),
                areas=(prefecture.lgcode,),
                capacity=_capacity(capacity),
                holidays="closed",
                description=("年末年始も時間を延長して受け付けます。" if extended else "") + DEMO_NOTE,
                sns_url=SNS_BASE + slug if capacity["sns"] and own_sns else "",
                phones=(self._phone(service_id, PREFECTURE_AREA_CODES.get(code, "3")),),
                schedules=_weekly(service_id, hours) + year_end,
            )
        )

    def add_municipal(self, place: _Place) -> None:
        org_id = derived_id("demo", "organization", "municipal", place.code)
        office = _office(place.label)
        self.organizations.append(OrganizationRecord(id=org_id, name=f"{office} 生活支援課", description=DEMO_NOTE))
        service_id = derived_id("demo", "service", "municipal", place.code)
        topics = ("life", "family", "general") + (("mind",) if place.larger else ())
        desk = "くらしとこころの相談窓口" if place.larger else "くらしの相談窓口"
        hours = (_Hours(WEEKDAYS_ONLY, "08:30", "17:15"),)
        area_code = CITY_AREA_CODES.get(place.label) or PREFECTURE_AREA_CODES.get(place.prefecture, "3")
        self.services.append(
            ServiceRecord(
                id=service_id,
                organization_id=org_id,
                name=f"{place.label} {desk}",
                tier="municipal",
                topics=_in_order(topics, TOPICS),
                channels=("voice",),
                areas=(place.lgcode,),
                capacity=(("voice", 3 if place.designated else 1 + _pick(place.code, 3)),),
                holidays="closed",
                description=("市内の各区を担当します。" if place.designated else "") + DEMO_NOTE,
                phones=(self._phone(service_id, area_code),),
                schedules=_weekly(service_id, hours) + _year_end_closures(service_id, len(hours)),
            )
        )

    def _phone(self, service_id: str, area_code: str) -> PhoneRecord:
        """Return a valid, unused geographic number whose subscriber part hashes the service id."""
        for attempt in range(1000):
            digest = int(hashlib.sha256(f"{service_id}:{attempt}".encode()).hexdigest(), 16)
            rest = 8 - len(area_code)  # national numbers are 9 digits; the subscriber's first is 2-9
            national = area_code + str(2 + digest % 8) + str(digest // 8 % 10**rest).zfill(rest)
            number = "+81" + national
            parsed = phonenumbers.PhoneNumber(country_code=81, national_number=int(national))
            if number not in self._numbers and phonenumbers.is_valid_number(parsed):
                self._numbers.add(number)
                return PhoneRecord(id=derived_id(service_id, "phone", "0"), number=number, description="相談電話（架空）")
        raise ValueError(f"no valid demo number under area code 0{area_code}")


def _office(label: str) -> str:
    """Return the municipal office's name: 市役所, 区役所, 町役場 or 村役場."""
    return label + ("役場" if label.endswith(("町", "村")) else "役所")


def _weekly(service_id: str, hours: Iterable[_Hours]) -> tuple[ScheduleRecord, ...]:
    return tuple(
        ScheduleRecord(
            id=derived_id(service_id, "schedule", str(index)), kind="weekly", byday=h.byday, opens_at=h.opens_at, closes_at=h.closes_at
        )
        for index, h in enumerate(hours)
    )


def _year_end_closures(service_id: str, first_index: int) -> tuple[ScheduleRecord, ...]:
    return _year_end(service_id, first_index, kind="closed", description="年末年始休業")


def _year_end_hours(service_id: str, first_index: int) -> tuple[ScheduleRecord, ...]:
    hours = {"byday": EVERY_DAY, "opens_at": "10:00", "closes_at": "22:00"}
    return _year_end(service_id, first_index, kind="open", description="年末年始の延長受付", **hours)


def _year_end(service_id: str, first_index: int, **fields: Any) -> tuple[ScheduleRecord, ...]:
    """Return one dated schedule per 年末年始 (Dec 29 – Jan 3) of YEAR_END_YEARS, with the fields given."""
    return tuple(
        ScheduleRecord(
            id=derived_id(service_id, "schedule", str(first_index + offset)),
            valid_from=date(year, 12, 29),
            valid_to=date(year + 1, 1, 3),
            **fields,
        )
        for offset, year in enumerate(YEAR_END_YEARS)
    )


def _capacity(capacity: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple((channel, capacity[channel]) for channel in CHANNELS if capacity.get(channel))


def _in_order(members: Iterable[str], order: tuple[str, ...]) -> tuple[str, ...]:
    chosen = set(members)
    return tuple(member for member in order if member in chosen)


def _pick(code: str, modulus: int) -> int:
    """Return a stable number in range(modulus) spread over region codes."""
    return int(hashlib.sha256(code.encode()).hexdigest()[:8], 16) % modulus
