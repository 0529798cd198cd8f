"""The keyring: versioned keys for callers' pseudonyms (k1, k2, …) and for sealed values (s1, s2, …).

Keys come from settings, never from the database: a database backup alone opens nothing.

- **No keyring file** (TSUNAGU_KEYRING_FILE, default `var_dir/keys.json`, does not exist): every
  key is derived from TSUNAGU_SECRET_KEY and its id, exactly as before the keyring existed; the
  current ids are TSUNAGU_PSEUDONYM_KEY_ID (k1) and TSUNAGU_SEAL_KEY_ID (s1). Nothing can be
  destroyed in this mode.
- **With a keyring file** (created by the first `tsunagu keys rotate`, mode 0600): it holds random
  256-bit keys and which one is current for each purpose. The first rotation adopts the two
  derived keys in use, so what was made before still opens. From then on the file is the whole
  truth: an id it does not hold cannot be used, derived or not.

Rotation makes a new key current: new pseudonyms and seals use it, older sealed values still
open with their own (the key id is stored with each value). Destroying an old key makes its
pseudonyms unlinkable (the same number now gives another pseudonym, and nobody can compute the
old one) and its sealed values unopenable (`unseal` raises `KeyGone`).

Every process sees a rotation: a `Keyring` checks the file on every use (one `stat`) and re-reads
it when its inode, size or mtime changed. Rotations are written to a temporary file and renamed
over the old one under a lock, so a reader sees the old file or the new one, never half of one.

Limits: a key adopted from TSUNAGU_SECRET_KEY can be derived again by anyone holding the secret;
destroying it is final only once the secret is changed as well. Backups of the keyring file hold
the keys too; a destroyed key lives on in them until they are gone.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from routing.settings import Settings

log = structlog.get_logger("tsunagu.keyring")

Purpose = Literal["pseudonym", "seal"]
PSEUDONYM: Purpose = "pseudonym"
SEAL: Purpose = "seal"
PURPOSES: tuple[Purpose, ...] = (PSEUDONYM, SEAL)
PREFIX: Mapping[Purpose, str] = {PSEUDONYM: "k", SEAL: "s"}
_DERIVATION_LABEL: Mapping[Purpose, str] = {PSEUDONYM: "caller-pseudonym", SEAL: "seal"}  # as before the keyring: same keys
_ID = re.compile(r"([ks])(\d+)")
FORMAT = 1


RECHECK_SECONDS = 0.05  # how often a running service looks whether its keyring file changed


class KeyringError(Exception):
    """An operator's request the keyring refuses, or a keyring file it cannot read; the message says what to do."""


class KeyGone(ValueError):
    """The value cannot be opened any more: it was purged, or the key it was made with was destroyed."""


@dataclass(frozen=True, slots=True)
class Key:
    """One key: its id, purpose, when it was made (None for one adopted from the secret), and its material."""

    id: str
    purpose: Purpose
    created_at: datetime | None
    material: bytes = field(repr=False)
    origin: Literal["random", "derived"] = "random"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What `tsunagu keys list` shows of a key: never its material."""

    id: str
    purpose: Purpose
    created_at: datetime | None
    origin: str
    current: bool
    destroyed_at: datetime | None = None


# --- pure: the set of keys and how it changes -----------------------------------------------------


def derive(secret_key: str, purpose: Purpose, key_id: str) -> bytes:
    """Return the key derived from the secret for a purpose and id (the only keys there were before the keyring file)."""
    label = f"{_DERIVATION_LABEL[purpose]}:{key_id}"
    return hmac.new(secret_key.encode(), label.encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=64)
def _derived_key(secret_key: str, purpose: Purpose, key_id: str) -> Key:
    """The key derived from the secret for a purpose and id, made once: every call's pseudonym needs it."""
    return Key(key_id, purpose, None, derive(secret_key, purpose, key_id), "derived")


def purpose_of(key_id: str) -> Purpose:
    """Return the purpose a key id names (k… pseudonym, s… seal)."""
    match = _ID.fullmatch(key_id)
    if match is None:
        raise KeyringError(f"{key_id!r} is not a key id: pseudonym keys are k1, k2, …; sealing keys s1, s2, …")
    return PSEUDONYM if match.group(1) == "k" else SEAL


def _number(key_id: str) -> int:
    match = _ID.fullmatch(key_id)
    return int(match.group(2)) if match else 0


