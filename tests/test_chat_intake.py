"""Tests for routing.chats.intake and routing.chats.wording: the questions a person writing to the dial is asked, and what they read.

Table-driven: each row is what the person sends, in order, from the greeting on; it checks the state
the intake ends in and the last message they were sent. The regions are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from referral_directory.records import TOPICS
from referral_directory.regions import Regions
from routing.cases.schemas import AGE_BANDS
from routing.chats import wording
from routing.chats.crisis_words import CrisisWords
from routing.chats.intake import Ask, Intake, Said, advance, begin
from routing.engine import NextOpening

WORDS = CrisisWords()


def typed(text: str) -> Said:
    return Said(text=text)


def tap(data: str) -> Said:
    return Said(choice=data, kind="postback")


def sent(kind: str) -> Said:
    return Said(kind=kind)


def run(regions: Regions, *messages: Said, start: Intake | None = None) -> tuple[Intake, list[Ask]]:
    """Return the intake after the person sent messages, and the last messages they were sent."""
    intake, asks = (start, []) if start is not None else begin()
    for said in messages:
        intake, asks = advance(intake, said, regions=regions, words=WORDS)
    return intake, asks


def datas(ask: Ask) -> list[str]:
    return [data for _, data in ask.quick]


TOPIC_DATA = [f"topic:{t}" for t in TOPICS]
AGE_DATA = [*(f"age:{band}" for band in AGE_BANDS), "crisis"]

# What each kind of question looks like to the person: a phrase they read and the buttons under it.
ASKED: dict[str, Callable[[Ask], bool]] = {
    "topic": lambda a: "ご相談の内容" in a.text and "3 死にたいほどつらい" in a.text and datas(a) == TOPIC_DATA,
    "topic again": lambda a: "うまく受け取れません" in a.text and "1から9" in a.text and datas(a) == TOPIC_DATA,
    "postal": lambda a: "郵便番号を7桁" in a.text and datas(a) == ["postal:unknown", "crisis"],
    "postal again": lambda a: "見つかりませんでした" in a.text and datas(a) == ["postal:unknown", "crisis"],
    "postal en": lambda a: "postal code" in a.text and a.quick == (("I don't know", "postal:unknown"), ("Feeling suicidal", "crisis")),
    "prefecture": lambda a: "都道府県を" in a.text and datas(a) == ["pref:23", "pref:24", "pref:unknown", "crisis"],
    "prefecture again": lambda a: "うまく受け取れません" in a.text and datas(a) == ["pref:23", "pref:24", "pref:unknown", "crisis"],
    "age": lambda a: "年代" in a.text and "答えたくない" in a.text and datas(a) == AGE_DATA,
    "age again": lambda a: "うまく受け取れません" in a.text and "年代" not in a.text and datas(a) == AGE_DATA,
    "age en": lambda a: "how old" in a.text and datas(a) == AGE_DATA and "Prefer not to say" in dict(a.quick).keys(),
    "national then age": lambda a: a.text.startswith("わかりました。全国の窓口") and "年代" in a.text and datas(a) == AGE_DATA,
    "done": lambda a: "相談員におつなぎします" in a.text and a.quick == (),
    "done en": lambda a: "connecting you to a counsellor" in a.text and a.quick == (),
    "crisis": lambda a: "できるだけ早く、相談員がお返事します" in a.text and "ここに書いて" in a.text and "119" in a.text and a.quick == (),
    "crisis en": lambda a: "as soon as possible" in a.text and a.quick == (),
    "in words": lambda a: "スタンプや画像" in a.text and "文字で" in a.text,
}

TOKYO = dict(prefecture="13", municipality="13101", lgcode="131016")
MIE = dict(prefecture="24", municipality="24303", lgcode="243035")
AICHI = dict(prefecture="23", municipality="23235", lgcode="232351")
AT_POSTAL = Intake(step="postal", topic="mind")
AT_AGE = Intake(step="age", topic="mind", **TOKYO)
DONE = Intake(step="done", topic="mind", age_band="30-49", **TOKYO)

ROWS: list[tuple[str, list[Said], Intake, str | None]] = [
    # --- topic ---
    ("topic by button", [tap("topic:life")], Intake(step="postal", topic="life"), "postal"),
    ("topic by a typed digit", [typed("2")], AT_POSTAL, "postal"),
    ("topic by a full-width digit", [typed("２")], AT_POSTAL, "postal"),
    ("topic by a digit with 番", [typed("５番")], Intake(step="postal", topic="family"), "postal"),
    ("topic 9 is general", [typed("9")], Intake(step="postal", topic="general"), "postal"),
    ("topic by words", [typed("お金のことで困っています")], Intake(step="postal", topic="life"), "postal"),
    (
        "violence words before family words",
        [typed("夫からの暴力がひどい")],
        Intake(step="postal", topic="violence", band="elevated"),  # 暴力 is also an elevated word
        "postal",
    ),
    ("topic words typed in katakana", [typed("ジンカンカンケイ")], Intake(step="topic", tries=1), "topic again"),
    ("DV is a word, not part of DVD", [typed("DVDが見られない")], Intake(step="topic", tries=1), "topic again"),
    (
        "English words choose the foreign line",
        [typed("I feel so lonely")],
        Intake(step="postal", topic="foreign", english=True),
        "postal en",
    ),
    ("one miss asks again", [typed("こんにちは")], Intake(step="topic", tries=1), "topic again"),
    ("a miss, then an answer", [typed("こんにちは"), typed("1")], Intake(step="postal", topic="life"), "postal"),
    ("two misses are general", [typed("こんにちは"), typed("よろしく")], Intake(step="postal", topic="general"), "postal"),
    ("a digit out of range is a miss", [typed("0")], Intake(step="topic", tries=1), "topic again"),
    ("an unknown topic button is a miss", [tap("topic:weather")], Intake(step="topic", tries=1), "topic again"),
    # --- crisis, at any step ---
    ("topic 3 typed is crisis", [typed("3")], Intake(step="done", topic="crisis", band="crisis"), "crisis"),
    ("the crisis topic button", [tap("topic:crisis")], Intake(step="done", topic="crisis", band="crisis"), "crisis"),
    ("crisis words as the first message", [typed("もう死にたい")], Intake(step="done", topic="crisis", band="crisis"), "crisis"),
    ("crisis words at the postal step", [typed("2"), typed("シニタイ")], Intake(step="done", topic="crisis", band="crisis"), "crisis"),
    ("the crisis button at the postal step", [typed("2"), tap("crisis")], Intake(step="done", topic="crisis", band="crisis"), "crisis"),
    (
        "crisis words at the prefecture step",
        [typed("2"), typed("4980000"), typed("消えたい…")],
        Intake(step="done", topic="crisis", band="crisis"),
        "crisis",
    ),
    (
        "the crisis button at the age step keeps the place",
        [typed("2"), typed("100-0001"), tap("crisis")],
        Intake(step="done", topic="crisis", band="crisis", **TOKYO),
        "crisis",
    ),
    (
        "crisis words with a postal code skip the rest",
        [typed("2"), typed("100-0001 もう生きていたくない")],
        Intake(step="done", topic="crisis", band="crisis"),
        "crisis",
    ),
    # --- elevated ---
    ("elevated words raise the band and ask again", [typed("つらい…")], Intake(step="topic", band="elevated", tries=1), "topic again"),
    (
        "elevated words then the questions go on",
        [typed("最近眠れない"), typed("2"), typed("100-0001"), tap("age:18-29")],
        Intake(step="done", topic="mind", band="elevated", age_band="18-29", **TOKYO),
        "done",
    ),
    # --- postal code ---
    ("a postal code with a hyphen", [typed("2"), typed("100-0001")], AT_AGE, "age"),
    ("a postal code in full width", [typed("2"), typed("１００－０００１")], AT_AGE, "age"),
    ("a postal code with 〒 and no hyphen", [typed("2"), typed("〒1000001")], AT_AGE, "age"),
    ("a postal code inside a sentence", [typed("2"), typed("郵便番号は100-0001です")], AT_AGE, "age"),
    ("a postal code with a long-vowel dash", [typed("2"), typed("100ー0001")], AT_AGE, "age"),
    (
        "wards of one city give the city",
        [typed("2"), typed("004-0000")],
        Intake(step="age", topic="mind", prefecture="01", municipality="01100", lgcode="011002"),
        "age",
    ),
    (
        "towns of one prefecture give the prefecture",
        [typed("2"), typed("985-0000")],
        Intake(step="age", topic="mind", prefecture="04"),
        "age",
    ),
    ("わからない", [typed("2"), typed("わからない")], Intake(step="age", topic="mind"), "national then age"),
    ("分からない", [typed("2"), typed("分からないです")], Intake(step="age", topic="mind"), "national then age"),
    ("the わからない button", [typed("2"), tap("postal:unknown")], Intake(step="age", topic="mind"), "national then age"),
    ("an unknown code is asked once more", [typed("2"), typed("999-9999")], replace(AT_POSTAL, tries=1), "postal again"),
    ("too few digits are asked once more", [typed("2"), typed("100-001")], replace(AT_POSTAL, tries=1), "postal again"),
    ("then an answer", [typed("2"), typed("999-9999"), typed("1000001")], AT_AGE, "age"),
    (
        "two unknown codes are national",
        [typed("2"), typed("999-9999"), typed("000-0000")],
        Intake(step="age", topic="mind"),
        "national then age",
    ),
    ("a prefecture named in full", [typed("2"), typed("東京都に住んでいます")], Intake(step="age", topic="mind", prefecture="13"), "age"),
    ("a prefecture's short name as the answer", [typed("2"), typed("大阪")], Intake(step="age", topic="mind", prefecture="27"), "age"),
    ("東京都 is not 京都", [typed("2"), typed("東京都")], Intake(step="age", topic="mind", prefecture="13"), "age"),
    ("大分 in a sentence is not 大分県", [typed("2"), typed("大分前から住んでいます")], replace(AT_POSTAL, tries=1), "postal again"),
    # --- a postal code two prefectures share ---
    (
        "a code two prefectures share asks which",
        [typed("2"), typed("498-0000")],
        Intake(step="prefecture", topic="mind", postal_choices=("23235", "24303")),
        "prefecture",
    ),
    ("the prefecture by button", [typed("2"), typed("498-0000"), tap("pref:24")], Intake(step="age", topic="mind", **MIE), "age"),
    ("the prefecture by number", [typed("2"), typed("498-0000"), typed("1")], Intake(step="age", topic="mind", **AICHI), "age"),
    ("the prefecture by name", [typed("2"), typed("498-0000"), typed("三重です")], Intake(step="age", topic="mind", **MIE), "age"),
    (
        "the prefecture not known",
        [typed("2"), typed("498-0000"), tap("pref:unknown")],
        Intake(step="age", topic="mind"),
        "national then age",
    ),
    (
        "a prefecture that is not a choice is a miss",
        [typed("2"), typed("498-0000"), tap("pref:13")],
        Intake(step="prefecture", topic="mind", postal_choices=("23235", "24303"), tries=1),
        "prefecture again",
    ),
    (
        "two misses are national",
        [typed("2"), typed("498-0000"), typed("3"), typed("えーと")],
        Intake(step="age", topic="mind"),
        "national then age",
    ),
    # --- age band ---
    ("the age band by button", [typed("2"), typed("100-0001"), tap("age:30-49")], replace(DONE, age_band="30-49"), "done"),
    ("答えたくない", [typed("2"), typed("100-0001"), typed("答えたくない")], replace(DONE, age_band="unknown"), "done"),
    ("the 答えたくない button", [typed("2"), typed("100-0001"), tap("age:unknown")], replace(DONE, age_band="unknown"), "done"),
    ("an age typed", [typed("2"), typed("100-0001"), typed("１７歳")], replace(DONE, age_band="under18"), "done"),
    ("a decade typed", [typed("2"), typed("100-0001"), typed("20代です")], replace(DONE, age_band="18-29"), "done"),
    ("a label typed", [typed("2"), typed("100-0001"), typed("65歳以上")], replace(DONE, age_band="65plus"), "done"),
    ("a decade across two bands is a miss", [typed("2"), typed("100-0001"), typed("60代")], replace(AT_AGE, tries=1), "age again"),
    ("two misses are unknown", [typed("2"), typed("100-0001"), typed("10代"), typed("ええと")], replace(DONE, age_band="unknown"), "done"),
    # --- what cannot answer ---
    ("a sticker at the topic step", [sent("sticker")], Intake(), "in words"),
    ("an image at the postal step", [typed("2"), sent("image")], AT_POSTAL, "in words"),
    ("a location at the age step", [typed("2"), typed("100-0001"), sent("location")], AT_AGE, "in words"),
    ("a button of an earlier question", [typed("2"), tap("topic:life")], AT_POSTAL, "postal"),
    # --- English for the foreign-language topic ---
    (
        "the foreign line in English",
        [tap("topic:foreign"), typed("100-0001")],
        Intake(step="age", topic="foreign", english=True, **TOKYO),
        "age en",
    ),
    (
        "the foreign line to the end",
        [tap("topic:foreign"), typed("100-0001"), tap("age:unknown")],
        Intake(step="done", topic="foreign", age_band="unknown", english=True, **TOKYO),
        "done en",
    ),
    (
        "crisis in English stays in English",
        [typed("8"), typed("I want to die")],
        Intake(step="done", topic="crisis", band="crisis", english=True),
        "crisis en",
    ),
]


@pytest.mark.parametrize(("sends", "final", "asked"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_intake(regions: Regions, sends: list[Said], final: Intake, asked: str | None) -> None:
    intake, asks = run(regions, *sends)
    assert intake == final
    assert asks, "every answer during the intake gets a reply"
    assert ASKED[asked](asks[-1]), asks[-1]
    assert Intake.from_dict(json.loads(json.dumps(intake.to_dict()))) == intake


def test_the_greeting_says_whose_chat_it_is_what_is_kept_and_asks_the_topic() -> None:
    intake, (greeting, question) = begin()
    assert intake == Intake()
    for said in (
        "孤独・孤立相談ダイヤル",
        "暗号化",
        "期間だけ保管",
        "相談員だけ",
        "LINEのプロフィールも見ません",
        "いつでもやめられます",
        "119",
        "110",
    ):
        assert said in greeting.text
    assert greeting.quick == () and ASKED["topic"](question)
    web = begin("web")[1][0].text
    assert "LINE" not in web and "暗号化" in web and "119" in web


@pytest.mark.parametrize(
    "said", [typed("死にたい"), typed("ｼﾆﾀｲ"), tap("crisis"), tap("topic:crisis")], ids=["words", "half-width", "button", "topic button"]
)
def test_a_person_waiting_who_writes_crisis_words_is_raised_to_crisis_and_nothing_is_said(regions: Regions, said: Said) -> None:
    intake, asks = run(regions, said, start=DONE)
    assert (intake, asks) == (replace(DONE, band="crisis"), [])


def test_once_done_only_the_band_changes_and_it_is_never_lowered(regions: Regions) -> None:
    elevated, asks = run(regions, typed("最近ずっと眠れない"), start=DONE)
    assert (elevated, asks) == (replace(DONE, band="elevated"), [])
    assert run(regions, typed("ありがとうございます"), typed("100-0001"), tap("age:18-29"), start=elevated) == (elevated, [])
    crisis, _ = run(regions, typed("消えたい"), start=elevated)
    assert run(regions, typed("つらい"), typed("大丈夫です"), start=crisis) == (crisis, [])
    assert run(regions, sent("sticker"), start=DONE) == (DONE, [])


def test_a_sticker_changes_nothing_and_keeps_the_buttons(regions: Regions) -> None:
    at_prefecture, asks = run(regions, typed("2"), typed("498-0000"))
    again, (reply,) = run(regions, sent("sticker"), start=at_prefecture)
    assert again == at_prefecture and reply.quick == asks[-1].quick
    assert "下のボタン" in reply.text


def test_a_place_is_read_back_before_the_age_question(regions: Regions) -> None:
    _, (asked,) = run(regions, typed("2"), typed("100-0001"))
    assert asked.text.startswith("東京都千代田区の窓口もお探しします。")
    _, (asked,) = run(regions, typed("2"), typed("498-0000"), tap("pref:24"))
    assert asked.text.startswith("三重県桑名郡木曽岬町の窓口もお探しします。")
    _, (asked,) = run(regions, typed("2"))
    assert asked.text.startswith("「こころ・人間関係」ですね。")


def test_every_quick_reply_label_fits_line(regions: Regions) -> None:
    asks = [ask for _, sends, _, _ in ROWS for ask in run(regions, *sends)[1]] + begin()[1]
    labels = [label for ask in asks for label, _ in ask.quick]
    labels += [*wording.TOPIC_LABELS.values(), *wording.AGE_LABELS.values(), *wording.EN_AGE_LABELS.values()]
    labels += [wording.CRISIS_LABEL, wording.EN_CRISIS_LABEL, wording.UNKNOWN_LABEL, wording.EN_UNKNOWN_LABEL]
    labels += [regions.name_of(code) for code in regions.prefectures]
    assert all(0 < len(label) <= wording.QUICK_LABEL_MAX for label in labels), [x for x in labels if len(x) > 20]
    assert all(len(ask.quick) <= 13 for ask in asks)  # LINE shows at most 13 quick replies


def test_the_state_holds_nothing_the_person_wrote(regions: Regions) -> None:
    intake, _ = run(regions, typed("夫からの暴力がつらい"), typed("郵便番号は100-0001です"), typed("35歳"))
    stored = json.dumps(intake.to_dict(), ensure_ascii=False)
    assert "暴力" not in stored and "1000001" not in stored and "100-0001" not in stored and "35" not in stored
    assert json.loads(stored) == {
        "step": "done",
        "topic": "violence",
        "band": "elevated",
        "prefecture": "13",
        "municipality": "13101",
        "lgcode": "131016",
        "postal_choices": [],
        "age_band": "30-49",
        "tries": 0,
        "english": False,
    }


def test_a_stored_state_is_checked_when_read() -> None:
    assert Intake.from_dict({}) == Intake()
    assert Intake.from_dict({"step": "age", "topic": "mind", "later_field": 1}) == Intake(step="age", topic="mind")
    for bad in (
        {"step": "lunch"},
        {"band": "high"},
        {"topic": "weather"},
        {"age_band": "40"},
        {"tries": "1"},
        {"postal_choices": "23235"},
        {"english": "yes"},
    ):
        with pytest.raises(ValueError, match="not an intake state"):
            Intake.from_dict(bad)


# --- wording around the counsellor ---------------------------------------------------------

PHONES = [("こころの窓口", "+81312345678"), ("くらしの相談", "0120123456")]


def test_waiting_says_the_place_the_wait_that_they_may_write_and_the_phones_open_now() -> None:
    text = wording.waiting(3, 10, PHONES)
    assert "3番目" in text and "10分ほど" in text and "書いてくださって" in text
    assert "・こころの窓口 03-1234-5678" in text and "・くらしの相談 0120-123-456" in text
    assert "電話" not in wording.waiting(1, 5, [])
    english = wording.waiting(2, 7, PHONES, english=True)
    assert "number 2 in line" in english and "about 7 minutes" in english and "03-1234-5678" in english


def test_phones_are_written_the_japanese_way_or_left_out() -> None:
    assert wording.phones([]) == ""
    assert wording.phones([("夜間の窓口", "+819012345678"), ("番号の形でない", "#7119")]) == (
        "いま、お電話でも相談できます。\n・夜間の窓口 090-1234-5678\n・番号の形でない #7119"
    )


def test_closed_says_when_help_opens_in_japan_time() -> None:
    openings = [
        NextOpening("prefecture", datetime(2027, 1, 4, 0, 0, tzinfo=UTC), "s1", "東京都こころの相談"),  # 9:00 JST, a Monday
        NextOpening("national", datetime(2027, 1, 4, 0, 30, tzinfo=UTC), "s2", "全国こころの電話"),
    ]
    text = wording.closed(openings, PHONES)
    assert "・東京都こころの相談：1月4日（月）9時から" in text and "・全国こころの電話：1月4日（月）9時30分から" in text
    assert "03-1234-5678" in text and "119" in text
    assert "Mon 4 Jan, 9:00" in wording.closed(openings, [], english=True)


def test_closed_with_nothing_to_open_says_so_and_gives_the_phones() -> None:
    text = wording.closed([], PHONES)
    assert "見つかりませんでした" in text and "03-1234-5678" in text and "110" in text
    assert "見つかりませんでした" in wording.closed([], []) and "電話でも" not in wording.closed([], [])


def test_the_other_messages_say_what_happens() -> None:
    link = wording.own_sns("こころのLINE相談", "https://example.org/line", PHONES)
    assert "こころのLINE相談" in link and "https://example.org/line" in link and "03-1234-5678" in link
    assert "順番" in wording.transferred("東京都の窓口") and "東京都の窓口" in wording.transferred("東京都の窓口")
    assert "相談員" in wording.joined() and "文字" in wording.write_in_words()
    assert "3番目" in wording.still_waiting(3, 5) and "5分" in wording.still_waiting(3, 5)
    assert "一言" in wording.idle_check() and "終わります" in wording.idle_close() and "ありがとう" in wording.goodbye()
    for say in (wording.joined, wording.write_in_words, wording.idle_check, wording.idle_close, wording.goodbye):
        english = say(english=True)
        assert english.isascii() and english != say()
