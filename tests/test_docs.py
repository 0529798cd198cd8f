"""The documents stand on their own: their links and paths resolve inside the repository, and nothing points outside it.

A fresh clone with nothing beside it must hold everything its documents, comments and tests
refer to.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "CHANGELOG.md", *sorted(p.relative_to(REPOSITORY).as_posix() for p in (REPOSITORY / "docs").glob("*.md"))]
# What once pointed to files beside the repository, which a fresh clone does not have.
OUTSIDE = ("../shared", "shared/hsds", "DESIGN.md", "DESIGN §", "JP-PROFILE.md", "NOTES.md")
# Directories that are not part of the repository's own files (virtualenv, run state, caches, builds).
NOT_OURS = {".git", ".venv", "var", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "build", "dist"}
TOP_LEVEL = ("routing", "referral_directory", "tests", "loadtests", "scripts", "deploy", "docs", ".ci")

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`\n]+)`")
_REPO_PATH = re.compile(rf"^(?:{'|'.join(re.escape(t) for t in TOP_LEVEL)})/[\w./-]*$")


def _prose(text: str) -> str:
    """Return a Markdown text without its fenced code blocks."""
    return _FENCE.sub("", text)


def _anchor(heading: str) -> str:
    """Return the anchor a heading gets: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in _prose(path.read_text()).splitlines() if line.startswith("#")}


@cache
def repository_files() -> tuple[str, ...]:
    """Return the repository's own files: tracked by git when this is a git checkout, else every file but NOT_OURS."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = b""
    if listed:
        return tuple(name for name in listed.decode().split("\0") if name and (REPOSITORY / name).is_file())
    found = []
    for root, dirs, files in os.walk(REPOSITORY):
        dirs[:] = [d for d in dirs if d not in NOT_OURS and not d.endswith(".egg-info")]
        found += [(Path(root) / f).relative_to(REPOSITORY).as_posix() for f in files]
    return tuple(sorted(found))


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_resolves_to_a_file_in_the_repository(document: str) -> None:
    path = REPOSITORY / document
    broken = []
    for target in _LINK.findall(_prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not files
            continue
        name, _, anchor = target.partition("#")
        resolved = (path.parent / name).resolve() if name else path
        if not resolved.is_relative_to(REPOSITORY) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: {resolved.name} has no heading #{anchor}")
    assert not broken, f"{document}: {broken}"


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if d != "CHANGELOG.md"])  # history names the paths of its day
def test_every_repository_path_a_document_names_exists(document: str) -> None:
    text = (REPOSITORY / document).read_text()
    named = {code for code in _CODE.findall(text) if _REPO_PATH.match(code)}
    missing = sorted(code for code in named if not (REPOSITORY / code).exists())
    assert not missing, f"{document} names paths that do not exist: {missing}"


def test_nothing_in_the_repository_points_outside_it() -> None:
    this = Path(__file__).resolve().relative_to(REPOSITORY).as_posix()
    found = []
    for name in repository_files():
        if name == this:
            continue
        content = (REPOSITORY / name).read_bytes()
        found += [f"{name}: {word}" for word in OUTSIDE if word.encode() in content]
    assert not found, f"these point outside the repository: {found}"


def test_the_readmes_two_commands_are_executable_scripts() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(scripts/\w+)", section, re.MULTILINE)
    assert commands == ["scripts/serve", "scripts/test"]
    for command in commands:
        script = REPOSITORY / command
        assert script.is_file() and os.access(script, os.X_OK), f"{command} is not an executable file"
