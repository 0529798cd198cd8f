"""The simulated people on LINE: what they read in their chat, and what they do about it (pure).

A `ChatPerson` is one person writing to the dial's LINE account. It is told each message that
reaches their LINE (`heard`) and the time (`tick`), and returns what they do: tap a quick reply,
write, send a sticker, block the account. No I/O and no clock of its own: the Locust user
(chat_users.py) does the sending and the reading, and `next_deadline` says when to look again.

The rates are assumptions of the drill, written down in `ChatParams` (not measured):
- 70 % follow the account first; the others write straight away. Topics as the phone's menu, the
  buttons tapped (15 % type the number instead); crisis words in a few percent (4 %), at once or
  while waiting; a sticker now and then (8 %), which the intake cannot read.
- Postal code: 70 % type a real code from the world's sample (half- or full-width, with or
  without a hyphen or 〒), 20 % tap 「わからない」, 10 % first type one that does not exist.
- Then they wait, writing now and then; a counsellor joins, they talk for a talk time from the
  world, say thank you and wait for the counsellor's goodbye (80 %). Some block the account
  mid-wait (8 %), some go quiet (12 %); anyone waiting longer than their patience goes quiet.
- Times are real seconds, on the drill's scale: a minute of a chat lasts `minute` real seconds
  (talk_mean / 20, so a 20-minute talk is the world's mean talk time). The service's chat timers
  (idle check, idle close, roll-over) are given on the same scale (`service_env`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from routing.chats import wording
from routing.chats.intake import AGE, POSTAL, PREFECTURE, TOPIC, UNKNOWN

Heard = Literal[
    "topic",
    "postal",
    "prefecture",
    "age",
    "waiting",
    "joined",
    "goodbye",
    "idle_check",
    "idle_close",
    "transferred",
    "no_window",
    "info",
    "staff",
]
Plan = Literal["goodbye", "unfollow", "quiet"]
Outcome = Literal["goodbye", "idle_closed", "no_window", "unfollowed", "quiet", "gave_up", "no_goodbye", "stuck_in_intake"]

FIRST_WORDS = ("こんばんは", "話を聞いてほしいです", "相談したいことがあります", "はじめまして")
CRISIS_WORDS = ("もう死にたい", "消えたいです", "いなくなりたい")
WAITING_WORDS = ("まだ待っています", "よろしくお願いします", "少し話を聞いてもらえますか", "仕事のことで悩んでいます")
TALKING_WORDS = (
    "最近、夜になると寝つけなくて",
    "家族ともあまり話していません",
    "誰にも相談できなくて",
    "仕事がうまくいかないんです",
    "ひとりで家にいることが多いです",
    "話してみて、少し落ち着きました",
)
STILL_HERE = "まだいます"
FAREWELLS = (
    "ありがとうございました。少し気持ちが楽になりました。",
    "聞いてくださってありがとうございました。",
)  # the counsellor closes on these
COUNSELLOR_LINES = (
    "相談員です。メッセージを読ませていただきました。",
    "そうだったんですね。よかったら、もう少し教えてください。",
    "話してくださって、ありがとうございます。",
    "それは大変でしたね。いまはどんな気持ちですか。",
)


@dataclass(frozen=True)
class ChatParams:
    """Every rate and time of the simulated people on LINE (see the module docstring); times in real seconds."""

    follow_first: float = 0.7
    topic_weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "life": 15,
            "mind": 25,
            "crisis": 8,
            "violence": 5,
            "family": 8,
            "youth": 5,
            "sogi": 2,
            "foreign": 2,
            "general": 30,
        }
    )
    typed_topic: float = 0.15
    postal_typed: float = 0.70
    postal_unknown: float = 0.20  # the rest first type a code that does not exist
    age_weights: Mapping[str, float] = field(
        default_factory=lambda: {"under18": 10, "18-29": 30, "30-49": 30, "50-64": 15, "65plus": 5, "unknown": 10}
    )
    crisis_words: float = 0.04
    sticker: float = 0.08
    plans: Mapping[str, float] = field(default_factory=lambda: {"goodbye": 0.80, "unfollow": 0.08, "quiet": 0.12})
    think_mean: float = 0.3  # before answering a question; short, as people tap (see think_max)
    # The keeper ends a chat left in its questions for an hour of the service's clock: on May's
    # compressed clock that is about a real second, so answers come within it.
    think_max: float = 0.8
    minute: float = 1.0  # real seconds per minute of a chat
    leave_after_minutes: float = 20.0  # mean, from the end of the questions, for those who block or go quiet
    patience_minutes: float = 90.0  # mean wait before someone still waiting goes quiet (capped at three times)
    write_every_minutes: float = 6.0  # mean gap between messages while waiting or talking (capped below the idle check)
    goodbye_wait_minutes: float = 30.0  # after their thanks, how long they wait for the goodbye
    intake_stall_minutes: float = 30.0  # no question for this long during the intake: the drill's person gives up
    idle_minutes: float = 20.0  # the service's idle check (TSUNAGU_CHAT_IDLE_MINUTES, in chat minutes)
    close_minutes: float = 10.0  # and its close after it (TSUNAGU_CHAT_CLOSE_MINUTES)
    rollover_minutes: float = 3.0  # TSUNAGU_CHAT_ROLLOVER_SECONDS, in chat minutes

    def seconds(self, minutes: float) -> float:
        """Return real seconds for chat minutes."""
        return minutes * self.minute

    def service_env(self, speed: float) -> dict[str, str]:
        """Return the service's chat timers for a clock running `speed` simulated seconds per real second, on this scale."""
        real = {"idle": self.seconds(self.idle_minutes), "close": self.seconds(self.close_minutes)}
        return {
            "TSUNAGU_CHAT_IDLE_MINUTES": str(max(1, round(real["idle"] * speed / 60))),
            "TSUNAGU_CHAT_CLOSE_MINUTES": str(max(1, round(real["close"] * speed / 60))),
            "TSUNAGU_CHAT_ROLLOVER_SECONDS": str(max(1, round(self.seconds(self.rollover_minutes) * speed))),
            # A chat left in its questions ends after an hour of the service's clock: on the drill's clock that is a second
            # or two, and a person still answering would be greeted again. Sixty of the world's chat minutes instead.
            "TSUNAGU_CHAT_INTAKE_MINUTES": str(max(1, round(self.seconds(60) * speed / 60))),
        }

    def to_json(self) -> dict:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping) -> ChatParams:
        return cls(**dict(data))

    def scaled(self, minute: float) -> ChatParams:
        return replace(self, minute=minute)