@dataclass(frozen=True)
class KeySet:
    """The keys in force: live keys by id, the current id per purpose, and the ids destroyed (so none is reused).

    `secret` is set only when there is no keyring file: any id is then derived from it.
    """

    keys: Mapping[str, Key]
    current: Mapping[Purpose, str]
    destroyed: Mapping[str, datetime] = field(default_factory=dict)
    secret: str | None = field(default=None, repr=False)

    def current_key(self, purpose: Purpose) -> Key:
        """Return the key new pseudonyms or seals are made with."""
        return self.find(purpose, self.current[purpose])

    def find(self, purpose: Purpose, key_id: str) -> Key:
        """Return the key with this id; raises KeyGone when it was destroyed or never held."""
        key = self.keys.get(key_id)
        if key is not None and key.purpose == purpose:
            return key
        if self.secret is not None:
            return _derived_key(self.secret, purpose, key_id)
        raise KeyGone(f"key {key_id} is not in the keyring (destroyed or never there): what was made with it is gone")

    def rotated(self, purpose: Purpose, material: bytes, now: datetime) -> KeySet:
        """Return the set with a new current key for the purpose (the next unused id)."""
        used = [k for k in (*self.keys, *self.destroyed) if k.startswith(PREFIX[purpose])]
        key_id = f"{PREFIX[purpose]}{max(map(_number, used), default=0) + 1}"
        key = Key(key_id, purpose, now, material)
        return replace(self, keys={**self.keys, key_id: key}, current={**self.current, purpose: key_id})

    def without(self, key_id: str, now: datetime) -> KeySet:
        """Return the set with an old key destroyed; refuses the current key or an unknown id."""
        purpose = purpose_of(key_id)
        if key_id == self.current.get(purpose):
            raise KeyringError(
                f"{key_id} is the current {purpose} key: rotate first (`tsunagu keys rotate --purpose {purpose}`), then destroy it"
            )
        if key_id in self.destroyed:
            raise KeyringError(f"{key_id} was already destroyed on {self.destroyed[key_id]:%Y-%m-%d}")
        if key_id not in self.keys:
            raise KeyringError(f"there is no key {key_id} in the keyring; `tsunagu keys list` shows them")
        keys = {k: v for k, v in self.keys.items() if k != key_id}
        return replace(self, keys=keys, destroyed={**self.destroyed, key_id: now})

    def describe(self) -> list[KeyInfo]:
        """Return every key, destroyed ones included, by purpose and number."""
        if self.secret is not None:  # no keyring file: the current ids are the keys there are
            live = [KeyInfo(i, p, None, "derived", True) for p, i in self.current.items()]
        else:
            live = [KeyInfo(k.id, k.purpose, k.created_at, k.origin, self.current.get(k.purpose) == k.id) for k in self.keys.values()]
        gone = [KeyInfo(i, purpose_of(i), None, "", False, at) for i, at in self.destroyed.items()]
        return sorted([*live, *gone], key=lambda info: (PURPOSES.index(info.purpose), _number(info.id), info.id))

    def to_json(self) -> str:
        """Return the keyring file's text."""
        keys = {
            k.id: {
                "purpose": k.purpose,
                "created_at": k.created_at.isoformat() if k.created_at else None,
                "origin": k.origin,
                "key": base64.b64encode(k.material).decode(),
            }
            for k in self.keys.values()
        }
        destroyed = {i: at.isoformat() for i, at in self.destroyed.items()}
        return json.dumps({"format": FORMAT, "current": dict(self.current), "keys": keys, "destroyed": destroyed}, indent=2) + "\n"


def derived_keyset(secret_key: str, *, pseudonym_id: str = "k1", seal_id: str = "s1") -> KeySet:
    """Return the keys as they are without a keyring file: derived from the secret, with these ids current."""
    return KeySet(keys={}, current={PSEUDONYM: pseudonym_id, SEAL: seal_id}, secret=secret_key)


def adopted(derived: KeySet) -> KeySet:
    """Return the derived keys in use as explicit keys: what the first keyring file starts from."""
    assert derived.secret is not None
    for purpose in PURPOSES:
        if purpose_of(derived.current[purpose]) != purpose:
            prefix = PREFIX[purpose]
            raise KeyringError(f"the {purpose} key id {derived.current[purpose]!r} cannot start a keyring: use {prefix}1, {prefix}2, …")
    keys = {derived.current[p]: derived.current_key(p) for p in PURPOSES}
    return KeySet(keys=keys, current=dict(derived.current))


def parse_keyset(text: str, where: str) -> KeySet:
    """Return the keys of a keyring file's text; raises KeyringError naming what is wrong."""
    try:
        data = json.loads(text)
        keys = {key_id: _parse_key(key_id, entry) for key_id, entry in data["keys"].items()}
        destroyed = {key_id: datetime.fromisoformat(at) for key_id, at in data.get("destroyed", {}).items()}
        keyset = KeySet(keys=keys, current={p: data["current"][p] for p in PURPOSES}, destroyed=destroyed)
    except (ValueError, KeyError, TypeError, AttributeError, KeyringError) as error:
        raise KeyringError(f"the keyring file {where} cannot be read ({error}): restore it from its backup") from None
    for purpose in PURPOSES:
        key = keyset.keys.get(keyset.current[purpose])
        if key is None or key.purpose != purpose:
            raise KeyringError(f"the keyring file {where} has no usable current {purpose} key: restore it from its backup")
    return keyset


