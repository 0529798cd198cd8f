"""How Twilio reads TwiML, for the call simulator: which verbs nest where, what counts as input, who answers a Dial."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

VERBS = {"Say", "Play", "Pause", "Gather", "Dial", "Redirect", "Enqueue", "Leave", "Record", "Hangup", "Reject"}
WAIT_VERBS = {"Say", "Play", "Pause", "Gather", "Redirect", "Leave", "Hangup"}  # what a queue's waitUrl may answer
CHILDREN = {"Gather": {"Say", "Play", "Pause"}, "Dial": {"Number", "Client", "Sip"}}


class InvalidTwiml(Exception):
    """TwiML Twilio would refuse: the caller hears Twilio's application-error message."""


def parse_twiml(response: httpx.Response) -> ET.Element:
    """Return the <Response> element of a webhook's answer; ValueError saying why Twilio could not use it."""
    if response.status_code != 200:
        raise ValueError(f"answered HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "")
    if "xml" not in content_type and "text/html" not in content_type:
        raise ValueError(f"answered Content-Type {content_type!r}, not TwiML")
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError as bad:
        raise ValueError(f"answered a body that is not XML ({bad})") from None
    if root.tag != "Response":
        raise ValueError(f"answered <{root.tag}>, not <Response>")
    return root


def check_verb(verb: ET.Element, *, in_queue: bool) -> None:
    """Raise InvalidTwiml for an unknown verb, a verb out of place, or bad nesting."""
    if verb.tag not in VERBS:
        raise InvalidTwiml(f"unknown verb <{verb.tag}>")
    if in_queue and verb.tag not in WAIT_VERBS:
        raise InvalidTwiml(f"<{verb.tag}> is not allowed in a queue's wait TwiML")
    if not in_queue and verb.tag == "Leave":
        raise InvalidTwiml("<Leave> outside a queue's wait TwiML")
    for child in verb:
        if verb.tag == "Say" and child.tag[:1].islower():
            continue  # SSML inside <Say>
        if child.tag not in CHILDREN.get(verb.tag, set()):
            raise InvalidTwiml(f"<{child.tag}> cannot be nested in <{verb.tag}>")
        if child.tag in VERBS:
            check_verb(child, in_queue=False)


def int_attribute(el: ET.Element, name: str, default: int) -> int:
    """Return a whole-number attribute, or the default when it is absent."""
    raw = el.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidTwiml(f'<{el.tag} {name}="{raw}">: not a whole number') from None


def collect_digits(keys: str | None, num_digits: int | None, finish_on_key: str) -> tuple[str, str, bool]:
    """Return (Digits, the finishOnKey pressed or "", whether Gather waited out its timeout) for a caller's keypresses."""
    digits = ""
    for key in keys or "":
        if finish_on_key and key == finish_on_key:
            return digits, key, False
        digits += key
        if num_digits and len(digits) >= num_digits:
            return digits, "", False
    return digits, "", True


def dial_outcome(rings: list[tuple[str, int]], timeout: int) -> tuple[str, int | None, int]:
    """Return (DialCallStatus, index of the first to answer, seconds rung) for (outcome, ring seconds) rung together."""
    answering = [(seconds, index) for index, (outcome, seconds) in enumerate(rings) if outcome == "answer" and seconds < timeout]
    if answering:
        rang, winner = min(answering)
        return "completed", winner, rang
    outcomes = {"no-answer" if outcome == "answer" else outcome for outcome, _ in rings}
    if "no-answer" in outcomes:
        return "no-answer", None, timeout
    return ("busy" if "busy" in outcomes else "failed"), None, 0
