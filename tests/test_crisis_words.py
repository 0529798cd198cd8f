"""Tests for routing.chats.crisis_words: what puts a chat first, read the way people type on phones."""

from __future__ import annotations

import unicodedata

import pytest

from routing.chats.crisis_words import DEFAULT_CRISIS_WORDS, DEFAULT_ELEVATED_WORDS, CrisisWords, fold

WORDS = CrisisWords()


@pytest.mark.parametrize(
    "text",
    [
        "死にたい",
        "もう死にたいです",
        "しにたい",
        "シニタイ",
        "ｼﾆﾀｲ",  # half-width katakana
        "死にたぃ",  # a small vowel typed for the sound
        "しにたぁい",  # a small vowel stretching the one before
        "死にたーい",
        "死に〜たい",
        "死にたい…",
        "死に、たい。",
        "し に た い",
        "死　に　た　い",  # full-width spaces
        "死にたい😢",
        "タヒにたい",
        "死にたくなる夜がある",
        "消えたい",
        "キエタイ",
        "いなくなりたい",
        "自殺を考えています",
        "生きていたくない",
        "生きてる意味ない",
        "もう終わりにしたい",
        "リスカしちゃった",
        "リストカットがやめられない",
        "飛び降りようと思う",
        "首を吊ろうと思った",
        "昨日ODした",
        "昨日 OD した",
        "ＯＤしちゃった",  # full-width letters
        "オーバードーズしました",
        "誰か殺してください",
        "夫に殺される",
        "I want to die.",
        "I WANT TO DIE!!",
        "thinking about suicide",
        "I might kill myself",
        "self-harm again",
        "つらい、死にたい",  # crisis outranks elevated
    ],
)
def test_crisis_words_are_found_however_they_are_typed(text: str) -> None:
    assert WORDS.band_of(text) == "crisis"


@pytest.mark.parametrize(
    "text",
    [
        "つらいです",
        "ツライ",
        "つらぁい",
        "つら〜い",
        "毎日しんどい",
        "息が苦しい",
        "助けてください",
        "タスケテ",
        "もう限界",
        "最近眠れない",
        "夫に殴られました",
        "親からの虐待",
        "help me please",
    ],
)
def test_elevated_words_raise_the_band(text: str) -> None:
    assert WORDS.band_of(text) == "elevated"


@pytest.mark.parametrize(
    "text",
    [
        "こんにちは",
        "今日はいい天気ですね",
        "相談したいことがあります",
        "子どもの学校のことで話したいです",
        "仕事が見つけられない",  # けられ is not 蹴られ
        "窓口を受けられますか",
        "声を殺して泣いた",  # 殺して on its own is an everyday expression
        "息を殺して待った",
        "今日はこれで終わりにしたいです",
        "仕事を早く終わらせたい",
        "アリスかわいい",  # リスカ inside アリスカ
        "買い物しに行きたい",
        "老舗のお店に行った",
        "しにせの和菓子",
        "死に物狂いで頑張った",
        "カレーが辛い",
        "消しゴムを買いたい",
        "電気が消えた",
        "バスに乗り遅れた",
        "好きな食べ物はカレーです",
        "I want to diet",
        "good morning",
        "Godzilla",
        "ODAの仕事をしています",
        "methodした",  # od inside an English word
        "",
        "   ",
        "🙂",
    ],
)
def test_everyday_sentences_are_not_alarms(text: str) -> None:
    assert WORDS.band_of(text) is None


def _is_kanji(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH")


@pytest.mark.parametrize("word", [*DEFAULT_CRISIS_WORDS, *DEFAULT_ELEVATED_WORDS])
def test_every_default_word_is_long_enough_not_to_hide_in_ordinary_words(word: str) -> None:
    folded = fold(word)
    long_enough = len(folded) >= 3 or (len(folded) == 2 and all(_is_kanji(c) for c in folded))
    assert long_enough, f"{word!r} folds to {folded!r}: too short to match safely"


def test_default_lists_hold_the_words_the_dial_asked_for() -> None:
    for word in ("死にたい", "消えたい", "いなくなりたい", "自殺", "生きていたくない", "生きる意味がない", "飛び降り", "首を吊", "ODした"):
        assert word in DEFAULT_CRISIS_WORDS
    for word in ("つらい", "苦しい", "助けて", "限界", "眠れない", "殴られ"):
        assert word in DEFAULT_ELEVATED_WORDS
    assert set(DEFAULT_CRISIS_WORDS).isdisjoint(DEFAULT_ELEVATED_WORDS)


def test_no_arguments_hold_the_defaults_as_tuples() -> None:
    assert (WORDS.crisis, WORDS.elevated) == (DEFAULT_CRISIS_WORDS, DEFAULT_ELEVATED_WORDS)
    assert isinstance(WORDS.crisis, tuple) and isinstance(WORDS.elevated, tuple)


def test_a_supervisors_lists_replace_the_defaults_and_are_kept_as_given() -> None:
    words = CrisisWords(crisis=["ツカレハテタ", "もう会えない"], elevated=["さみしい"])
    assert words.crisis == ("ツカレハテタ", "もう会えない") and words.elevated == ("さみしい",)
    assert words.band_of("つかれはてた…") == "crisis"  # written in katakana, typed in hiragana
    assert words.band_of("もう　会えない") == "crisis"
    assert words.band_of("サミシイ") == "elevated"
    assert words.band_of("死にたい") is None  # the defaults are not added back
    assert CrisisWords(crisis=[], elevated=[]).band_of("死にたい") is None


def test_one_list_given_keeps_the_other_at_its_defaults() -> None:
    words = CrisisWords(crisis=["もう会えない"])
    assert words.elevated == DEFAULT_ELEVATED_WORDS and words.band_of("つらい") == "elevated"


@pytest.mark.parametrize("blank", ["", " ", "　", "ー", "…", "！？"])
def test_a_blank_word_in_a_list_matches_nothing(blank: str) -> None:
    words = CrisisWords(crisis=[blank, "死にたい"], elevated=[blank])
    assert words.band_of("こんにちは") is None
    assert words.band_of("死にたい") == "crisis"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ｼﾆﾀｲ", "しにたい"),
        ("死にたぃ", "死にたい"),
        ("つらぁぁい", "つらい"),
        ("オーバードーズ", "おばどず"),
        ("Want  To-Die!", "want to die"),
        ("OD した", "odした"),
        ("１００－０００１", "100 0001"),  # digits keep their edges, as English words do
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
