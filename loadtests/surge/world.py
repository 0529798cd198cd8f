"""The simulated world around tsunagu: who calls, what they key, how the dialled lines answer, how long people talk.

Pure: every draw comes from a `random.Random` handed in. The rates are assumptions written down
here so that a run can be read against them (change them in `WorldParams`, not in the code):

- Topics (the IVR's digits, routing/telephony/prompts.py), share of callers: 1 life 15 %, 2 mind 25 %, 3 crisis 8 %,
  4 violence 5 %, 5 family 8 %, 6 youth 5 %, 7 sogi 2 %, 8 foreign 2 %, 9 general 20 %, silence 10 %
  (→ general). One caller in twenty says the topic (ja-JP speech) instead of keying it.
- Postal code: 80 % key a real residential code, the prefecture drawn by population (2020
  census) and the code uniformly within it; 12 % press # ("don't know"); 5 % stay silent;
  3 % key a code that does not exist (the service asks again).
- Any other <Gather>: a documented key with its own chance (callback offer "1": 3 % per offer;
  callback consent "1": 80 %, else "2"), otherwise silence; 5 % press a random digit at a
  prompt the world does not know.
- A dialled line: answers 70 %, busy 10 %, rings out 15 % (the Dial's whole timeout), fails 5 %.
  An answering line rings a lognormal time (median 6 s, below the timeout). Talk time is in
  real seconds, lognormal with mean `talk_mean` (default 20 s) and σ 0.6, and is *not* scaled:
  it is what keeps slots occupied, so that queues form at the peaks.
- Prompts, pauses, gather timeouts and ring times are honoured at `time_scale` (default 0.25,
  i.e. four times faster than a real call) so that a surge of minutes stays within reach of
  two cores; a <Say> lasts its text at 8 characters (Japanese) or 15 (English) per second.
- Patience: a caller not yet connected hangs up after an exponential time (mean 600 s of
  unscaled call time); 2 % hang up during the first prompts. A person called back answers 85 %.
- Each person needs one talk time, drawn once (`Persona.talk`): the conversation they have with
  whoever answers, and the one they would have had on the single number of the reach baseline
  (baseline.py). There, a caller who hears busy rings again after 20 s of call time (± half),
  the pace at which tsunagu tries the lines again for a caller waiting in its queue
  (routing/telephony/webhooks.py WAIT_SECONDS), for as long as their patience lasts.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from routing.telephony.prompts import TOPIC_WORDS

TOPIC_DIGITS = "123456789"
TOPIC_NAMES = ("life", "mind", "crisis", "violence", "family", "youth", "sogi", "foreign", "general")

# Population by prefecture code, thousands (2020 census, rounded).
PREFECTURE_POPULATION: Mapping[str, int] = {
    "01": 5225,
    "02": 1238,
    "03": 1211,
    "04": 2302,
    "05": 960,
    "06": 1068,
    "07": 1833,
    "08": 2867,
    "09": 1933,
    "10": 1939,
    "11": 7345,
    "12": 6284,
    "13": 14048,
    "14": 9237,
    "15": 2201,
    "16": 1035,
    "17": 1133,
    "18": 767,
    "19": 810,
    "20": 2048,
    "21": 1979,
    "22": 3633,
    "23": 7542,
    "24": 1770,
    "25": 1414,
    "26": 2578,
    "27": 8838,
    "28": 5465,
    "29": 1324,
    "30": 923,
    "31": 553,
    "32": 671,
    "33": 1888,
    "34": 2800,
    "35": 1342,
    "36": 720,
    "37": 950,
    "38": 1335,
    "39": 692,
    "40": 5135,
    "41": 811,
    "42": 1312,
    "43": 1738,
    "44": 1124,
    "45": 1070,
    "46": 1588,
    "47": 1467,
}

Outcome = Literal["answer", "busy", "no-answer", "failed"]


@dataclass(frozen=True)
class WorldParams:
    """Every rate and distribution of the simulated world (see the module docstring)."""

    topic_weights: Mapping[str, float] = field(
        default_factory=lambda: {"1": 15, "2": 25, "3": 8, "4": 5, "5": 8, "6": 5, "7": 2, "8": 2, "9": 20, "": 10}
    )
    speech_share: float = 0.05
    postal_known: float = 0.80
    postal_unknown_key: float = 0.12  # "#"
    postal_silent: float = 0.05  # the rest keys a code that does not exist
    documented_keys: Mapping[str, tuple[str, float, str]] = field(
        default_factory=lambda: {"callback": ("1", 0.03, ""), "callback-consent": ("1", 0.80, "2")}
    )  # step → (key, chance, otherwise: "" = silence)
    stray_key: float = 0.05
    dial_outcomes: Mapping[str, float] = field(default_factory=lambda: {"answer": 70, "busy": 10, "no-answer": 15, "failed": 5})
    ring_median: float = 6.0  # seconds before an answer (unscaled)
    talk_mean: float = 20.0  # real seconds
    talk_sigma: float = 0.6
    time_scale: float = 0.25
    patience_mean: float = 600.0  # unscaled seconds before a waiting caller hangs up
    redial_seconds: float = 20.0  # unscaled, on the baseline's single number: from a busy tone to ringing again
    redial_jitter: float = 0.5  # each redial gap drawn within redial_seconds × (1 ± this)
    early_hang_up: float = 0.02
    callback_answered: float = 0.85
    say_chars_per_second: float = 8.0
    say_chars_per_second_en: float = 15.0

    def to_json(self) -> dict:
        return {name: (dict(value) if isinstance(value, Mapping) else value) for name, value in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: Mapping) -> WorldParams:
        values = dict(data)
        if "documented_keys" in values:
            values["documented_keys"] = {k: tuple(v) for k, v in values["documented_keys"].items()}
        return cls(**values)


@dataclass(frozen=True)
class GatherInput:
    """What a caller does at one <Gather>: keys (None: silence), or words said; and how long they take."""

    keys: str | None = None
    speech: str | None = None
    seconds: float = 0.0  # unscaled, from the end of the prompt to the last key or word


@dataclass(frozen=True)
class LineAnswer:
    """How a dialled line behaves on one dial: outcome, unscaled ring seconds, real talk seconds."""

    outcome: Outcome
    ring_seconds: float
    talk_seconds: float = 0.0


class PostalSample:
    """Real residential postal codes by prefecture, drawn by population; built once at start-up."""

    def __init__(self, codes_by_prefecture: Mapping[str, Sequence[str]]) -> None:
        self.prefectures = sorted(p for p, codes in codes_by_prefecture.items() if codes)
        self.codes = {p: tuple(codes_by_prefecture[p]) for p in self.prefectures}
        weights = [PREFECTURE_POPULATION.get(p, 1) for p in self.prefectures]
        self._cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> str:
        """Return a postal code: a prefecture by population, then a code uniformly within it."""
        prefecture = self.prefectures[bisect.bisect(self._cumulative, rng.random() * self._cumulative[-1])]
        return rng.choice(self.codes[prefecture])

    def to_json(self) -> dict[str, list[str]]:
        return {p: list(c) for p, c in self.codes.items()}


def postal_codes_by_prefecture(
    postal_codes: Mapping[str, tuple[str, ...]], office_codes: frozenset[str], rng: random.Random, per_prefecture: int = 200
) -> dict[str, list[str]]:
    """Return up to `per_prefecture` residential codes of one municipality each, per prefecture (from Regions' maps)."""
    by_prefecture: dict[str, list[str]] = {}
    for code, municipalities in sorted(postal_codes.items()):
        if code not in office_codes and len(municipalities) == 1:
            by_prefecture.setdefault(municipalities[0][:2], []).append(code)
    return {p: sorted(rng.sample(codes, min(per_prefecture, len(codes)))) for p, codes in by_prefecture.items()}


def weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    """Return a key drawn with its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class Persona:
    """One caller (or one person called back): every decision they make in a call, drawn as the call goes."""

    def __init__(self, params: WorldParams, rng: random.Random, postal: PostalSample | None, *, called_back: bool = False) -> None:
        self.params, self.rng, self.postal, self.called_back = params, rng, postal, called_back
        self.patience = math.inf if called_back else rng.expovariate(1 / params.patience_mean)
        hangs_up_early = not called_back and rng.random() < params.early_hang_up
        self.hang_up_before_verb = rng.randint(1, 3) if hangs_up_early else None
        self._talk: float | None = None

    def gather(self, step: str, modes: Sequence[str]) -> GatherInput:
        """Return what the caller does at a <Gather> whose action is the step (last path segment)."""
        if self.called_back:
            return GatherInput()
        if step == "topic":
            return self.topic(modes)
        if step == "postal":
            return self.postal_code()
        key, chance, otherwise = self.params.documented_keys.get(step, ("", 0.0, ""))
        if key and self.rng.random() < chance:
            return GatherInput(keys=key, seconds=1.5)
        if key and otherwise:
            return GatherInput(keys=otherwise, seconds=1.5)
        if not key and self.rng.random() < self.params.stray_key:
            return GatherInput(keys=self.rng.choice(TOPIC_DIGITS), seconds=1.5)
        return GatherInput()

    def topic(self, modes: Sequence[str]) -> GatherInput:
        digit = weighted(self.rng, self.params.topic_weights)
        if digit and "speech" in modes and self.rng.random() < self.params.speech_share:
            words = TOPIC_WORDS[TOPIC_NAMES[int(digit) - 1]]
            return GatherInput(speech=self.rng.choice(words), seconds=2.0)
        return GatherInput(keys=digit or None, seconds=1.5 if digit else 0.0)

    def postal_code(self) -> GatherInput:
        p, draw = self.params, self.rng.random()
        if draw < p.postal_known and self.postal is not None:
            return GatherInput(keys=self.postal.draw(self.rng), seconds=5.0)
        draw -= p.postal_known
        if draw < p.postal_unknown_key:
            return GatherInput(keys="#", seconds=1.0)
        if draw < p.postal_unknown_key + p.postal_silent:
            return GatherInput()
        return GatherInput(keys="0000000", seconds=5.0)  # no such code

    def line(self, timeout: float) -> LineAnswer:
        """Return how a dialled line behaves (ring time below the Dial's timeout when it answers)."""
        outcome: Outcome = weighted(self.rng, self.params.dial_outcomes)  # type: ignore[assignment]
        if outcome == "answer":
            return LineAnswer("answer", min(self.ring_seconds(), max(0.0, timeout - 1)), self.talk)
        return LineAnswer(outcome, timeout if outcome == "no-answer" else 1.0 if outcome == "busy" else 0.0)

    def ring_seconds(self) -> float:
        """Return how long a phone rings before it is answered (unscaled), lognormal around the median."""
        return self.rng.lognormvariate(math.log(self.params.ring_median), 0.5)

    @property
    def talk(self) -> float:
        """Return this person's talk time in real seconds: drawn when first asked (so that a call never answered draws it
        last, leaving every other draw as it was), the same whoever answers."""
        if self._talk is None:
            self._talk = self.talk_seconds()
        return self._talk

    def talk_seconds(self) -> float:
        """Return a talk time in real seconds, lognormal with the configured mean."""
        sigma = self.params.talk_sigma
        return self.rng.lognormvariate(math.log(self.params.talk_mean) - sigma**2 / 2, sigma)

    def answers_callback(self) -> bool:
        return self.rng.random() < self.params.callback_answered

    def say_seconds(self, text: str, english: bool) -> float:
        """Return how long a <Say> of this text lasts (unscaled)."""
        per_second = self.params.say_chars_per_second_en if english else self.params.say_chars_per_second
        return len(text) / per_second
