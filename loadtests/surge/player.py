"""Plays one call as Twilio would, following the TwiML it gets back; pure, as a generator of actions.

`CallPlayer.play()` yields what Twilio and the people on the line do — `Request` (a signed webhook
request; the driver sends back a `Reply`), `Sleep` (real seconds to let pass) and `DialEvent` (a
dialled number starts or stops ringing/talking) — and returns a `CallReport`. A driver does the I/O:
the Locust caller with gevent, the callback legs in the runner with threads, a test with a list.

TwiML is read with the call simulator's own rules (routing/telephony/simulator_twiml.py): a
reply Twilio could not use (HTTP error, not XML, unknown or misplaced verb, bad attribute) ends the
call as Twilio's application-error message would, and is a failure.

Gather without input: Twilio makes no request and runs the next verb (unless
actionOnEmptyResult="true", which posts an empty Digits). Dial: each number rings at once; the
outcome goes to `action` with DialCallStatus (and DialCallDuration when answered).

For the reach figures (call_figures.py) the report keeps, on the call's own clock (`experienced`),
when the caller was put in a queue and told the likely wait (`told_wait`, read from the words of
routing/telephony/prompts.py queue_place) and when a window answered.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from loadtests.surge.world import Persona
from routing.telephony.prompts import FALLBACK, en_queue_place, queue_place
from routing.telephony.simulator_twiml import InvalidTwiml, check_verb, collect_digits, dial_outcome, int_attribute, parse_twiml

GATHER_TIMEOUT, DIAL_TIMEOUT = 5, 30  # Twilio's defaults
SPEECH_CONFIDENCE = "0.9"
INT_ATTRIBUTES = ("timeout", "numDigits", "length", "maxLength")


@dataclass(frozen=True)
class Request:
    """A webhook request Twilio makes: POST (or GET) of these params to a full public URL."""

    url: str
    params: Mapping[str, str]
    twiml: bool = True  # False for a status callback, whose answer Twilio ignores (any 2xx)
    method: str = "POST"

    @property
    def name(self) -> str:
        """The path, for statistics (never the query)."""
        return urlsplit(self.url).path


@dataclass(frozen=True)
class Reply:
    """What came back: the TwiML's <Response>, or why Twilio could not use the answer."""

    status: int
    root: ET.Element | None = None
    problem: str | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class Sleep:
    seconds: float  # real seconds


@dataclass(frozen=True)
class DialEvent:
    """A dialled number starts (True) or stops (False) ringing or talking on this call."""

    number: str
    started: bool
    call_sid: str


Action = Request | Sleep | DialEvent


@dataclass
class CallReport:
    """Everything the world knows about one call when it ends."""

    sid: str
    kind: str  # "inbound" or "callback"
    ended_by: str = ""  # hangup-verb, end-of-twiml, caller-hung-up, hung-up-at-fallback, not-answered, error, loop-limit
    dials: list[tuple[str, str]] = field(default_factory=list)  # (number, DialCallStatus)
    requests: int = 0
    problems: list[str] = field(default_factory=list)  # every failure on the call
    world_problems: list[str] = field(default_factory=list)  # those not tied to one request's answer
    waited: bool = False  # was told to wait (an answer offered a callback)
    consented: bool = False  # pressed the consent key for a callback
    answered_service: bool = False  # a window's line answered
    fallback_dialled: bool = False
    degraded_from: str | None = None  # the step that answered with the bare fallback TwiML
    experienced: float = 0.0  # unscaled seconds of prompts, waits and rings
    talked: float = 0.0  # real seconds of talk
    talk_needed: float = 0.0  # real seconds: the person's talk time (Persona.talk), talked or not
    patience: float | None = None  # unscaled seconds (Persona.patience); None: a person called back, who waits for ever
    queued_at: float | None = None  # `experienced` when an answer first put the caller in a queue, telling the likely wait
    first_estimate: int | None = None  # the likely wait in minutes that answer told
    answered_at: float | None = None  # `experienced` when a window answered

    @property
    def outcome(self) -> str:
        """Return the world's view of how the call ended, in tsunagu's outcome names where they apply."""
        if self.kind == "callback":
            return "callback_leg_" + (
                "connected" if self.answered_service else "unanswered" if self.ended_by == "not-answered" else "not_connected"
            )
        if self.world_problems or self.ended_by in ("error", "loop-limit"):
            return "undefined"  # (a failed status callback is a failed request, not a call without an outcome)
        if self.degraded_from is not None:
            return "degraded"
        if self.answered_service:
            return "connected"
        if self.fallback_dialled or self.ended_by == "hung-up-at-fallback":
            return "fallback"
        if self.ended_by == "caller-hung-up":
            return "abandoned_in_queue" if self.waited else "abandoned"
        if self.ended_by == "hangup-verb" and self.consented:
            return "callback_booked"
        if self.ended_by == "hangup-verb" and not self.dials and not self.waited:
            return "no_service_open"
        return "undefined"

    def to_json(self) -> dict:
        return {**self.__dict__, "outcome": self.outcome}


