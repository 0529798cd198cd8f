"""LINE message builders: what LINE accepts and what the person sees on the buttons (pure)."""

from __future__ import annotations

import pytest

from routing.chats.line.messages import (
    LABEL_MAX,
    PUSH_MAX,
    QUICK_REPLY_MAX,
    TEXT_MAX,
    QuickReply,
    cut,
    in_requests,
    postback_button,
    text_message,
    utf16_length,
)


def test_a_plain_text_message_is_what_line_expects() -> None:
    assert text_message("こんにちは。つなぐです😊") == {"type": "text", "text": "こんにちは。つなぐです😊"}


def test_quick_replies_are_postback_buttons_in_order() -> None:
    message = text_message(
        "ご相談の内容を選んでください", [QuickReply("孤独・孤立", "topic=1", display="孤独・孤立"), QuickReply("わからない", "topic=0")]
    )
    assert message["quickReply"] == {
        "items": [
            {"type": "action", "action": {"type": "postback", "label": "孤独・孤立", "data": "topic=1", "displayText": "孤独・孤立"}},
            {"type": "action", "action": {"type": "postback", "label": "わからない", "data": "topic=0"}},
        ]
    }


def test_thirteen_buttons_are_allowed_and_fourteen_are_refused() -> None:
    buttons = [QuickReply(f"{n}", f"n={n}") for n in range(QUICK_REPLY_MAX + 1)]
    assert len(text_message("選んでください", buttons[:QUICK_REPLY_MAX])["quickReply"]["items"]) == 13
    with pytest.raises(ValueError, match="13"):
        text_message("選んでください", buttons)


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("はい", "はい"),
        ("あ" * 20, "あ" * 20),
        ("あ" * 21, "あ" * 19 + "…"),
        ("👍" * 25, "👍" * 19 + "…"),  # a label counts characters, not UTF-16 units
        ("か" * 19 + "\u3099" + "き", "か" * 18 + "…"),  # a voiced mark stays with its kana
        ("a" * 18 + "👍🏽" + "b", "a" * 18 + "…"),  # a skin tone is never cut off its emoji
    ],
)
def test_labels_are_cut_to_twenty_characters(label: str, shown: str) -> None:
    assert postback_button(QuickReply(label, "x=1"))["action"]["label"] == shown
    assert len(shown) <= LABEL_MAX


def test_text_is_cut_to_five_thousand_utf16_units_without_splitting_an_emoji() -> None:
    assert text_message("あ" * TEXT_MAX)["text"] == "あ" * TEXT_MAX
    emoji_text = text_message("😊" * 3000)["text"]  # 6,000 UTF-16 units
    assert utf16_length(emoji_text) <= TEXT_MAX
    assert emoji_text == "😊" * 2499 + "…"
    assert text_message("あ" * 6000)["text"] == "あ" * 4999 + "…"


def test_cut_keeps_emoji_sequences_whole() -> None:
    family = "👨\u200d👩\u200d👧"
    assert cut("abc" + family, 6, len) == "abc…"  # not "abc👨\u200d…"


def test_empty_text_and_bad_buttons_are_refused() -> None:
    with pytest.raises(ValueError):
        text_message("")
    with pytest.raises(ValueError):
        postback_button(QuickReply("", "x=1"))
    with pytest.raises(ValueError):
        postback_button(QuickReply("はい", "x" * 301))


@pytest.mark.parametrize(("count", "sizes"), [(0, []), (1, [1]), (5, [5]), (6, [5, 1]), (11, [5, 5, 1])])
def test_messages_are_split_into_requests_of_at_most_five(count: int, sizes: list[int]) -> None:
    messages = [text_message(f"{n}") for n in range(count)]
    requests = in_requests(messages)
    assert [len(request) for request in requests] == sizes
    assert [message for request in requests for message in request] == messages
    assert all(len(request) <= PUSH_MAX for request in requests)
