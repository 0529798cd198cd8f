"""The request bounds on their own: the body limit as an ASGI layer, the search for text that is not text, the previews a
422 shows. The app's answers to each are in tests/test_directory_api.py and tests/test_cases.py."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from routing.request_limits import MAX_BODY_BYTES, PREVIEW_CHARS, BoundedBody, not_text_in, preview


class Echo:
    """An app that answers with the length of the body it read, and remembers whether it was called."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        answer = str(len(body)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


async def post(app: Echo, content: object, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=BoundedBody(app)), base_url="http://testserver") as client:
        return await client.post("/api/anything", content=content, headers=headers)


async def chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


async def test_a_body_up_to_the_limit_reaches_the_app_whole() -> None:
    app = Echo()
    assert (await post(app, b"x" * MAX_BODY_BYTES)).text == str(MAX_BODY_BYTES)
    assert (await post(app, chunks(MAX_BODY_BYTES))).text == str(MAX_BODY_BYTES)  # streamed, without a length


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_over_the_limit_never_reaches_the_app(streamed: bool) -> None:
    app = Echo()
    content = chunks(MAX_BODY_BYTES + 1) if streamed else b"x" * (MAX_BODY_BYTES + 1)
    refused = await post(app, content)
    assert refused.status_code == 413 and "1 MiB" in refused.json()["detail"] and not app.called


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    async def never(*_: object) -> None:
        raise AssertionError("the app was called")

    async def unread() -> dict:
        raise AssertionError("the body was read")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    for length in (str(MAX_BODY_BYTES + 1), "not-a-number"):
        scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": [(b"content-length", length.encode())]}
        await BoundedBody(never)(scope, unread, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413, 413]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"name": "相談窓口"}', None),
        ('{"name": "\\ud83d\\ude00"}', None),  # a whole pair is a character (😀)
        ('{"name": "\\\\ud800"}', None),  # an escaped backslash: the text is backslash, u, d, 8, 0, 0
        ('{"name": "\\ud800"}', ["body", "name"]),
        ('{"name": "x\\uDFFFy"}', ["body", "name"]),  # the second half alone, in capitals
        ('{"phones": [{"number": "1"}, {"description": "\\ud83d"}]}', ["body", "phones", 1, "description"]),
        ('{"\\ud800": 1}', ["body", "\ud800"]),  # in a key
        ("name=\\ud800", None),  # not JSON: the endpoint answers it
        ("[" * 100_000 + '"\\ud800"' + "]" * 100_000, None),  # deeper than JSON is read: the endpoint refuses it
    ],
)
def test_text_that_is_not_text_is_found_where_it_is(body: str, where: list | None) -> None:
    assert not_text_in(body.encode()) == where


def test_deeply_nested_json_is_searched_without_recursion() -> None:
    deep = "[" * 500 + '"\\ud800"' + "]" * 500
    assert json.loads(deep) and not_text_in(deep.encode()) == ["body", *([0] * 500)]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        (True, True),
        (42, 42),
        (1.5, 1.5),
        (float("nan"), "nan"),  # JSON has no NaN to write back
        (10**30, str(10**30)),
        ("短い", "短い"),
        ("\ud800", "?"),
        (["a"] * 100_000, "(a list of 100000 item(s))"),
        ({"a": 1, "b": 2}, "(an object of 2 field(s))"),
    ],
)
def test_a_value_is_shown_back_short_and_writable(value: object, shown: object) -> None:
    assert preview(value) == shown


def test_long_text_is_shown_as_its_beginning_and_its_length() -> None:
    shown = preview("z" * 1_000_000)
    assert isinstance(shown, str) and shown.startswith("z" * PREVIEW_CHARS) and "1000000 characters" in shown
    assert len(shown) < PREVIEW_CHARS + 40
