"""LineApi against the fake LINE platform over real HTTP: what the person receives, and what each answer tells the caller."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import pytest
import structlog

from routing.chats.line.api import LineApi, delivery_for, new_retry_key
from routing.chats.line.fake import FakeLine, new_user_id
from routing.chats.line.messages import QuickReply, text_message


@pytest.fixture
async def fake() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
async def api(fake: FakeLine) -> AsyncIterator[LineApi]:
    async with LineApi(fake.url, fake.access_token, timeout=1.0) as api:
        yield api


def reply_token(fake: FakeLine, user_id: str) -> str:
    """The reply token LINE hands tsunagu with a person's message."""
    return fake.event(user_id, {"type": "text", "text": "こんにちは"})["replyToken"]


async def test_a_reply_token_works_once_then_is_spent(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    token = reply_token(fake, person)
    assert await api.reply(token, [text_message("ご連絡ありがとうございます。")]) == "sent"
    assert await api.reply(token, [text_message("もう一度")]) == "reply_token_spent"
    assert [m.text for m in fake.inbox(person)] == ["ご連絡ありがとうございます。"]
    assert fake.inbox(person)[0].via == "reply"
    assert fake.stats().invalid_reply_tokens == 1


async def test_an_expired_reply_token_is_spent_and_nothing_arrives() -> None:
    now = [1000.0]
    async with FakeLine(clock=lambda: now[0]) as fake, LineApi(fake.url, fake.access_token) as api:
        person = new_user_id()
        fresh, stale = reply_token(fake, person), reply_token(fake, person)
        now[0] += 59
        assert await api.reply(fresh, [text_message("まだ間に合います")]) == "sent"
        now[0] += 2
        assert await api.reply(stale, [text_message("遅すぎました")]) == "reply_token_spent"
        assert [m.text for m in fake.inbox(person)] == ["まだ間に合います"]


@pytest.mark.parametrize(("delivered_before_the_error", "retry_answer"), [(False, "sent"), (True, "already_sent")])
async def test_a_push_retried_with_the_same_key_after_a_server_error_arrives_once(
    fake: FakeLine, api: LineApi, delivered_before_the_error: bool, retry_answer: str
) -> None:
    person, key = new_user_id(), new_retry_key()
    fake.fail_next(1, status=500, delivered=delivered_before_the_error)
    assert await api.push(person, [text_message("お待たせしています。")], retry_key=key) == "failed"
    assert await api.push(person, [text_message("お待たせしています。")], retry_key=key) == retry_answer
    assert [m.text for m in fake.inbox(person)] == ["お待たせしています。"]
    assert fake.stats().duplicates == 0


async def test_a_push_whose_answers_are_lost_twice_is_already_sent_on_the_third_try(fake: FakeLine, api: LineApi) -> None:
    person, key = new_user_id(), new_retry_key()
    fake.fail_next(2, status=500, delivered=True)  # LINE handles both tries, but neither answer comes back
    answers = [await api.push(person, [text_message("届きますか")], retry_key=key) for _ in range(3)]
    assert answers == ["failed", "failed", "already_sent"]
    assert [m.text for m in fake.inbox(person)] == ["届きますか"]
    assert (fake.stats().conflicts, fake.stats().duplicates) == (2, 0)


async def test_the_fake_counts_a_retry_under_a_new_key_that_sends_twice(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    fake.fail_next(1, status=503, delivered=True)
    assert await api.push(person, [text_message("お待たせしています。")], retry_key=new_retry_key()) == "failed"
    assert await api.push(person, [text_message("お待たせしています。")], retry_key=new_retry_key()) == "sent"
    assert len(fake.inbox(person)) == 2
    assert fake.stats().duplicates == 1


async def test_an_exhausted_quota_answers_quota_after_one_request_and_delivers_nothing(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    fake.monthly_quota = 1
    assert await api.push(person, [text_message("一通目")], retry_key=new_retry_key()) == "sent"
    before = fake.stats().requests
    assert await api.push(person, [text_message("二通目")], retry_key=new_retry_key()) == "quota"
    assert fake.stats().requests == before + 1
    assert fake.stats().quota_exceeded == 1
    assert [m.text for m in fake.inbox(person)] == ["一通目"]


async def test_replies_are_free_of_the_quota(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    fake.monthly_quota = 0
    assert await api.reply(reply_token(fake, person), [text_message("返信は無料です")]) == "sent"
    assert await api.push(person, [text_message("プッシュは上限")], retry_key=new_retry_key()) == "quota"


async def test_a_wrong_access_token_is_refused_and_spends_nothing(fake: FakeLine) -> None:
    person = new_user_id()
    token = reply_token(fake, person)
    async with LineApi(fake.url, "not-our-token") as wrong:
        assert await wrong.reply(token, [text_message("こんにちは")]) == "refused"
        assert await wrong.push(person, [text_message("こんにちは")], retry_key=new_retry_key()) == "refused"
        assert await wrong.show_loading(person) == "refused"
    assert fake.stats().unauthorized == 3
    assert fake.inbox(person) == []
    async with LineApi(fake.url, fake.access_token) as right:
        assert await right.reply(token, [text_message("こんにちは")]) == "sent"


@pytest.mark.parametrize(("status", "answer"), [(403, "refused"), (400, "refused"), (502, "failed"), (429, "quota")])
async def test_push_answers_by_status(fake: FakeLine, api: LineApi, status: int, answer: str) -> None:
    fake.fail_next(1, status=status)
    assert await api.push(new_user_id(), [text_message("こんにちは")], retry_key=new_retry_key()) == answer


async def test_an_answer_later_than_the_timeout_is_failed_in_about_the_timeout(fake: FakeLine) -> None:
    person, key = new_user_id(), new_retry_key()
    fake.delay_next(1, 5.0)
    async with LineApi(fake.url, fake.access_token, timeout=0.5) as api:
        started = time.monotonic()
        assert await api.push(person, [text_message("少々お待ちください")], retry_key=key) == "failed"
        assert time.monotonic() - started < 1.25  # the 0.5 s timeout and some slack on a busy machine, far from the 5 s answer
        assert await api.push(person, [text_message("少々お待ちください")], retry_key=key) == "already_sent"
    assert len(fake.inbox(person)) == 1
    assert fake.stats().duplicates == 0


async def test_no_server_is_failed_at_once() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with LineApi(f"http://127.0.0.1:{port}", "token", timeout=2.0) as api:
        started = time.monotonic()
        assert await api.push(new_user_id(), [text_message("こんにちは")], retry_key=new_retry_key()) == "failed"
        assert time.monotonic() - started < 1.0


async def test_japanese_and_emoji_arrive_unchanged(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    text = "ひとりで抱えこまないでください🌸\n家族👨‍👩‍👧のことも、ｶﾀｶﾅ①の話も、どうぞ。〒100-0001"
    assert await api.push(person, [text_message(text)], retry_key=new_retry_key()) == "sent"
    assert (await fake.next_message(person, timeout=1)).text == text


async def test_quick_reply_buttons_arrive_with_their_labels_and_data(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    buttons = [
        QuickReply("孤独・孤立", "topic=1", display="孤独・孤立"),
        QuickReply("今すぐ話したい", "crisis=1"),
        QuickReply("わからない", "topic=0"),
    ]
    assert await api.reply(reply_token(fake, person), [text_message("どんなことでお困りですか？", buttons)]) == "sent"
    seen = await fake.next_message(person, timeout=1)
    assert seen.quick_labels == ("孤独・孤立", "今すぐ話したい", "わからない")
    assert seen.quick_data == ("topic=1", "crisis=1", "topic=0")


async def test_five_messages_go_in_one_request_in_order(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    assert await api.push(person, [text_message(f"{n}通目") for n in range(1, 6)], retry_key=new_retry_key()) == "sent"
    assert [m.text for m in fake.inbox(person)] == ["1通目", "2通目", "3通目", "4通目", "5通目"]
    assert fake.stats().requests == 1


async def test_six_messages_or_a_malformed_retry_key_never_leave(fake: FakeLine, api: LineApi) -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        await api.push(new_user_id(), [text_message("x")] * 6, retry_key=new_retry_key())
    with pytest.raises(ValueError, match="UUID"):
        await api.push(new_user_id(), [text_message("x")], retry_key="try-2")
    assert fake.stats().requests == 0


async def test_a_push_to_someone_who_blocked_the_account_is_sent_but_never_arrives(fake: FakeLine, api: LineApi) -> None:
    person = new_user_id()
    fake.event(person, {"type": "unfollow"})
    assert await api.push(person, [text_message("こんにちは")], retry_key=new_retry_key()) == "sent"
    assert fake.inbox(person) == []
    assert fake.stats().undelivered_blocked == 1


async def test_the_typing_indicator_is_shown_for_lines_own_durations(fake: FakeLine, api: LineApi) -> None:
    assert await api.show_loading(new_user_id()) == "sent"
    assert await api.show_loading(new_user_id(), seconds=7) == "sent"  # LINE takes 10, not 7
    assert await api.show_loading(new_user_id(), seconds=600) == "sent"
    assert fake.stats().loading == 3


async def test_nothing_of_the_person_reaches_a_log_line(fake: FakeLine, api: LineApi) -> None:
    person, text = new_user_id(), "死にたいと思ってしまう"
    fake.fail_next(2, status=500)
    fake.monthly_quota = 0
    with structlog.testing.capture_logs() as logs:
        await api.push(person, [text_message(text)], retry_key=new_retry_key())
        await api.reply("0" * 32, [text_message(text)])
        await api.push(person, [text_message(text)], retry_key=new_retry_key())
    assert [entry["delivery"] for entry in logs] == ["failed", "failed", "quota"]
    assert person not in repr(logs) and text not in repr(logs)


@pytest.mark.parametrize(
    ("status", "endpoint", "delivery"),
    [
        (200, "push", "sent"),
        (202, "loading", "sent"),
        (409, "push", "already_sent"),
        (409, "reply", "refused"),
        (400, "reply", "reply_token_spent"),
        (400, "push", "refused"),
        (401, "reply", "refused"),
        (429, "reply", "quota"),
        (500, "push", "failed"),
        (504, "reply", "failed"),
    ],
)
def test_what_each_status_means(status: int, endpoint: str, delivery: str) -> None:
    assert delivery_for(status, endpoint=endpoint) == delivery  # type: ignore[arg-type]
