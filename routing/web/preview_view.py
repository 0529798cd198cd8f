"""What the routing preview page shows: the place typed (a postal code, an lgcode or a municipality's name), the
instant asked about, and the preview's answer (routing/preview.py) in Japanese.

No rule of routing is decided here: where the person goes, and why, comes from the preview's answer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time

from referral_directory.hours import JST, supported
from referral_directory.records import TIER_NAMES, TOPIC_LABELS_JA
from referral_directory.regions import RegionError, Regions, lgcode6, normalize_postal_code
from routing.preview import CandidateOut, PreviewOut
from routing.web.case_views import jst

MATCH_NAMES = {
    "nation": "全国が対象",
    "prefecture": "都道府県内が対象",
    "designated_city": "市内の全区が対象",
    "municipality": "市区町村が対象",
}
CHANNEL_CHOICES = {"voice": "電話", "sns": "SNS（チャット）"}
_DIGITS = re.compile(r"[0-9]+")
_NOISE = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc〒]")


BAD_INSTANT = "日付と時刻を確かめてください（例：2026-12-30 と 22:30）。2000年から2099年までの日付で入力してください。"


class NotUnderstood(ValueError):
    """Something typed on the page that cannot be used, with a Japanese message saying what to type instead."""


@dataclass(frozen=True, slots=True)
class PlaceQuery:
    postal_code: str | None = None
    lgcode: str | None = None


def place_query(regions: Regions, typed: str) -> PlaceQuery:
    """Turn what was typed into a postal code or an lgcode; nothing typed is an unknown place (national windows only)."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return PlaceQuery()
    bare = _NOISE.sub("", text)
    if _DIGITS.fullmatch(bare):
        return _coded(regions, bare)
    matches = _names(regions).get(text, ())
    if len(matches) == 1:
        return PlaceQuery(lgcode=matches[0][0])
    if matches:
        listed = "、".join(full for _, full in matches)
        raise NotUnderstood(f"「{text}」は{len(matches)}か所あります（{listed}）。都道府県名から入力してください。")
    raise NotUnderstood(
        f"「{text}」という市区町村が見つかりませんでした。郵便番号（例：100-0001）か、「東京都千代田区」のように都道府県名から入力してください。"
    )


def _coded(regions: Regions, digits: str) -> PlaceQuery:
    if len(digits) == 7:
        try:
            return PlaceQuery(postal_code=normalize_postal_code(digits))
        except RegionError:
            pass
    if len(digits) in (5, 6):
        code = lgcode6(digits) if len(digits) == 5 else digits
        if code in regions.areas:
            return PlaceQuery(lgcode=code)
    raise NotUnderstood("郵便番号は7桁の数字で入力してください（例：100-0001）。市区町村コードなら6桁です（例：131016）。")


@functools.cache
def _names(regions: Regions) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every way a place may be typed → the (lgcode, full name) of the places it may mean."""
    found: dict[str, list[tuple[str, str]]] = {}

    def add(lgcode: str, full: str, *names: str) -> None:
        for name in dict.fromkeys((full, *names)):
            found.setdefault(name, []).append((lgcode, full))

    for p in regions.prefectures.values():
        add(p.lgcode, p.name)
    for c in regions.designated_cities.values():
        add(c.lgcode, regions.prefectures[c.prefecture].name + c.name, c.name)
    for m in regions.municipalities.values():
        short = m.name.split("郡", 1)[1] if "郡" in m.name else m.name
        add(m.lgcode, regions.prefectures[m.prefecture].name + m.name, m.name, short)
    return {name: tuple(places) for name, places in found.items()}


def instant_of(day: str, clock: str) -> datetime:
    """The JST instant of a date (YYYY-MM-DD) and a time of day (HH:MM) from the page's form."""
    try:
        moment = datetime.combine(date.fromisoformat(day.strip()), time.fromisoformat(clock.strip() or "00:00"), JST)
        return supported(moment)
    except ValueError:
        raise NotUnderstood(
            "日付と時刻を確かめてください（例：2026-12-30 と 22:30）。2000年から2099年までの日付で入力してください。"
        ) from None


def summary(answer: PreviewOut) -> str:
    """One or two sentences: what the person gets, and, when other windows take them, when their own topic's windows open."""
    first = answer.candidates[0] if answer.candidates else None
    if answer.via is None:
        return _outcome(answer, first, _OWN)
    topic = TOPIC_LABELS_JA[answer.topic]
    if answer.topic_outcome == "all_closed":
        soonest = min(answer.next_openings, key=lambda n: n.at, default=None)
        why = f"「{topic}」の窓口は、この時刻はどこも受付時間外です" + (
            f"（次に開くのは{jst(soonest.at)}、{soonest.name}）" if soonest else ""
        )
    else:
        why = f"この地域で「{topic}」を受け付ける窓口は、名簿にありません"
    wider = f"「{TOPIC_LABELS_JA[answer.via]}」の窓口"
    return why + "。" + _outcome(answer, first, {k: v.format(wider=wider) for k, v in _WIDER.items()})


_OWN = {
    "route": "{n}か所の窓口が受け付けています。最初に呼び出すのは「{name}」（{tier}）です。",
    "all_full": "受付中の窓口はありますが、いまはすべての回線が対応中です。順番をお待ちいただきます。",
    "all_closed": "受け付けている窓口はありません。次に開く時刻をお伝えし、24時間の窓口をご案内します。",
    "no_service": "この地域でこの相談を受け付ける窓口は名簿にないため、24時間の窓口におつなぎします。",
}
_WIDER = {
    "route": "代わりに{wider}におつなぎします（{{n}}か所が受付中）。最初に呼び出すのは「{{name}}」（{{tier}}）です。",
    "all_full": "代わりの{wider}も、いまはすべての回線が対応中です。順番をお待ちいただきます。",
    "all_closed": "代わりの{wider}も受付時間外です。次に開く時刻をお伝えし、24時間の窓口をご案内します。",
    "no_service": "代わりの{wider}も名簿にないため、24時間の窓口におつなぎします。",
}


def _outcome(answer: PreviewOut, first: CandidateOut | None, sentences: dict[str, str]) -> str:
    if answer.outcome == "route" and first is not None:
        return sentences["route"].format(n=len(answer.candidates), name=first.name, tier=TIER_NAMES.get(first.tier, first.tier))
    return sentences.get(answer.outcome, sentences["no_service"])


@dataclass(frozen=True, slots=True)
class CandidateRow:
    rank: int
    name: str
    organization: str
    tier: str
    match: str
    until: str
    lines: str


def candidate_rows(answer: PreviewOut) -> list[CandidateRow]:
    """The ordered candidates, each with why: tier, how the area matched, open until, free lines."""
    return [
        CandidateRow(
            rank=c.rank,
            name=c.name,
            organization=c.organization,
            tier=TIER_NAMES.get(c.tier, c.tier),
            match=MATCH_NAMES.get(c.match, c.match),
            until="24時間受付" if c.open_until is None else f"{jst(c.open_until)}まで",
            lines=f"{c.free_slots} / {c.capacity}",
        )
        for c in answer.candidates
    ]


def opening_rows(answer: PreviewOut) -> list[tuple[str, str, str]]:
    """When help opens next, per tier, as the person is told it: (tier, when, window)."""
    return [(TIER_NAMES.get(n.tier, n.tier), jst(n.at), n.name) for n in answer.next_openings]