class _Ended(Exception):
    def __init__(self, ended_by: str) -> None:
        super().__init__(ended_by)
        self.ended_by = ended_by


class _Raw:
    """The little of an HTTP answer that simulator_twiml.parse_twiml reads."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status_code, self.headers, self.content = status, {"content-type": content_type}, body


def _told_pattern(prompt: Callable[[int, int], str]) -> re.Pattern[str]:
    """Return the exact words of a queue-place prompt with its place and minutes as groups, from the prompt itself."""
    place, minutes = 9_000_001, 9_000_002  # numbers that no wording holds
    words = re.escape(prompt(place, minutes))
    return re.compile(words.replace(str(place), r"(?P<place>\d+)", 1).replace(str(minutes), r"(?P<minutes>\d+)", 1))


TOLD_WAIT = (_told_pattern(queue_place), _told_pattern(en_queue_place))


def told_wait(said: str) -> int | None:
    """Return the likely wait in minutes that a <Say> tells a waiting caller (prompts.queue_place), or None for other words."""
    for pattern in TOLD_WAIT:
        match = pattern.fullmatch(said.strip())
        if match is not None:
            return int(match["minutes"])
    return None


def read_reply(status: int, content_type: str, body: bytes, *, twiml: bool, elapsed_ms: float = 0.0) -> Reply:
    """Return a Reply: the checked TwiML document, or the problem Twilio would have with the answer."""
    if not twiml:
        ok = 200 <= status < 300
        return Reply(status, problem=None if ok else f"answered HTTP {status}", elapsed_ms=elapsed_ms)
    try:
        root = parse_twiml(_Raw(status, content_type, body))  # type: ignore[arg-type]
        for verb in root:
            check_verb(verb, in_queue=False)
            for el in (verb, *verb):
                for name in INT_ATTRIBUTES:
                    int_attribute(el, name, 0)
    except (ValueError, InvalidTwiml) as problem:
        return Reply(status, problem=str(problem), elapsed_ms=elapsed_ms)
    return Reply(status, root=root, elapsed_ms=elapsed_ms)


class CallPlayer:
    """One call: executes TwiML verb by verb, asking its Persona what the people on the line do."""

    def __init__(
        self,
        persona: Persona,
        *,
        sid: str,
        call_params: Mapping[str, str],
        fallback_number: str,
        time_scale: float,
        kind: str = "inbound",
        max_requests: int = 60,
    ) -> None:
        self.persona, self.sid, self.call_params = persona, sid, dict(call_params)
        self.fallback_number, self.scale, self.max_requests = fallback_number, time_scale, max_requests
        self.report = CallReport(sid=sid, kind=kind)
        self.verbs = 0
        self.english = False
        self.document = ""  # what the answer being played has decided: "final", "fallback" or nothing yet

    def play(self, entry_url: str, status_url: str | None, *, answered: bool = True) -> Generator[Action, Reply | None, CallReport]:
        """Play the call from its voice URL to its status callback; return the report."""
        try:
            if not answered:
                yield from self.wait(DIAL_TIMEOUT)
                raise _Ended("not-answered")
            if self.report.kind == "callback":  # the person's phone rings before Twilio fetches the call's Url
                yield from self.wait(self.persona.ring_seconds())
            doc: tuple[str, ET.Element] | None = yield from self.fetch(entry_url, {})
            while doc is not None:
                doc = yield from self.execute(*doc)
            self.report.ended_by = "end-of-twiml"
        except _Ended as ended:
            self.report.ended_by = self.hung_up_during_decided_answer() if ended.ended_by == "caller-hung-up" else ended.ended_by
        self.report.talk_needed = self.persona.talk
        self.report.patience = None if math.isinf(self.persona.patience) else self.persona.patience
        if status_url is not None:
            status = "completed" if answered else "no-answer"
            final = {
                **self.call_params,
                "CallStatus": status,
                "CallDuration": str(round(self.report.experienced + self.report.talked)),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "0",
            }
            reply = yield Request(status_url, final, twiml=False)
            self.note(reply)
        return self.report

    def fetch(self, url: str, params: Mapping[str, str], method: str = "POST") -> Generator[Action, Reply | None, tuple[str, ET.Element]]:
        """Request a webhook; return (its URL, its <Response>), or end the call as Twilio's error message would."""
        if self.report.requests >= self.max_requests:
            self.flag(f"more than {self.max_requests} requests on one call")
            raise _Ended("loop-limit")
        status = "ringing" if self.report.requests == 0 and self.report.kind == "inbound" else "in-progress"
        self.report.requests += 1
        reply = yield Request(url, {**self.call_params, "CallStatus": status, **params}, method=method)
        self.note(reply)
        if reply is None or reply.root is None:
            raise _Ended("error")
        self.read_ahead(url, reply.root)
        return url, reply.root

    def read_ahead(self, url: str, root: ET.Element) -> None:
        """Note what an answer has already decided, before the caller hears it (tsunagu records its outcome then)."""
        actions = [urlsplit(urljoin(url, g.get("action") or url)).path for g in root.iter("Gather")]
        self.report.waited = self.report.waited or any(a.rstrip("/").endswith("/callback") for a in actions)
        dialled = {(n.text or "").strip() for d in root.iter("Dial") for n in (d if len(d) else [d])}
        self.document = "final" if len(root) and root[-1].tag == "Hangup" else "fallback" if self.fallback_number in dialled else ""
        said = ["".join(say.itertext()).strip() for say in root.iter("Say")]
        if self.fallback_number in dialled and not actions and FALLBACK in said:  # tsunagu's degraded answer (twiml.fallback)
            self.report.degraded_from = self.report.degraded_from or urlsplit(url).path
        if self.report.first_estimate is None:  # the answer that puts the caller in a queue tells them the likely wait
            told = next((m for say in root.iter("Say") if (m := told_wait("".join(say.itertext()))) is not None), None)
            if told is not None:
                self.report.first_estimate, self.report.queued_at = told, self.report.experienced

    def hung_up_during_decided_answer(self) -> str:
        """Return how a call the caller hung up on ended: as the answer being heard had already decided, if it had."""
        return {"final": "hangup-verb", "fallback": "hung-up-at-fallback"}.get(self.document, "caller-hung-up")

    def flag(self, problem: str) -> None:
        """Record a failure of the call itself (not of one answer)."""
        self.report.problems.append(problem)
        self.report.world_problems.append(problem)

    def note(self, reply: Reply | None) -> None:
        if reply is None:
            self.report.problems.append("no reply")
        elif reply.problem is not None:
            self.report.problems.append(reply.problem)

    def wait(self, unscaled: float) -> Generator[Action, Reply | None, None]:
        """Let unscaled call time pass at the time scale; a caller out of patience hangs up after it."""
        self.report.experienced += unscaled
        if unscaled > 0:
            yield Sleep(unscaled * self.scale)
        if not self.report.answered_service and self.report.experienced > self.persona.patience:
            raise _Ended("caller-hung-up")

    def execute(self, url: str, root: ET.Element) -> Generator[Action, Reply | None, tuple[str, ET.Element] | None]:
        """Run a document's verbs; return the next document, or None when it runs out."""
        for verb in root:
            self.verbs += 1
            if self.verbs == self.persona.hang_up_before_verb:
                raise _Ended("caller-hung-up")
            handler = getattr(self, "verb_" + verb.tag.lower(), None)
            if handler is None:
                self.flag(f"<{verb.tag}> is valid TwiML but this world does not play it")
                raise _Ended("error")
            following = yield from handler(verb, url, root)
            if following is not None:
                return following
        return None

    def verb_say(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, None]:
        self.english = (el.get("language") or "").startswith("en")
        yield from self.wait(self.persona.say_seconds("".join(el.itertext()), self.english))

    def verb_play(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, None]:
        yield from ()

    def verb_pause(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, None]:
        yield from self.wait(int_attribute(el, "length", 1))

    def verb_gather(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, tuple[str, ET.Element] | None]:
        for prompt in el:
            yield from getattr(self, "verb_" + prompt.tag.lower())(prompt, url, root)
        action = urljoin(url, el.get("action") or url)
        step = urlsplit(action).path.rstrip("/").rsplit("/", 1)[-1]
        self.report.waited = self.report.waited or step == "callback"
        modes = (el.get("input") or "dtmf").split()
        given = self.persona.gather(step, modes)
        timeout = int_attribute(el, "timeout", GATHER_TIMEOUT)
        if given.speech and "speech" in modes:
            yield from self.wait(given.seconds)
            params = {"SpeechResult": given.speech, "Confidence": SPEECH_CONFIDENCE}
        else:
            finish = el.get("finishOnKey", "#")
            digits, finished_on, timed_out = collect_digits(
                given.keys if "dtmf" in modes else None, int_attribute(el, "numDigits", 0) or None, finish
            )
            yield from self.wait(given.seconds + (timeout if timed_out else 0))
            params = {"Digits": digits, "FinishedOnKey": finished_on} if digits else {}
            if digits and step == "callback-consent":
                self.report.consented = digits == "1"
        if not params:
            if el.get("actionOnEmptyResult") != "true":
                return None
            params = {"Digits": ""}
        return (yield from self.fetch(action, params, el.get("method", "POST")))

    def verb_dial(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, tuple[str, ET.Element] | None]:
        numbers = [(child.text or "").strip() for child in el] if len(el) else [(el.text or "").strip()]
        if not all(numbers):
            self.flag(f"<Dial> without a number to ring (from {urlsplit(url).path})")
            raise _Ended("error")
        timeout = int_attribute(el, "timeout", DIAL_TIMEOUT)
        lines = [self.persona.line(timeout) for _ in numbers]
        status, winner, rang = dial_outcome([(line.outcome, line.ring_seconds) for line in lines], timeout)
        if self.fallback_number in numbers:
            self.report.fallback_dialled = True
        for number in numbers:
            yield DialEvent(number, True, self.sid)
        self.report.experienced += rang
        answered_at = self.report.experienced
        yield Sleep(rang * self.scale)
        dial_sid = self.sid.replace("CA", "CB", 1) + str(len(self.report.dials))
        if winner is not None and len(el) and el[winner].get("url"):
            yield from self.whisper(el[winner], url, dial_sid, numbers[winner], el.get("callerId") or self.call_params.get("To", ""))
        talk = lines[winner].talk_seconds if winner is not None else 0.0
        if talk:
            self.report.talked += talk
            yield Sleep(talk)
        for number in numbers:
            yield DialEvent(number, False, self.sid)
        self.report.dials.append((numbers[winner] if winner is not None else numbers[0], status))
        if winner is not None and numbers[winner] != self.fallback_number:
            self.report.answered_service = True
            if self.report.answered_at is None:
                self.report.answered_at = answered_at
        if el.get("action") is None:
            return None
        params = {"DialCallStatus": status, "DialCallSid": dial_sid}
        if winner is not None:
            params["DialCallDuration"] = str(round(talk))
        return (yield from self.fetch(urljoin(url, el.get("action", "")), params, el.get("method", "POST")))

    def whisper(self, number_el: ET.Element, url: str, dial_sid: str, number: str, caller_id: str) -> Generator[Action, Reply | None, None]:
        """Fetch a <Number url>'s TwiML for the party who answered and let it play before the bridge, as Twilio does."""
        params = {
            "AccountSid": self.call_params.get("AccountSid", ""),
            "ApiVersion": "2010-04-01",
            "CallSid": dial_sid,
            "ParentCallSid": self.sid,
            "From": caller_id,
            "To": number,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
        }
        reply = yield Request(urljoin(url, number_el.get("url", "")), params, method=number_el.get("method", "POST"))
        self.note(reply)
        if reply is not None and reply.root is not None:
            heard = sum(self.persona.say_seconds("".join(say.itertext()), False) for say in reply.root.iter("Say"))
            self.report.experienced += heard
            yield Sleep(heard * self.scale)

    def verb_redirect(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, tuple[str, ET.Element]]:
        target = (el.text or "").strip()
        if not target:
            self.flag("<Redirect> without a URL")
            raise _Ended("error")
        return (yield from self.fetch(urljoin(url, target), {}, el.get("method", "POST")))

    def verb_hangup(self, el: ET.Element, url: str, root: ET.Element) -> Generator[Action, Reply | None, None]:
        raise _Ended("hangup-verb")
        yield  # a generator, like every verb

    verb_reject = verb_hangup


def drive(player_run: Generator[Action, Reply | None, CallReport], handle) -> CallReport:  # type: ignore[no-untyped-def]
    """Run a play() generator with `handle(action) -> Reply | None` doing each action; return the report."""
    reply: Reply | None = None
    try:
        while True:
            action = player_run.send(reply)
            reply = handle(action)
    except StopIteration as done:
        return done.value
