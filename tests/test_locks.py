"""The dependency locks agree with pyproject.toml and with each other (scripts/lock makes them)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def read_lock(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Return each pinned package of a lock file: its version and its hashes."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=\S)", (ROOT / name).read_text()):
        if match := PIN.match(entry):
            pins[canonicalize_name(match["name"])] = (match["version"], frozenset(HASH.findall(entry)))
    return pins


def declared(extra: str | None) -> list[Requirement]:
    """Return pyproject.toml's dependencies, or those of one of its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in (project["optional-dependencies"][extra] if extra else project["dependencies"])]


def test_every_pin_has_hashes():
    for lock in ("requirements.lock", "requirements-test.lock"):
        unhashed = [name for name, (_, hashes) in read_lock(lock).items() if not hashes]
        assert not unhashed, f"{lock}: pins without hashes: {unhashed}"


def test_the_service_lock_is_the_test_lock_narrowed():
    service, test = read_lock("requirements.lock"), read_lock("requirements-test.lock")
    differing = {name: (pin[0], test.get(name, ("absent",))[0]) for name, pin in service.items() if test.get(name) != pin}
    assert not differing, f"requirements.lock differs from requirements-test.lock (run scripts/lock): {differing}"


def test_every_declared_dependency_is_locked_within_its_range():
    for lock, requirements in (("requirements.lock", declared(None)), ("requirements-test.lock", declared(None) + declared("test"))):
        pins = read_lock(lock)
        wrong = [
            f"{requirement} (locked: {pins.get(canonicalize_name(requirement.name), ('none',))[0]})"
            for requirement in requirements
            if canonicalize_name(requirement.name) not in pins
            or not requirement.specifier.contains(pins[canonicalize_name(requirement.name)][0], prereleases=True)
        ]
        assert not wrong, f"{lock} does not meet pyproject.toml (run scripts/lock): {wrong}"
