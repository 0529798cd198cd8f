"""The chat intake: the phone's questions (topic, postal code, age band) asked as quick replies, before a human answers.

A pure state machine: `begin` greets and asks the topic, `advance` takes what the person sent and
returns the next state and what to say. No I/O and no clock; the caller stores the state (it is
JSON and names nobody) and sends the messages. Crisis words or the crisis button end the questions
at any step; nothing the person sends is a dead end (two misses move on with a safe default).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import Any, Literal

from referral_directory.records import TOPICS
from referral_directory.regions import Regions
from routing.cases.schemas import AGE_BANDS
from routing.chats import wording
from routing.chats.crisis_words import CrisisWords, fold, occurs
from routing.contacts.place import Place, place_of, prefectures_of

Band = Literal["crisis", "elevated", "normal"]
Step = Literal["topic", "postal", "prefecture", "age", "done"]
BANDS: tuple[str, ...] = ("normal", "elevated", "crisis")  # in rising order: a band is only ever raised
STEPS: tuple[str, ...] = ("topic", "postal", "prefecture", "age", "done")
ANSWERS = ("text", "postback")  # the kinds of message that can answer a question; stickers, images and the rest cannot

CRISIS = "crisis"  # the crisis button's data, at any step
TOPIC, POSTAL, PREFECTURE, AGE = "topic:", "postal:", "pref:", "age:"  # the other buttons' data: prefix and value
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Said:
    """What the person sent, as the intake sees it."""

    text: str = ""  # a text message (may be empty)
    choice: str = ""  # a quick-reply postback's data: "topic:mind", "postal:unknown", "pref:13", "age:30-49", "crisis"
    kind: str = "text"  # text, postback, sticker, image, video, audio, file, location, other


@dataclass(frozen=True, slots=True)
class Ask:
    """One message to send: its text and its quick replies as (label, data)."""

    text: str
    quick: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Intake:
    """Where a person is in the intake and what they answered; JSON-serialisable, nothing identifying in it."""

    step: Step = "topic"
    topic: str | None = None
    band: Band = "normal"
    prefecture: str | None = None
    municipality: str | None = None
    lgcode: str | None = None
    postal_choices: tuple[str, ...] = ()  # the municipalities of a postal code several prefectures share
    age_band: str | None = None  # an AGE_BANDS member; "unknown" when they chose not to say
    tries: int = 0  # answers at this step that were not understood
    english: bool = False  # they chose the foreign-language topic, so they read English (kept if crisis ends the intake)

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain JSON values."""
        return {f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Intake:
        """Return the state `to_dict` gave; ValueError when it is not one (keys it does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        choices = values.get("postal_choices") or ()
        if not isinstance(choices, list | tuple):
            raise ValueError("not an intake state: bad postal_choices")
        intake = cls(**{**values, "postal_choices": tuple(choices)})
        _check(intake)
        return intake


def begin(channel: Literal["line", "web"] = "line") -> tuple[Intake, list[Ask]]:
    """Return the new intake and its first messages: the greeting (for "line" or "web") and the topic question."""
    return Intake(), [Ask(wording.greeting(channel)), _topic_question()]


def advance(intake: Intake, said: Said, *, regions: Regions, words: CrisisWords) -> tuple[Intake, list[Ask]]:
    """Return the intake after what the person sent, and what to say to them.

    Once the intake is done, only the band changes (a waiting person may write crisis words) and
    nothing is said: the chat's own messages take over.
    """
    band = _raised(intake.band, words.band_of(said.text) if said.kind in ANSWERS else None)
    if said.choice == CRISIS or said.choice == TOPIC + "crisis":
        band = "crisis"
    if intake.step == "done":
        return replace(intake, band=band), []
    if said.kind not in ANSWERS:
        return intake, [Ask(wording.answer_in_words(english=intake.english), _quick(intake, regions))]
    if band == "crisis" or (intake.step == "topic" and _topic_of(said) == "crisis"):
        crisis = replace(intake, step="done", topic="crisis", band="crisis", postal_choices=(), tries=0)
        return crisis, [Ask(wording.crisis_ack(english=intake.english))]
    intake = replace(intake, band=band)
    if said.choice and not said.choice.startswith(_PREFIXES[intake.step]):
        return intake, [_question(intake, regions)]  # a button of an earlier question, tapped again
    return _STEP_RULES[intake.step](intake, said, regions)


# --- the steps -----------------------------------------------------------------------------


def _at_topic(intake: Intake, said: Said, regions: Regions) -> tuple[Intake, list[Ask]]:
    topic = _topic_of(said)
    if topic is None and intake.tries == 0:
        return replace(intake, tries=1), [_topic_question(again=True)]
    chosen = replace(intake, step="postal", topic=topic or "general", english=topic == "foreign", tries=0)
    return chosen, [Ask(wording.postal_question(chosen.topic, english=chosen.english), _quick(chosen, regions))]


def _at_postal(intake: Intake, said: Said, regions: Regions) -> tuple[Intake, list[Ask]]:
    if said.choice == POSTAL + UNKNOWN or _says(said.text, wording.UNKNOWN_WORDS):
        return _unplaced(intake, regions)
    code = _postal_code_in(said.text)
    match = regions.postal(code) if code else None
    if match is not None and match.prefecture is None:
        asking = replace(intake, step="prefecture", postal_choices=match.municipalities, tries=0)
        return asking, [_question(asking, regions)]
    if match is not None:
        return _placed(intake, place_of(regions, match.municipalities), match.label, regions)
    named = None if code else _prefecture_named(said.text, regions, prefectures=list(regions.prefectures))
    if named is not None:
        return _placed(intake, Place(named, None, None), regions.name_of(named), regions)
    if intake.tries == 0:
        again = replace(intake, tries=1)
        return again, [Ask(wording.postal_again(english=intake.english), _quick(again, regions))]
    return _unplaced(intake, regions)


def _at_prefecture(intake: Intake, said: Said, regions: Regions) -> tuple[Intake, list[Ask]]:
    choices = prefectures_of(intake.postal_choices)
    chosen = _prefecture_chosen(said, choices, regions)
    if chosen == UNKNOWN or (chosen is None and intake.tries > 0):
        return _unplaced(intake, regions)
    if chosen is None:
        again = replace(intake, tries=1)
        return again, [Ask(wording.prefecture_question(again=True, english=intake.english), _quick(again, regions))]
    place = place_of(regions, [code for code in intake.postal_choices if code.startswith(chosen)])
    label = regions.name_of(chosen) + (regions.name_of(place.municipality) if place.municipality else "")
    return _placed(intake, place, label, regions)


def _at_age(intake: Intake, said: Said, regions: Regions) -> tuple[Intake, list[Ask]]:
    band = _age_band_of(said)
    if band is None and intake.tries == 0:
        again = replace(intake, tries=1)
        return again, [Ask(wording.age_question(again=True, english=intake.english), _quick(again, regions))]
    done = replace(intake, step="done", age_band=band or UNKNOWN, tries=0)
    return done, [Ask(wording.intake_done(english=intake.english))]


_STEP_RULES = {"topic": _at_topic, "postal": _at_postal, "prefecture": _at_prefecture, "age": _at_age}
_PREFIXES = {"topic": TOPIC, "postal": POSTAL, "prefecture": PREFECTURE, "age": AGE}


def _placed(intake: Intake, place: Place, label: str, regions: Regions) -> tuple[Intake, list[Ask]]:
    """Settle the place and ask the age band, reading the place back first."""
    asking = replace(
        intake, step="age", prefecture=place.prefecture, municipality=place.municipality, lgcode=place.lgcode, postal_choices=(), tries=0
    )
    said_back = wording.read_back(label, english=intake.english)
    return asking, [Ask(f"{said_back}\n\n{wording.age_question(english=intake.english)}", _quick(asking, regions))]


def _unplaced(intake: Intake, regions: Regions) -> tuple[Intake, list[Ask]]:
    """Leave the place unknown (the national services only) and ask the age band."""
    asking = replace(intake, step="age", prefecture=None, municipality=None, lgcode=None, postal_choices=(), tries=0)
    unknown = wording.postal_unknown(english=intake.english)
    return asking, [Ask(f"{unknown}\n\n{wording.age_question(english=intake.english)}", _quick(asking, regions))]


# --- the questions and their buttons -------------------------------------------------------


def _topic_question(*, again: bool = False) -> Ask:
    return Ask(wording.topic_question(again=again), tuple((label, TOPIC + topic) for topic, label in wording.TOPIC_LABELS.items()))


def _question(intake: Intake, regions: Regions) -> Ask:
    """Return the question of the intake's step, asked afresh."""
    english = intake.english
    if intake.step == "topic":
        return _topic_question()
    if intake.step == "postal":
        return Ask(wording.postal_question(None, english=english), _quick(intake, regions))
    if intake.step == "prefecture":
        return Ask(wording.prefecture_question(english=english), _quick(intake, regions))
    return Ask(wording.age_question(english=english), _quick(intake, regions))


def _quick(intake: Intake, regions: Regions) -> tuple[tuple[str, str], ...]:
    """Return the quick replies of the intake's step; every step after the topic also offers the crisis button."""
    english = intake.english
    unknown = wording.EN_UNKNOWN_LABEL if english else wording.UNKNOWN_LABEL
    crisis = ((wording.EN_CRISIS_LABEL if english else wording.CRISIS_LABEL, CRISIS),)
    if intake.step == "topic":
        return _topic_question().quick
    if intake.step == "postal":
        return ((unknown, POSTAL + UNKNOWN), *crisis)
    if intake.step == "prefecture":
        named = tuple((regions.name_of(code), PREFECTURE + code) for code in prefectures_of(intake.postal_choices))
        return (*named, (unknown, PREFECTURE + UNKNOWN), *crisis)
    if intake.step == "age":
        labels = wording.EN_AGE_LABELS if english else wording.AGE_LABELS
        return (*((labels[band], AGE + band) for band in AGE_BANDS), *crisis)
    return ()


# --- reading answers -----------------------------------------------------------------------

_POSTAL_CODE = re.compile(r"(?<![0-9])([0-9]{3})\s*[-\u2010-\u2015\u2212\u30fc]?\s*([0-9]{4})(?![0-9])")
_DIGIT = re.compile(r"([1-9])番?")
_AGE = re.compile(r"([0-9]{1,3})(?:歳|さい|才)?(代)?(?:です)?")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _topic_of(said: Said) -> str | None:
    """Return the topic a button, a typed number (1–9, half or full width) or typed words chose, or None."""
    if said.choice.startswith(TOPIC):
        return said.choice.removeprefix(TOPIC) if said.choice.removeprefix(TOPIC) in TOPICS else None
    folded = fold(said.text)
    digit = _DIGIT.fullmatch(folded)
    if digit:
        return TOPICS[int(digit.group(1)) - 1]
    for topic, words in _topic_words():
        if any(occurs(folded, word) for word in words):
            return topic
    letters = sum(c.isascii() and c.isalpha() for c in folded)
    return "foreign" if letters >= 3 and not _JAPANESE.search(folded) else None


@cache
def _topic_words() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((topic, tuple(fold(word) for word in words)) for topic, words in wording.TOPIC_WORDS)


def _postal_code_in(text: str) -> str | None:
    """Return the 7 digits of a postal code written in text (〒100-0001, １００－０００１, 1000001), or None."""
    found = _POSTAL_CODE.search(unicodedata.normalize("NFKC", text))
    return found.group(1) + found.group(2) if found else None


def _prefecture_named(text: str, regions: Regions, *, prefectures: Iterable[str]) -> str | None:
    """Return the one prefecture text names in full (東京都), or as its whole answer in short (東京), among prefectures."""
    folded = fold(text).removesuffix("です")
    named = {code for code in prefectures if _full_name(regions, code) in folded or folded == _short_name(regions, code)}
    return named.pop() if len(named) == 1 else None


def _prefecture_chosen(said: Said, choices: list[str], regions: Regions) -> str | None:
    """Return the prefecture chosen among choices by button, number or name; UNKNOWN when they do not know; else None."""
    if said.choice.startswith(PREFECTURE):
        chosen = said.choice.removeprefix(PREFECTURE)
        return chosen if chosen in choices or chosen == UNKNOWN else None
    if _says(said.text, wording.UNKNOWN_WORDS):
        return UNKNOWN
    digit = _DIGIT.fullmatch(fold(said.text))
    if digit:
        return choices[int(digit.group(1)) - 1] if int(digit.group(1)) <= len(choices) else None
    folded = fold(said.text)
    named = {code for code in choices if _short_name(regions, code) in folded}  # two or three to tell apart: short names are safe
    return named.pop() if len(named) == 1 else None


def _full_name(regions: Regions, code: str) -> str:
    return fold(regions.name_of(code))


def _short_name(regions: Regions, code: str) -> str:
    name = _full_name(regions, code)
    return name if name == "北海道" else name[:-1]


def _age_band_of(said: Said) -> str | None:
    """Return the age band a button, a typed age or decade (35, 35歳, 20代) or not wanting to say chose; None when unclear."""
    if said.choice.startswith(AGE):
        band = said.choice.removeprefix(AGE)
        return band if band in AGE_BANDS else None
    if _says(said.text, (*wording.DECLINE_WORDS, *wording.UNKNOWN_WORDS)):
        return UNKNOWN
    folded = fold(said.text)
    for band in AGE_BANDS:
        if folded in {fold(wording.AGE_LABELS[band]), fold(wording.EN_AGE_LABELS[band])}:
            return band
    age = _AGE.fullmatch(folded)
    if age is None:
        return None
    years = int(age.group(1))
    if age.group(2):  # a decade: only those inside one band
        return {20: "18-29", 30: "30-49", 40: "30-49", 50: "50-64"}.get(years) or ("65plus" if years >= 70 else None)
    if years > 120:
        return None
    return "under18" if years < 18 else "18-29" if years < 30 else "30-49" if years < 50 else "50-64" if years < 65 else "65plus"


def _says(text: str, words: Iterable[str]) -> bool:
    folded = fold(text)
    return bool(folded) and any(occurs(folded, fold(word)) for word in words)


def _raised(band: Band, heard: str | None) -> Band:
    """Return the band raised to what was heard (never lowered)."""
    if heard is not None and BANDS.index(heard) > BANDS.index(band):
        return "crisis" if heard == "crisis" else "elevated"
    return band


def _check(intake: Intake) -> None:
    """Raise ValueError when a stored state is not one the intake can be in."""
    problems = [
        name
        for name, ok in (
            ("step", intake.step in STEPS),
            ("band", intake.band in BANDS),
            ("topic", intake.topic is None or intake.topic in TOPICS),
            ("age_band", intake.age_band is None or intake.age_band in AGE_BANDS),
            ("tries", isinstance(intake.tries, int) and not isinstance(intake.tries, bool) and intake.tries >= 0),
            ("english", isinstance(intake.english, bool)),
            ("postal_choices", all(isinstance(code, str) for code in intake.postal_choices)),
            ("place", all(v is None or isinstance(v, str) for v in (intake.prefecture, intake.municipality, intake.lgcode))),
        )
        if not ok
    ]
    if problems:
        raise ValueError(f"not an intake state: bad {', '.join(problems)}")