# --- reading what arrives ---------------------------------------------------------------------

_EXACT: dict[str, Heard] = {}
for _english in (False, True):
    _EXACT |= {
        wording.joined(english=_english): "joined",
        wording.goodbye(english=_english): "goodbye",
        wording.idle_check(english=_english): "idle_check",
        wording.idle_close(english=_english): "idle_close",
    }
_MARKS: tuple[tuple[str, Heard], ...] = (
    ("番目にお待ちいただいています", "waiting"),
    ("You are number", "waiting"),
    ("お待ちいただいた順番は、そのまま引き継ぎます", "transferred"),
    ("We are handing your chat on to", "transferred"),
    ("SNSで受け付けています", "no_window"),
    ("offers chat consultations on its own service", "no_window"),
    ("このご相談を受け付けている窓口は、受付時間外です", "no_window"),
    ("このご相談をお受けできる窓口が見つかりませんでした", "no_window"),
    ("The services for your topic are closed now", "no_window"),
    ("We could not find a service that can answer you now", "no_window"),
)
_INFO = {
    text
    for english in (False, True)
    for text in (
        wording.intake_done(english=english),
        wording.crisis_ack(english=english),
        wording.write_in_words(english=english),
        wording.greeting("line"),
    )
}
QUESTIONS = ("topic", "postal", "prefecture", "age")
_STILL_WAITING = ("お待たせしています。\nいま", "Sorry to keep you waiting.")


def heard(text: str, quick_data: Sequence[str]) -> Heard:
    """Return what a message a person reads in LINE is: a question (by its buttons), a step of the chat, or a counsellor's words."""
    for prefix, kind in ((TOPIC, "topic"), (PREFECTURE, "prefecture"), (AGE, "age"), (POSTAL, "postal")):
        if any(data.startswith(prefix) for data in quick_data):
            return kind  # type: ignore[return-value]
    if text in _EXACT:
        return _EXACT[text]
    for mark, kind in _MARKS:
        if mark in text:
            return kind
    if text in _INFO or text.startswith(_STILL_WAITING):
        return "info"
    return "staff"


