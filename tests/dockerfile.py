"""deploy/Dockerfile, read as the tests need it: its instructions in order, and the last of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DOCKERFILE = Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """Return every instruction in order, as (INSTRUCTION, the rest of it), continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction, rest.strip()))
    return found


def dockerfile() -> dict[str, Any]:
    """Return the Dockerfile's instructions (the last of each), JSON-form ones as lists, and every COPY's sources."""
    found: dict[str, Any] = {"COPY": []}
    for instruction, rest in instructions():
        if instruction == "COPY":
            found["COPY"] += rest.split()[:-1]
        else:
            found[instruction] = yaml.safe_load(rest) if rest.startswith("[") else rest
    return found
