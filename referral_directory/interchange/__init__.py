"""Directory files in and out: the one place that picks a reader or writer by file kind.

Reading validates everything before anything is written: a file is either wholly good
(records, no problems) or refused with every problem listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import replace
from pathlib import Path

from referral_directory.interchange.hsds import dumps_hsds, load_hsds
from referral_directory.interchange.sheet import load_sheet, to_csv, to_xlsx
from referral_directory.records import TIERS, DirectoryRecords, ParseResult, Problem
from referral_directory.regions import Regions

FORMATS = ("hsds", "csv", "xlsx")
_ROW = re.compile(r"row (\d+)")
_ENTITY = re.compile(r"(?:service|organization) (\S+)")


def read_directory_file(path: Path, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Read an HSDS JSON (JP profile), CSV or XLSX directory file; raises OSError when it cannot be read."""
    return read_directory_bytes(path.read_bytes(), path.name, regions, known_organization_ids=known_organization_ids)


def is_hsds(data: bytes, name: str) -> bool:
    """Return whether a directory file is HSDS JSON (by its name, or by its first character), not a sheet."""
    return name.lower().endswith(".json") or data.lstrip()[:1] == b"{"


def read_directory_bytes(data: bytes, name: str, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Read the bytes of a directory file named `name` (an upload): HSDS JSON, CSV or XLSX, as read_directory_file does."""
    if is_hsds(data, name):
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return ParseResult(problems=(Problem("file", "", "an HSDS file must be UTF-8 JSON"),))
        except json.JSONDecodeError as error:
            return ParseResult(problems=(Problem("file", f"line {error.lineno}", f"not valid JSON: {error.msg}"),))
        except ValueError:  # Python refuses to read an integer of thousands of digits
            return ParseResult(problems=(Problem("file", "", "a number in the file has more digits than any directory value"),))
        except RecursionError:
            return ParseResult(problems=(Problem("file", "", "the JSON is nested far deeper than a directory file"),))
        result = load_hsds(document, regions, known_organization_ids=known_organization_ids)
        positions = _positions(document)
        return replace(result, problems=_in_file_order(result.problems, positions), warnings=_in_file_order(result.warnings, positions))
    result = load_sheet(data, regions, known_organization_ids=known_organization_ids)
    return replace(result, problems=_in_file_order(result.problems, {}), warnings=_in_file_order(result.warnings, {}))


def _positions(document: object) -> dict[str, int]:
    """Return where each service and organisation id first appears in an HSDS document."""
    positions: dict[str, int] = {}
    contents = document.get("contents") if isinstance(document, dict) else None
    for index, item in enumerate(contents if isinstance(contents, list) else ()):
        if isinstance(item, dict):
            organization = item.get("organization")
            for key in (item.get("id"), organization.get("id") if isinstance(organization, dict) else None):
                if isinstance(key, str):
                    positions.setdefault(key, index)
    return positions


def _in_file_order(problems: tuple[Problem, ...], positions: dict[str, int]) -> tuple[Problem, ...]:
    """Sort problems as a coordinator reads the file: by row, or by where the service stands in it."""

    def place(problem: Problem) -> int:
        if match := _ROW.match(problem.where):
            return int(match[1])
        if match := _ENTITY.match(problem.where):
            return positions.get(match[1], len(positions))
        return -1  # whole-file problems first

    return tuple(sorted(problems, key=place))  # stable: a service's own problems keep their order


def write_directory_file(records: DirectoryRecords, format: str, regions: Regions) -> bytes:
    """Return the directory as a file of the given format: hsds, csv or xlsx."""
    records = _reading_order(records)
    if format == "hsds":
        return dumps_hsds(records, regions).encode("utf-8")
    if format == "csv":
        return to_csv(records).encode("utf-8")
    if format == "xlsx":
        return to_xlsx(records)
    raise ValueError(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}")


def _reading_order(records: DirectoryRecords) -> DirectoryRecords:
    """Order services as a coordinator reads a directory: national, prefecture, municipal; then by area and name."""
    rank = {tier: i for i, tier in enumerate(TIERS)}
    services = sorted(records.services, key=lambda s: (rank.get(s.tier, len(rank)), s.areas, s.name, s.id))
    return DirectoryRecords(organizations=records.organizations, services=tuple(services))
