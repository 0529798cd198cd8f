"""TwiML builders: pure functions from what to say and whom to dial to a Twilio response."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from twilio.twiml.voice_response import Gather, VoiceResponse

from routing.telephony import prompts

RING_SECONDS = 20  # each window rings this long before the next is tried
GATHER_SECONDS = 6


def _say(response: VoiceResponse | Gather, text: str, english: bool = False) -> None:
    response.say(text, language="en-US" if english else "ja-JP", voice=prompts.VOICE_EN if english else prompts.VOICE_JA)


@cache  # the same few documents every time: build each once
def topic_menu(action: str, *, greeting: bool, then: str, busy: bool = False) -> str:
    """Greet (first time) and ask for the topic by key or by voice (`busy`: again, the service being behind); silence goes on to `then`."""
    response = VoiceResponse()
    if greeting:
        _say(response, prompts.GREETING)
    gather = response.gather(
        input="dtmf speech",
        num_digits=1,
        action=action,
        method="POST",
        timeout=GATHER_SECONDS,
        language="ja-JP",
        hints=",".join(w for words in prompts.TOPIC_WORDS.values() for w in words),
    )
    _say(gather, prompts.TOPIC_MENU if greeting else prompts.BUSY_TOPIC_AGAIN if busy else prompts.TOPIC_AGAIN)
    response.redirect(then, method="POST")
    return str(response)


def postal_prompt(action: str, *, again: bool, english: bool, before: Iterable[str] = ()) -> str:
    """Ask for a 7-digit postal code (# for "don't know"); silence goes on to the action without digits."""
    response = VoiceResponse()
    for line in before:
        _say(response, line, english)
    gather = response.gather(input="dtmf", num_digits=7, finish_on_key="#", action=action, method="POST", timeout=8)
    if english:
        _say(gather, prompts.EN_POSTAL_AGAIN if again else prompts.EN_POSTAL, True)
    else:
        _say(gather, prompts.POSTAL_AGAIN if again else prompts.POSTAL)
    response.redirect(action, method="POST")
    return str(response)


def dial(number: str, *, action: str, caller_id: str, before: Iterable[str] = (), english: bool = False, whisper: str | None = None) -> str:
    """Say the lines, then ring one window for a bounded time; the outcome goes to `action`.

    With `whisper`, the window that answers first gets that URL's TwiML (the case number) before the bridge.
    """
    response = VoiceResponse()
    for line in before:
        _say(response, line, english)
    dialer = response.dial(action=action, method="POST", timeout=RING_SECONDS, caller_id=caller_id, answer_on_bridge=True)
    if whisper is None:
        dialer.number(number)
    else:
        dialer.number(number, url=whisper, method="POST")
    return str(response)


def whisper(lines: Iterable[str]) -> str:
    """What the answering window hears before the caller is put through."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line)
    return str(response)


def silence() -> str:
    """An empty answer: for a whisper that could not be built, the two sides are simply bridged."""
    return str(VoiceResponse())


def tell_and_hang_up(lines: Iterable[str], english: bool = False) -> str:
    """Say the lines and end the call."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line, english)
    response.hangup()
    return str(response)


def offer_or_hang_up(lines: Iterable[str], *, offer: str, action: str, closing: Iterable[str], english: bool = False) -> str:
    """Say the lines and offer one key (to `action`); without it, say the closing lines and end the call."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line, english)
    gather = response.gather(input="dtmf", num_digits=1, action=action, method="POST", timeout=GATHER_SECONDS)
    _say(gather, offer, english)
    for line in closing:
        _say(response, line, english)
    response.hangup()
    return str(response)


def to_24_hour_line(lines: Iterable[str], number: str, *, english: bool = False) -> str:
    """Say the lines, then put the caller through to the 24-hour line."""
    response = VoiceResponse()
    for line in [*lines, prompts.EN_TO_24H if english else prompts.TO_24H]:
        _say(response, line, english)
    response.dial(number, timeout=60)
    return str(response)


def fallback(number: str) -> str:
    """The answer when anything inside fails: a calm line, then the fallback number. Always valid TwiML."""
    response = VoiceResponse()
    _say(response, prompts.FALLBACK)
    response.dial(number, timeout=60)
    return str(response)


def wait_for_line(lines: Iterable[str], *, seconds: int, then: str, offer: str | None = None, english: bool = False) -> str:
    """Say the lines and wait; a key press goes to `offer` (a callback), silence asks again at `then`."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line, english)
    if offer is None:
        response.pause(length=seconds)
    else:
        gather = response.gather(input="dtmf", num_digits=1, action=offer, method="POST", timeout=seconds)
        _say(gather, prompts.EN_CALLBACK_OFFER if english else prompts.CALLBACK_OFFER, english)
    response.redirect(then, method="POST")
    return str(response)


def ask(question: str, *, action: str, then: str, english: bool = False) -> str:
    """Ask for one key; silence goes on to `then`."""
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, action=action, method="POST", timeout=GATHER_SECONDS)
    _say(gather, question, english)
    response.redirect(then, method="POST")
    return str(response)


def say_and_redirect(lines: Iterable[str], *, to: str, english: bool = False) -> str:
    """Say the lines, then go on at another step."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line, english)
    response.redirect(to, method="POST")
    return str(response)


def redirect(to: str) -> str:
    """Go on at another step."""
    response = VoiceResponse()
    response.redirect(to, method="POST")
    return str(response)


def last_offer(lines: Iterable[str], *, offer: str, fallback_number: str, english: bool = False) -> str:
    """After the longest wait: offer a callback once more; silence goes to the 24-hour line."""
    response = VoiceResponse()
    for line in lines:
        _say(response, line, english)
    gather = response.gather(input="dtmf", num_digits=1, action=offer, method="POST", timeout=GATHER_SECONDS)
    _say(gather, prompts.EN_CALLBACK_OFFER if english else prompts.CALLBACK_OFFER, english)
    _say(response, prompts.EN_TO_24H if english else prompts.TO_24H, english)
    response.dial(fallback_number, timeout=60)
    return str(response)
