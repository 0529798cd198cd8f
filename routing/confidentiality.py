"""Keyed pseudonyms: a repeat caller can be recognised without the number ever being stored."""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers


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
