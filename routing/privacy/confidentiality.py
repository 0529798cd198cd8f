"""Keyed pseudonyms: a repeat caller can be recognised without the number ever being stored.

And sealed values (AES-256-GCM) for what must be kept but never in clear. The keys are the
service's keyring (`Runtime.keys`; `keyring.keys_for(settings)` outside the service), passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from routing.privacy.keyring import PSEUDONYM, SEAL, KeyGone, Keyring

__all__ = ["KeyGone", "caller_pseudonym", "e164", "person_pseudonym", "reference", "seal", "try_unseal", "unseal"]
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


def caller_pseudonym(number: str, *, keys: Keyring) -> str:
    """Return `key_id:hex`, the HMAC-SHA256 of the caller's number in E.164 under the current pseudonym key."""
    key = keys.current(PSEUDONYM)
    digest = hmac.new(key.material, e164(number).encode(), hashlib.sha256).hexdigest()
    return f"{key.id}:{digest}"


def person_pseudonym(kind: str, identifier: str, *, keys: Keyring) -> str:
    """Return `key_id:hex` for a person known by an identifier other than a number (`line`: a LINE user id; `web`: a web chat's token).

    The kind is hashed in, so that the same string under two kinds gives two pseudonyms.
    """
    key = keys.current(PSEUDONYM)
    digest = hmac.new(key.material, f"{kind}:{identifier}".encode(), hashlib.sha256).hexdigest()
    return f"{key.id}:{digest}"


def e164(number: str) -> str:
    """Return a phone number in E.164, the one form a caller's pseudonym is made of.

    Twilio's `From` is E.164 already and is taken as it is: parsing it again (phonenumbers, some
    20 µs) cost the incoming webhook a third of its throughput. Numbers written any other way
    (090-1234-5678, as a person types it) are parsed as Japanese.
    """
    if _E164.fullmatch(number):
        return number
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, "JP"), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return number.strip() or "anonymous"  # Twilio sends "anonymous" or "+266696687" for withheld numbers


def reference(value: str, *, keys: Keyring) -> str:
    """Return a keyed hash of an identifier (such as a CallSid) that must not be stored as it is (under the service's secret)."""
    return hmac.new(_key(keys.secret_key, "reference"), value.encode(), hashlib.sha256).hexdigest()


def seal(plaintext: str, *, keys: Keyring) -> str:
    """Return `key_id:nonce:ciphertext` (AES-256-GCM under the current sealing key, its id bound in as associated data)."""
    key = keys.current(SEAL)
    nonce = os.urandom(12)
    sealed = AESGCM(key.material).encrypt(nonce, plaintext.encode(), key.id.encode())
    return ":".join((key.id, base64.urlsafe_b64encode(nonce).decode(), base64.urlsafe_b64encode(sealed).decode()))


def unseal(token: str, *, keys: Keyring) -> str:
    """Return the plaintext of a sealed value.

    Raises KeyGone (a ValueError) when the value was purged or its key destroyed: treat it as
    gone. Raises ValueError when it cannot be opened otherwise (changed, or another secret).
    """
    if not token:
        raise KeyGone("this value was emptied after its retention period")
    try:
        key_id, nonce, sealed = token.split(":")
    except ValueError as error:
        raise ValueError("this value cannot be opened: it is not a sealed value") from error
    key = keys.find(SEAL, key_id)
    try:
        data = AESGCM(key.material).decrypt(base64.urlsafe_b64decode(nonce), base64.urlsafe_b64decode(sealed), key_id.encode())
    except Exception as error:  # InvalidTag, bad base64: both mean "cannot be opened"
        raise ValueError("this value cannot be opened with the configured keys") from error
    return data.decode()


def try_unseal(token: str, *, keys: Keyring) -> str | None:
    """Return the plaintext of a sealed value, or None when it is gone (purged, or its key destroyed)."""
    try:
        return unseal(token, keys=keys)
    except KeyGone:
        return None