def _parse_key(key_id: str, entry: Mapping[str, str]) -> Key:
    purpose = purpose_of(key_id)
    material = base64.b64decode(entry["key"], validate=True)
    if entry["purpose"] != purpose or len(material) != 32:
        raise KeyringError(f"{key_id} is not a 256-bit {purpose} key")
    created = datetime.fromisoformat(entry["created_at"]) if entry.get("created_at") else None
    return Key(key_id, purpose, created, material, "derived" if entry.get("origin") == "derived" else "random")


# --- I/O: the file, read on change and written whole -------------------------------------------------


def keyring_path(settings: Settings) -> Path:
    """Return where the keyring file is (or would be)."""
    return settings.keyring_file or settings.var_dir / "keys.json"


class Keyring:
    """The keys of one service: from its keyring file when there is one, else derived from TSUNAGU_SECRET_KEY."""

    def __init__(self, path: Path | None, *, secret_key: str, pseudonym_id: str = "k1", seal_id: str = "s1") -> None:
        self.path = path
        self.secret_key = secret_key
        self._derived = derived_keyset(secret_key, pseudonym_id=pseudonym_id, seal_id=seal_id)
        self._loaded: tuple[tuple[int, int, int], KeySet] | None = None
        self._in_force: KeySet = self._derived
        self._checked_at = -math.inf  # time.monotonic() of the last look at the file

    @classmethod
    def derived(cls, secret_key: str, *, pseudonym_id: str = "k1", seal_id: str = "s1") -> Keyring:
        """Return a keyring without a file: keys derived from the secret, as before the keyring existed."""
        return cls(None, secret_key=secret_key, pseudonym_id=pseudonym_id, seal_id=seal_id)

    @property
    def from_file(self) -> bool:
        """Whether the keys come from a keyring file (else they are derived from the secret)."""
        return self.path is not None and self.path.exists()

    def keyset(self) -> KeySet:
        """Return the keys in force now, re-reading the file when it changed.

        The file is looked at no more than every RECHECK_SECONDS: every call's pseudonym needs the
        keys, and a `stat` per call was most of what a pseudonym cost. So a rotation or destruction
        made by another process (`tsunagu keys`) is in force here within RECHECK_SECONDS; one made
        through this object, at once.
        """
        if self.path is None:
            return self._derived
        now = time.monotonic()
        if now - self._checked_at < RECHECK_SECONDS:
            return self._in_force
        self._checked_at = now
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._in_force = self._derived
            return self._in_force
        if self._loaded is None or self._loaded[0] != _signature(stat):
            self._loaded = self._read()
        self._in_force = self._loaded[1]
        return self._in_force

    def current(self, purpose: Purpose) -> Key:
        """Return the key new pseudonyms or seals are made with."""
        return self.keyset().current_key(purpose)

    def find(self, purpose: Purpose, key_id: str) -> Key:
        """Return the key with this id; raises KeyGone when it was destroyed."""
        return self.keyset().find(purpose, key_id)

    def rotate(self, purposes: Iterable[Purpose], *, now: datetime) -> list[Key]:
        """Add a new random key per purpose and make it current (creating the file on the first rotation); return them."""
        path, purposes = self._writable_path(), tuple(purposes)
        with _locked(path):
            keyset = self._read()[1] if path.exists() else adopted(self._derived)
            for purpose in purposes:
                keyset = keyset.rotated(purpose, os.urandom(32), now)
            _write_private(path, keyset.to_json())
        self._checked_at = -math.inf
        return [keyset.current_key(p) for p in purposes]

    def destroy(self, key_id: str, *, now: datetime) -> None:
        """Remove an old key from the file for good; refuses the current one, and refuses without a file."""
        path = self._writable_path()
        with _locked(path):
            if not path.exists():
                raise KeyringError(
                    f"there is no keyring file at {path} yet: keys are derived from TSUNAGU_SECRET_KEY and cannot be "
                    "destroyed one by one; run `tsunagu keys rotate` first"
                )
            _write_private(path, self._read()[1].without(key_id, now).to_json())
        self._checked_at = -math.inf

    def _writable_path(self) -> Path:
        if self.path is None:
            raise KeyringError("this keyring has no file: it cannot be changed")
        return self.path

    def _read(self) -> tuple[tuple[int, int, int], KeySet]:
        assert self.path is not None
        with open(self.path, encoding="utf-8") as file:
            stat = os.fstat(file.fileno())
            text = file.read()
        if stat.st_mode & 0o077:
            log.warning("keyring_file_not_private", path=str(self.path), mode=oct(stat.st_mode & 0o777), expected="0o600")
        return _signature(stat), parse_keyset(text, str(self.path))


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the file: two rotations at once cannot lose one another's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _write_private(path: Path, text: str) -> None:
    """Replace the file whole with mode 0600: readers see the old keys or the new ones, never part of a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        os.write(descriptor, text.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def keys_for(settings: Settings) -> Keyring:
    """Return the service's keyring: its file when there is one, else keys derived from TSUNAGU_SECRET_KEY."""
    return Keyring(
        keyring_path(settings).absolute(),
        secret_key=settings.secret_key.get_secret_value(),
        pseudonym_id=settings.pseudonym_key_id,
        seal_id=settings.seal_key_id,
    )
