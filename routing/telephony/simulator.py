"""A simulated Twilio: places calls against tsunagu's webhooks as Twilio would, signed, and records what the caller hears."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from urllib.parse import urlencode, urljoin

import httpx
from twilio.request_validator import RequestValidator

from routing.telephony.simulator_twiml import InvalidTwiml, check_verb, collect_digits, dial_outcome, int_attribute, parse_twiml

WEBHOOK_TIMEOUT_SECONDS = 15.0  # Twilio gives up on a webhook after this and fetches the fallback URL
GATHER_TIMEOUT_SECONDS = 5
DIAL_TIMEOUT_SECONDS = 30
RECORDING_SECONDS = 10  # how long a simulated caller speaks into a <Record>
HOLD_MUSIC_SECONDS = 30  # one track of Twilio's default hold music, when <Enqueue> has no waitUrl
DEFAULT_HOLD_MUSIC = "default-hold-music"
SPEECH_CONFIDENCE = "0.9"

_LEAVE = "leave"


@dataclass
class Line:
    """How a dialled number behaves."""

    outcome: Literal["answer", "busy", "no-answer", "failed"] = "answer"
    talk_seconds: int = 60  # DialCallDuration when answered
    ring_seconds: int = 5  # an answering line that rings for the Dial's whole timeout is a no-answer


@dataclass
class Caller:
    """Who calls, what they key or say at each <Gather>, and how the numbers they are put through to behave."""

    number: str = "+819012345678"
    dialled: str = "+81120000000"
    keys: list[str | None] = field(default_factory=list)  # per Gather: "1", "1000001#", "#", or None for silence
    speech: dict[int, str] = field(default_factory=dict)  # Gather index → what the caller says instead of keying
    lines: dict[str, Line] = field(default_factory=dict)
    default_line: Line = field(default_factory=Line)
    hang_up_after: int | None = None  # the caller abandons before verb number hang_up_after + 1


@dataclass
class Event:
    kind: str
    detail: dict[str, Any]


@dataclass
class CallResult:
    call_sid: str
    events: list[Event]
    ended_by: str  # "hangup-verb", "end-of-twiml", "caller-hung-up", "http-error", "loop-limit"
    duration: int = 0  # simulated seconds

    def heard(self) -> list[str]:
        """Return every <Say> text in the order the caller heard it."""
        return [event.detail["text"] for event in self.events if event.kind == "say"]

    def rung(self) -> list[str]:
        """Return every number a <Dial> rang, in order."""
        return [number for event in self.events if event.kind == "dial" for number in event.detail["numbers"]]

    def requests(self) -> list[Event]:
        """Return every webhook request made, status callback included."""
        return [event for event in self.events if event.kind == "request"]

    def whispered(self) -> list[str]:
        """Return what the answering counsellors heard before being put through."""
        return [text for event in self.events if event.kind == "whisper" for text in event.detail["heard"]]

    def errors(self) -> list[str]:
        """Return why each error happened (a real caller would have heard Twilio's error message)."""
        return [event.detail["why"] for event in self.events if event.kind == "error"]


class TwilioSimulator:
    """Places simulated calls against a tsunagu service through an httpx client, signing every request."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        public_url: str,
        auth_token: str,
        account_sid: str = "AC" + "0" * 32,
        voice_path: str = "/twilio/voice/incoming",
        status_path: str | None = "/twilio/voice/status",
        max_steps: int = 60,
        sign: bool = True,
    ) -> None:
        self.client = client
        self.public_url = public_url.rstrip("/")
        self.account_sid = account_sid
        self.voice_url = self.public_url + voice_path
        self.status_url = None if status_path is None else self.public_url + status_path
        self.max_steps = max_steps
        self._validator = RequestValidator(auth_token)
        self._sign = sign

    async def call(self, caller: Caller, *, call_sid: str | None = None) -> CallResult:
        """Place one call and return everything that happened on it."""
        return await CallRun(self, caller, call_sid or twilio_sid("CA")).run()

    async def post(self, path_or_url: str, params: dict[str, str], *, signature: str | None = None) -> httpx.Response:
        """Send one webhook request with exactly these params, signed (or with the given signature)."""
        url = path_or_url if "://" in path_or_url else self.public_url + path_or_url
        return await self.send(url, params, "POST", signature=signature)

    def sign(self, url: str, params: dict[str, str]) -> str:
        """Return the X-Twilio-Signature Twilio would send for this full URL and these POST params."""
        return self._validator.compute_signature(url, params)

    async def send(self, url: str, params: dict[str, str], method: str = "POST", *, signature: str | None = None) -> httpx.Response:
        """Request a full public URL the way Twilio does: GET with params in the query, POST form-encoded."""
        if method.upper() == "GET":
            if params:
                url += ("&" if "?" in url else "?") + urlencode(params)
            params = {}
        headers = {}
        if self._sign:
            headers["X-Twilio-Signature"] = signature if signature is not None else self.sign(url, params)
        return await self.client.request(method.upper(), self.local_path(url), data=params or None, headers=headers)

    def local_path(self, url: str) -> str:
        """Return the path (and query) the client requests for a public URL; ValueError if it is not the service's."""
        base = self.public_url
        if url != base and not url.startswith((base + "/", base + "?")):
            raise ValueError(f"{url} is not under the public URL {base}")
        return url[len(base) :] or "/"


class _Document(NamedTuple):
    url: str
    root: ET.Element


@dataclass
class _Queue:
    sid: str
    entered: int  # simulated second the caller joined

    def wait_params(self, now: int) -> dict[str, str]:
        # The simulator sees only its own caller, so it is first in line.
        waited = str(now - self.entered)
        return {
            "QueueSid": self.sid,
            "QueuePosition": "1",
            "QueueTime": waited,
            "AvgQueueTime": waited,
            "CurrentQueueSize": "1",
            "MaxQueueSize": "100",
        }

    def result_params(self, result: str, now: int) -> dict[str, str]:
        return {"QueueResult": result, "QueueSid": self.sid, "QueueTime": str(now - self.entered)}


class CallEnded(Exception):
    def __init__(self, ended_by: str) -> None:
        super().__init__(ended_by)
        self.ended_by = ended_by


class CallRun:
    """One call in progress: executes TwiML verb by verb and keeps the simulated clock."""

    def __init__(self, sim: TwilioSimulator, caller: Caller, sid: str) -> None:
        self.sim, self.caller, self.sid = sim, caller, sid
        self.events: list[Event] = []
        self.steps = self.verbs = self.gathers = self.seconds = 0
        self.requested = self.answered = False
        self.rejected: str | None = None

    async def run(self) -> CallResult:
        try:
            doc: _Document | str | None = await self.fetch(self.sim.voice_url, {})
            while isinstance(doc, _Document):  # outside a queue there is no <Leave> (check_verb refuses it): never _LEAVE
                doc = await self.execute(doc)
            ended_by = "end-of-twiml"
        except CallEnded as ended:
            ended_by = ended.ended_by
        if self.sim.status_url is not None:
            final = {
                "CallStatus": self.final_status(ended_by),
                "CallDuration": str(self.seconds),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "0",
            }
            await self.notify(self.sim.status_url, {**self.call_params(), **final})
        return CallResult(call_sid=self.sid, events=self.events, ended_by=ended_by, duration=self.seconds)

    def final_status(self, ended_by: str) -> str:
        if self.rejected is not None:
            return "busy" if self.rejected == "busy" else "no-answer"
        if not self.answered and ended_by == "caller-hung-up":
            return "canceled"
        return "completed"

    def event(self, kind: str, **detail: Any) -> None:
        self.events.append(Event(kind, detail))

    def call_params(self) -> dict[str, str]:
        status = "in-progress" if self.requested else "ringing"
        return {
            "CallSid": self.sid,
            "AccountSid": self.sim.account_sid,
            "From": self.caller.number,
            "To": self.caller.dialled,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    async def fetch(self, url: str, params: dict[str, str], method: str = "POST") -> _Document:
        """Request a webhook and return its TwiML; an unusable answer ends the call as Twilio's error message would."""
        self.take_step()
        sent = {**self.call_params(), **params}
        self.requested = True
        response = await self.send(url, sent, method)
        if response is None:
            raise CallEnded("http-error")
        try:
            return _Document(url, parse_twiml(response))
        except ValueError as problem:
            self.event("error", why=f"{method} {url}: {problem}")
            raise CallEnded("http-error") from None

    async def notify(self, url: str, params: dict[str, str], method: str = "POST") -> None:
        """Send a request whose answer Twilio ignores (status callback, a queue's action after hang-up)."""
        response = await self.send(url, params, method)
        if response is not None and not response.is_success:
            self.event("error", why=f"{method} {url}: answered HTTP {response.status_code}")

    async def send(self, url: str, params: dict[str, str], method: str) -> httpx.Response | None:
        """Send and record one request; None, with the error recorded, when no answer came in time."""
        started = time.perf_counter()
        try:
            response = await self.sim.send(url, params, method)
        except (httpx.HTTPError, ValueError) as failure:
            self.event("request", url=url, method=method, params=params, status=None)
            self.event("error", why=f"{method} {url}: {failure}")
            return None
        elapsed = time.perf_counter() - started
        self.event("request", url=url, method=method, params=params, status=response.status_code, elapsed_ms=round(elapsed * 1000, 1))
        if elapsed > WEBHOOK_TIMEOUT_SECONDS:
            self.event("error", why=f"{method} {url}: took {elapsed:.1f} s; Twilio waits {WEBHOOK_TIMEOUT_SECONDS:.0f} s")
            return None
        return response

    def take_step(self) -> None:
        self.steps += 1
        if self.steps > self.sim.max_steps:
            raise CallEnded("loop-limit")

    def check_hang_up(self) -> None:
        if self.caller.hang_up_after is not None and self.verbs >= self.caller.hang_up_after:
            self.event("hangup", by="caller")
            raise CallEnded("caller-hung-up")

    async def execute(self, doc: _Document, queue: _Queue | None = None) -> _Document | str | None:
        """Run a document's verbs; return the next document, _LEAVE, or None when it runs out."""
        for verb in doc.root:
            self.check_hang_up()
            self.verbs += 1
            self.answered = self.answered or verb.tag != "Reject"
            try:
                check_verb(verb, in_queue=queue is not None)
                outcome = await self.run_verb(verb, doc.url, queue)
            except InvalidTwiml as invalid:
                self.event("error", why=f"invalid TwiML from {doc.url}: {invalid}")
                raise CallEnded("http-error") from None
            if outcome is not None:
                return outcome
        return None

    async def run_verb(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document | str | None:
        return await getattr(self, "verb_" + el.tag.lower())(el, url, queue)

    async def verb_say(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        self.event("say", text="".join(el.itertext()).strip(), language=el.get("language"), voice=el.get("voice"))

    async def verb_play(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        self.event("play", url=(el.text or "").strip(), digits=el.get("digits"))

    async def verb_pause(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        length = int_attribute(el, "length", 1)
        self.seconds += length
        self.event("pause", length=length)

    async def verb_gather(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document | None:
        modes = (el.get("input") or "dtmf").split()
        finish = el.get("finishOnKey", "#")
        num_digits = int_attribute(el, "numDigits", 0) or None
        timeout = int_attribute(el, "timeout", GATHER_TIMEOUT_SECONDS)
        for prompt in el:
            await self.run_verb(prompt, url, queue)
        index, self.gathers = self.gathers, self.gathers + 1
        speech = self.caller.speech.get(index) if "speech" in modes else None
        keys = self.caller.keys[index] if index < len(self.caller.keys) and "dtmf" in modes else None
        params: dict[str, str] | None = None
        if speech:
            params = {"SpeechResult": speech, "Confidence": SPEECH_CONFIDENCE}
        else:
            digits, finished_on, timed_out = collect_digits(keys, num_digits, finish)
            self.seconds += timeout if timed_out else 0
            params = {"Digits": digits, "FinishedOnKey": finished_on} if digits else None
        action = urljoin(url, el.get("action") or url)
        self.event("gather", input=speech or keys, posted=params, numDigits=num_digits, finishOnKey=finish, timeout=timeout, action=action)
        if params is None:
            if el.get("actionOnEmptyResult") != "true":
                return None
            params = {"Digits": ""}
        return await self.fetch(action, params, el.get("method", "POST"))

    async def verb_dial(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document | None:
        numbers = [(child.text or "").strip() for child in el] if len(el) else [(el.text or "").strip()]
        if not all(numbers):
            raise InvalidTwiml("<Dial> without a number to ring")
        timeout = int_attribute(el, "timeout", DIAL_TIMEOUT_SECONDS)
        lines = [self.caller.lines.get(number, self.caller.default_line) for number in numbers]
        status, winner, rang = dial_outcome([(line.outcome, line.ring_seconds) for line in lines], timeout)
        talk = lines[winner].talk_seconds if winner is not None else 0
        self.seconds += rang + talk
        whispers = {(child.text or "").strip(): child.get("url") for child in el if child.get("url")}
        answered = numbers[winner] if winner is not None else None
        self.event(
            "dial",
            numbers=numbers,
            callerId=el.get("callerId"),
            timeout=timeout,
            outcome=status,
            answered_number=answered,
            whispers=whispers,
            record=el.get("record"),
        )
        if answered is not None and whispers.get(answered):
            await self.whisper(urljoin(url, whispers[answered]), answered, el.get("callerId") or self.caller.dialled)
        if el.get("action") is None:
            return None
        params = {"DialCallStatus": status, "DialCallSid": twilio_sid("CA")}
        if winner is not None:
            params["DialCallDuration"] = str(talk)
        return await self.fetch(urljoin(url, el.get("action", "")), params, el.get("method", "POST"))

    async def whisper(self, url: str, number: str, caller_id: str) -> None:
        """Play a <Number url>'s TwiML to the answering party before the two are bridged, as Twilio does."""
        params = {
            "CallSid": twilio_sid("CA"),
            "ParentCallSid": self.sid,
            "AccountSid": self.sim.account_sid,
            "From": caller_id,
            "To": number,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "ApiVersion": "2010-04-01",
        }
        response = await self.send(url, params, "POST")
        try:
            root = parse_twiml(response) if response is not None else None
        except ValueError as problem:
            self.event("error", why=f"POST {url}: {problem}")
            return
        heard = [(node.text or "").strip() for node in root.iter("Say")] if root is not None else []
        self.event("whisper", number=number, heard=heard)

    async def verb_redirect(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document:
        target = (el.text or "").strip()
        if not target:
            raise InvalidTwiml("<Redirect> without a URL")
        target = urljoin(url, target)
        self.event("redirect", url=target)
        params = queue.wait_params(self.seconds) if queue is not None else {}
        return await self.fetch(target, params, el.get("method", "POST"))

    async def verb_enqueue(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document | None:
        name = (el.text or "").strip()
        if not name:
            raise InvalidTwiml("<Enqueue> without a queue name")
        wait_url = urljoin(url, el.get("waitUrl", "")) if el.get("waitUrl") else None
        action = urljoin(url, el.get("action", "")) if el.get("action") else None
        method = el.get("method", "POST")
        joined = _Queue(sid=twilio_sid("QU"), entered=self.seconds)
        self.event("enqueue", name=name, waitUrl=wait_url, action=action)
        try:
            await self.wait_in_queue(joined, wait_url, el.get("waitUrlMethod", "POST"))
        except CallEnded as ended:
            if action is not None:
                result = "error" if ended.ended_by == "http-error" else "hangup"
                await self.notify(action, {**self.call_params(), **joined.result_params(result, self.seconds)}, method)
            raise
        if action is None:
            return None
        return await self.fetch(action, joined.result_params("leave", self.seconds), method)

    async def wait_in_queue(self, queue: _Queue, wait_url: str | None, method: str) -> None:
        """Loop the wait URL's TwiML (or hold music) until a <Leave>; the call ends any other way by CallEnded."""
        while True:
            self.check_hang_up()
            if wait_url is None:
                self.take_step()
                self.verbs += 1
                self.seconds += HOLD_MUSIC_SECONDS
                self.event("play", url=DEFAULT_HOLD_MUSIC, digits=None)
                continue
            doc: _Document | str | None = await self.fetch(wait_url, queue.wait_params(self.seconds), method)
            while isinstance(doc, _Document):
                doc = await self.execute(doc, queue)
            if doc == _LEAVE:
                return

    async def verb_leave(self, el: ET.Element, url: str, queue: _Queue | None) -> str:
        self.event("leave")
        return _LEAVE

    async def verb_record(self, el: ET.Element, url: str, queue: _Queue | None) -> _Document:
        seconds = min(int_attribute(el, "maxLength", 3600), RECORDING_SECONDS)
        self.seconds += seconds
        action = urljoin(url, el.get("action") or url)
        self.event("record", action=action, seconds=seconds)
        sid = twilio_sid("RE")
        recording = f"https://api.twilio.com/2010-04-01/Accounts/{self.sim.account_sid}/Recordings/{sid}"
        params = {"RecordingSid": sid, "RecordingUrl": recording, "RecordingDuration": str(seconds)}
        return await self.fetch(action, params, el.get("method", "POST"))

    async def verb_hangup(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        self.event("hangup", by="twiml")
        raise CallEnded("hangup-verb")

    async def verb_reject(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        reason = el.get("reason", "rejected")
        self.event("reject", reason=reason)
        if not self.answered:
            self.rejected = reason
        raise CallEnded("hangup-verb")


def twilio_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex
