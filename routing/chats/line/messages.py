"""LINE message objects as plain dicts in LINE's own JSON field names: text with quick reply buttons, and requests of five (pure).

LINE counts a message's text in UTF-16 code units (an emoji such as 🍎 is two), but a button's label and
display text in grapheme clusters. The standard library cannot split grapheme clusters, so labels are
measured in code points: never fewer than the clusters they make, so a label cut here is never too long
for LINE, and a cut never separates a character from the marks or joiners that belong to it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

TEXT_MAX = 5000  # UTF-16 code units
LABEL_MAX = 20
DISPLAY_TEXT_MAX = 300
DATA_MAX = 300
QUICK_REPLY_MAX = 13
PUSH_MAX = 5  # messages in one reply or push request
ELLIPSIS = "…"

Message = dict[str, Any]

_ZERO_WIDTH_JOINER = "\u200d"


@dataclass(frozen=True)
class QuickReply:
    """A quick reply button: `label` on the button, `data` sent back in a postback, `display` written in the chat as the person's words."""

    label: str
    data: str
    display: str | None = None


def text_message(text: str, quick_replies: Sequence[QuickReply] = ()) -> Message:
    """Return a LINE text message, cut to LINE's 5,000 characters, with up to 13 quick reply buttons."""
    if not text:
        raise ValueError("a LINE text message needs some text")
    if len(quick_replies) > QUICK_REPLY_MAX:
        raise ValueError(f"LINE shows at most {QUICK_REPLY_MAX} quick reply buttons, not {len(quick_replies)}")
    message: Message = {"type": "text", "text": cut(text, TEXT_MAX, utf16_length)}
    if quick_replies:
        message["quickReply"] = {"items": [postback_button(reply) for reply in quick_replies]}
    return message


def postback_button(reply: QuickReply) -> Message:
    """Return one quick reply item: a postback action whose label is cut to LINE's 20 characters."""
    if not reply.label:
        raise ValueError("a quick reply button needs a label")
    if not reply.data or len(reply.data) > DATA_MAX:
        raise ValueError(f"a postback's data must be 1 to {DATA_MAX} characters, not {len(reply.data)}")
    action: Message = {"type": "postback", "label": cut(reply.label, LABEL_MAX, len), "data": reply.data}
    if reply.display:
        action["displayText"] = cut(reply.display, DISPLAY_TEXT_MAX, len)
    return {"type": "action", "action": action}


def in_requests(messages: Sequence[Message]) -> list[list[Message]]:
    """Split messages, in order, into the fewest requests LINE accepts (at most PUSH_MAX messages each)."""
    return [list(messages[start : start + PUSH_MAX]) for start in range(0, len(messages), PUSH_MAX)]


def utf16_length(text: str) -> int:
    """Return the length LINE counts for a message text: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """Return text if it fits in limit, else its longest fitting start ending in "…", never splitting a character from its marks."""
    if measure(text) <= limit:
        return text
    budget = limit - measure(ELLIPSIS)
    end = used = 0
    while end < len(text) and used + measure(text[end]) <= budget:  # both of LINE's measures add up character by character
        used += measure(text[end])
        end += 1
    while 0 < end < len(text) and (_continues(text[end]) or text[end - 1] == _ZERO_WIDTH_JOINER):
        end -= 1
    return text[:end] + ELLIPSIS


def _continues(char: str) -> bool:
    """Whether char belongs to the character before it: a combining mark, a joiner, a variation selector or a skin tone."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZERO_WIDTH_JOINER
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
        or 0xE0100 <= code <= 0xE01EF  # ideographic variation selectors
    )
