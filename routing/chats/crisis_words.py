"""Crisis words: the two editable lists that put a chat at the front of the queue, and the matching that reads phone typing.

Pure. A message is folded the way people type on phones (full-width, katakana, capitals, spaces,
punctuation, ー and 〜, small vowels) and searched for each folded word. Japanese has no spaces, so
a short word would match inside ordinary words; the default words are kept long enough not to, and
an English word must stand alone ("want to die" is not in "want to diet").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Literal

RiskBand = Literal["crisis", "elevated"]

DEFAULT_CRISIS_WORDS: tuple[str, ...] = (
    # wanting to die, or to disappear
    "死にたい",
    "しにたい",
    "タヒにたい",
    "死にたく",
    "しにたくなる",
    "しにたくて",
    "死んでしまいたい",
    "しんでしまいたい",
    "死んだほうがいい",
    "死んだ方がいい",
    "死んだほうがまし",
    "死んだ方がまし",
    "しんだほうがいい",
    "死ぬしかない",
    "しぬしかない",
    "死ぬつもり",
    "死のうと",
    "死のうかな",
    "死なせて",
    "死に場所",
    "消えたい",
    "きえたい",
    "消えてしまいたい",
    "きえてしまいたい",
    "いなくなりたい",
    "居なくなりたい",
    "生きていたくない",
    "いきていたくない",
    "生きてたくない",
    "いきてたくない",
    "生きる意味がない",
    "生きる意味ない",
    "生きてる意味がない",
    "生きてる意味ない",
    "生きる意味がわからない",
    "生きるのがつらい",
    "生きるのが辛い",
    "生きるのに疲れた",
    "生きるのが疲れた",
    "もう終わりにしたい",
    "もうおわりにしたい",
    "全部終わりにしたい",
    "人生を終わりにしたい",
    "人生終わりにしたい",
    "人生を終わらせたい",
    "命を終わらせたい",
    "全部終わらせたい",
    # suicide and the means
    "自殺",
    "じさつ",
    "遺書",
    "飛び降り",
    "飛び下り",
    "とびおりたい",
    "首を吊",
    "首吊",
    "首をつり",
    "首をつる",
    "首つり",
    "くびつり",
    "電車に飛び込",
    "線路に飛び込",
    # self-harm and overdose
    "自傷",
    "リストカット",
    "リスカし",
    "リスカを",
    "リスカの",
    "手首を切",
    "腕を切",
    "ODした",
    "ODしそう",
    "ODしたい",
    "ODしちゃ",
    "オーバードーズ",
    "薬を大量に",
    # asked to be killed, or in danger of being killed
    "殺してほしい",
    "殺して欲しい",
    "殺してください",
    "殺してくれ",
    "ころしてほしい",
    "殺される",
    "ころされる",
    "殺したい",
    "ころしたい",
    # English, for the foreign-language line
    "want to die",
    "wanna die",
    "kill myself",
    "killing myself",
    "end my life",
    "suicide",
    "suicidal",
    "self harm",
    "overdose",
)

DEFAULT_ELEVATED_WORDS: tuple[str, ...] = (
    "つらい",
    "つらくて",
    "つらすぎ",
    "しんどい",
    "苦しい",
    "くるしい",
    "苦しくて",
    "助けて",
    "たすけて",
    "限界",
    "もう無理",
    "もうむり",
    "眠れない",
    "ねむれない",
    "眠れなく",
    "殴られ",
    "なぐられ",
    "蹴られ",
    "暴力",
    "虐待",
    "いじめられ",
    "絶望",
    "楽になりたい",
    "逃げたい",
    "怖くて",
    "こわくて",
    "ひとりぼっち",
    "誰にも言えない",
    "help me",
    "hopeless",
    "scared",
)

# Small vowels typed for a sound (死にたぃ) or to stretch the one before (つらぁい).
_SMALL_VOWELS = {"ぁ": "あ", "ぃ": "い", "ぅ": "う", "ぇ": "え", "ぉ": "お", "ゎ": "わ"}
_VOWEL_OF = {
    kana: vowel
    for vowel, row in {
        "あ": "あかがさざただなはばぱまやらわゃ",
        "い": "いきぎしじちぢにひびぴみり",
        "う": "うくぐすずつづぬふぶぷむゆるゅ",
        "え": "えけげせぜてでねへべぺめれ",
        "お": "おこごそぞとどのほぼぽもよろをょ",
    }.items()
    for kana in row
}
_KATAKANA = range(0x30A1, 0x30F7)  # ァ to ヶ: each sits 0x60 above its hiragana
_ELONGATION = {"ー", "〜", "~"}


def fold(text: str) -> str:
    """Return text as matching sees it: NFKC, lower case, hiragana, without spaces, punctuation, symbols or elongation.

    A space (or punctuation) stays, as one space, only between two ASCII letters or digits, so that
    English words keep their edges.
    """
    kept: list[str] = []
    gap = False
    for char in unicodedata.normalize("NFKC", text).casefold():
        if ord(char) in _KATAKANA:
            char = chr(ord(char) - 0x60)
        if char in _SMALL_VOWELS:
            if kept and _VOWEL_OF.get(kept[-1]) == _SMALL_VOWELS[char]:
                continue  # つらぁい: the small vowel only stretches the kana before it
            char = _SMALL_VOWELS[char]
        if char in _ELONGATION:
            continue
        if unicodedata.category(char)[0] in "PSZC":
            gap = True
            continue
        if gap and kept and _is_ascii_word(kept[-1]) and _is_ascii_word(char):
            kept.append(" ")
        gap = False
        kept.append(char)
    return "".join(kept)


class CrisisWords:
    """Two word lists, crisis and elevated, and the band a message falls in. Immutable once built."""

    __slots__ = ("crisis", "elevated", "_crisis", "_elevated")

    def __init__(self, crisis: Iterable[str] | None = None, elevated: Iterable[str] | None = None) -> None:
        self.crisis: tuple[str, ...] = DEFAULT_CRISIS_WORDS if crisis is None else tuple(crisis)
        self.elevated: tuple[str, ...] = DEFAULT_ELEVATED_WORDS if elevated is None else tuple(elevated)
        self._crisis = _folded(self.crisis)
        self._elevated = _folded(self.elevated)

    def __repr__(self) -> str:
        return f"CrisisWords({len(self.crisis)} crisis, {len(self.elevated)} elevated)"

    def band_of(self, text: str) -> RiskBand | None:
        """Return "crisis" when text holds a crisis word, else "elevated" for an elevated word, else None."""
        folded = fold(text)
        if _holds(folded, self._crisis):
            return "crisis"
        if _holds(folded, self._elevated):
            return "elevated"
        return None


def occurs(folded: str, word: str) -> bool:
    """Return whether a folded word occurs in folded text; an English word (or number) only with no letter or digit against its edges."""
    start = folded.find(word)
    while start != -1:
        end = start + len(word)
        before = folded[start - 1] if start else " "
        after = folded[end] if end < len(folded) else " "
        if not (_is_ascii_word(word[0]) and _is_ascii_word(before)) and not (_is_ascii_word(word[-1]) and _is_ascii_word(after)):
            return True
        start = folded.find(word, start + 1)
    return False


def _folded(words: tuple[str, ...]) -> tuple[str, ...]:
    # A word that folds to nothing (a stray space in a supervisor's list) would match every message.
    return tuple(dict.fromkeys(f for f in map(fold, words) if f))


def _holds(folded: str, words: tuple[str, ...]) -> bool:
    return any(occurs(folded, word) for word in words)


def _is_ascii_word(char: str) -> bool:
    return char.isascii() and char.isalnum()
