"""Keyed pseudonyms: a repeat caller can be recognised without the number ever being stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


def caller_pseudonym(number: str, *, secret_key: str, key_id: str) -> str:
    """Return `key_id:hex`, the HMAC-SHA256 of the caller's number in E.164 under a key derived from the secret."""
    try:
        canonical = phonenumbers.format_number(phonenumbers.parse(number, "JP"), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        canonical = number.strip() or "anonymous"  # Twilio sends "anonymous" or "+266696687" for withheld numbers
    digest = hmac.new(_key(secret_key, f"caller-pseudonym:{key_id}"), canonical.encode(), hashlib.sha256).hexdigest()
    return f"{key_id}:{digest}"


def reference(value: str, *, secret_key: str) -> str:
    """Return a keyed hash of an identifier (such as a CallSid) that must not be stored as it is."""
    return hmac.new(_key(secret_key, "reference"), value.encode(), hashlib.sha256).hexdigest()


def seal(plaintext: str, *, secret_key: str, key_id: str) -> str:
    """Return `key_id:nonce:ciphertext` (AES-256-GCM, the key id bound in as associated data)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_key(secret_key, f"seal:{key_id}")).encrypt(nonce, plaintext.encode(), key_id.encode())
    return ":".join((key_id, base64.urlsafe_b64encode(nonce).decode(), base64.urlsafe_b64encode(sealed).decode()))


def unseal(token: str, *, secret_key: str) -> str:
    """Return the plaintext of a sealed value; raises ValueError when it was not sealed with this secret."""
    try:
        key_id, nonce, sealed = token.split(":")
        data = AESGCM(_key(secret_key, f"seal:{key_id}")).decrypt(
            base64.urlsafe_b64decode(nonce), base64.urlsafe_b64decode(sealed), key_id.encode()
        )
    except Exception as error:  # InvalidTag, bad base64, wrong shape: all mean "cannot be opened"
        raise ValueError("this value cannot be opened with the configured secret key") from error
    return data.decode()