# --- one person -------------------------------------------------------------------------------

Action = tuple[str, str]  # ("follow" | "unfollow" | "sticker", "") or ("tap", data) or ("say", text)


class ChatPerson:
    """One person on LINE through one chat: what they do about each message, and when time runs out."""

    def __init__(self, params: ChatParams, rng: random.Random, postal_codes: Sequence[str], talk_seconds: float) -> None:
        self.params, self.rng = params, rng
        self.postal_code = rng.choice(postal_codes) if postal_codes else None
        self.plan: Plan = _weighted(rng, params.plans)  # type: ignore[assignment]
        self.topic = _weighted(rng, params.topic_weights)
        self.crisis_writer = rng.random() < params.crisis_words
        self.sticker_sender = rng.random() < params.sticker
        self.talk_seconds = talk_seconds
        self.state: Literal["intake", "waiting", "talking", "leaving", "done"] = "intake"
        self.outcome: Outcome | None = None
        self.reached_human = False
        self.transfers = 0
        self.stickers_sent = 0
        self.crisis_sent = False
        self.wrong_code_sent = False
        self.deadlines: dict[str, float] = {}

    # -- starting

    def start(self, now: float) -> list[Action]:
        """Return how they open the chat: following the account, or writing (crisis words at once for some)."""
        self.deadlines["stall"] = now + self.params.seconds(self.params.intake_stall_minutes)
        if self.crisis_writer and self.rng.random() < 0.5:
            self.crisis_sent = True
            return [("say", self.rng.choice(CRISIS_WORDS))]
        if self.rng.random() < self.params.follow_first:
            return [("follow", "")]
        return [("say", self.rng.choice(FIRST_WORDS))]

    def think(self) -> float:
        """Return how long they take to answer a question, in real seconds."""
        return min(self.params.think_max, self.rng.expovariate(1 / self.params.think_mean))

    # -- reading

    def hear(self, messages: Sequence[tuple[str, Sequence[str]]], now: float) -> list[Action]:
        """Return what they do about the messages that just arrived (text, quick reply data), read in order.

        A question followed in the same batch by another question or a step of the chat (the
        crisis words of a first message end the questions just asked) is not answered.
        """
        kinds = [heard(text, quick) for text, quick in messages]
        actions: list[Action] = []
        for i, kind in enumerate(kinds):
            if kind in QUESTIONS and any(later not in ("info", "staff") for later in kinds[i + 1 :]):
                continue
            actions += self._hear(kind, messages[i][1], now)
        return actions

    def _hear(self, kind: Heard, quick_data: Sequence[str], now: float) -> list[Action]:
        if self.state == "done":
            return []
        if kind in QUESTIONS:
            self.deadlines["stall"] = now + self.params.seconds(self.params.intake_stall_minutes)
            return self._answer(kind, quick_data)
        return self._follow_chat(kind, now)

    def _answer(self, kind: str, quick_data: Sequence[str]) -> list[Action]:
        if self.state != "intake":
            return []  # a question from before a roll-over or a restart: the chat's words take over
        if self.sticker_sender and self.stickers_sent == 0:
            self.stickers_sent += 1
            return [("sticker", "")]
        if kind == "topic":
            if self.crisis_writer and not self.crisis_sent:
                self.crisis_sent = True
                return [("say", self.rng.choice(CRISIS_WORDS))]
            number = list(wording.TOPIC_LABELS).index(self.topic) + 1
            return [("say", str(number))] if self.rng.random() < self.params.typed_topic else [("tap", TOPIC + self.topic)]
        if kind == "postal":
            return [self._postal()]
        if kind == "prefecture":
            return [("tap", next(d for d in quick_data if d.startswith(PREFECTURE)))]
        return [("tap", AGE + _weighted(self.rng, self.params.age_weights))]

    def _postal(self) -> Action:
        draw = self.rng.random()
        if self.postal_code is None or draw < self.params.postal_unknown:
            return ("tap", POSTAL + UNKNOWN)
        if draw >= self.params.postal_unknown + self.params.postal_typed and not self.wrong_code_sent:
            self.wrong_code_sent = True
            return ("say", "000-0000")
        return ("say", written_postal_code(self.postal_code, self.rng.randrange(4)))

    def _follow_chat(self, kind: Heard, now: float) -> list[Action]:
        if kind == "waiting" or kind == "transferred":
            if self.state == "intake":
                self.deadlines.pop("stall", None)
                if self.plan != "goodbye":
                    self.deadlines["leave"] = now + self._minutes(self.params.leave_after_minutes, 3)
            self.transfers += kind == "transferred"
            if self.state in ("intake", "talking", "waiting"):
                self.state = "waiting"
                self.deadlines["patience"] = now + self._minutes(self.params.patience_minutes, 3)
                self.deadlines.pop("talk", None)
                self._next_write(now)
            return []
        if kind == "joined":
            self.reached_human = True
            if self.state in ("intake", "waiting"):
                self.state = "talking"
                self.deadlines.pop("patience", None)
                self.deadlines.pop("stall", None)
                self.deadlines["talk"] = now + self.talk_seconds
                self._next_write(now)
            return []
        if kind == "staff" and self.state == "talking" and self.rng.random() < 0.5:
            self.deadlines["write"] = min(self.deadlines.get("write", math.inf), now + self.think() * 3)
            return []
        if kind == "idle_check" and self.state in ("waiting", "talking", "leaving"):
            return [("say", STILL_HERE)]
        ends: dict[Heard, Outcome] = {"goodbye": "goodbye", "idle_close": "idle_closed", "no_window": "no_window"}
        if kind in ends:
            self._finish(ends[kind])
        return []

    # -- time

    def next_deadline(self) -> float:
        """Return the real time at which they next do something unasked (inf: only when a message comes)."""
        return min(self.deadlines.values(), default=math.inf) if self.state != "done" else math.inf

    def tick(self, now: float) -> list[Action]:
        """Return what they do because time has passed (block, go quiet, give up, write, say thank you)."""
        due = {name for name, at in self.deadlines.items() if at <= now}
        if self.state == "done" or not due:
            return []
        if "stall" in due:
            self._finish("stuck_in_intake")
            return []
        if "leave" in due:
            self._finish("unfollowed" if self.plan == "unfollow" else "quiet")
            return [("unfollow", "")] if self.plan == "unfollow" else []
        if "patience" in due:
            self._finish("gave_up")
            return []
        if "goodbye" in due:
            self._finish("no_goodbye")
            return []
        if "talk" in due and self.state == "talking":
            self.state = "leaving"
            for name in ("talk", "write"):
                self.deadlines.pop(name, None)
            self.deadlines["goodbye"] = now + self._minutes(self.params.goodbye_wait_minutes, 1)
            return [("say", self.rng.choice(FAREWELLS))]
        if "write" in due:
            self._next_write(now)
            if self.crisis_writer and not self.crisis_sent and self.state == "waiting":
                self.crisis_sent = True
                return [("say", self.rng.choice(CRISIS_WORDS))]
            if self.sticker_sender and self.stickers_sent == 0:
                self.stickers_sent += 1
                return [("sticker", "")]
            return [("say", self.rng.choice(WAITING_WORDS if self.state == "waiting" else TALKING_WORDS))]
        return []

    def _next_write(self, now: float) -> None:
        # Capped well inside the idle check: this person is still there, and writes so.
        cap = 0.6 * self.params.idle_minutes
        self.deadlines["write"] = now + self.params.seconds(min(cap, self.rng.expovariate(1 / self.params.write_every_minutes)))

    def _minutes(self, mean: float, cap: float) -> float:
        """Return real seconds for an exponential number of chat minutes of this mean, capped at `cap` means (a fixed time for cap 1)."""
        minutes = mean if cap == 1 else min(cap * mean, self.rng.expovariate(1 / mean))
        return self.params.seconds(minutes)

    def _finish(self, outcome: Outcome) -> None:
        self.state, self.outcome = "done", outcome
        self.deadlines.clear()

    @property
    def left_open(self) -> bool:
        """Whether they left their chat open on purpose (went quiet, gave up, or never saw the goodbye they waited for)."""
        return self.outcome in ("quiet", "gave_up", "no_goodbye", "stuck_in_intake")


def written_postal_code(code: str, style: int) -> str:
    """Return a 7-digit postal code the way people type it: 1000001, 100-0001, full-width １００－０００１, or 〒100-0001."""
    hyphenated = f"{code[:3]}-{code[3:]}"
    if style == 0:
        return code
    if style == 1:
        return hyphenated
    if style == 2:
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else "－" for c in hyphenated)
    return "〒" + hyphenated


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]
