"""Directory files in and out: the one place that picks a reader or writer by file kind.

Reading validates everything before anything is written: a file is either wholly good
(records, no problems) or refused with every problem listed.
"""

from __future__ import annotations

import json
from collections.abc import Container
from pathlib import Path

from referral_directory.hsds import dumps_hsds, load_hsds
from referral_directory.records import DirectoryRecords, ParseResult, Problem
from referral_directory.regions import Regions
from referral_directory.sheet import load_sheet, to_csv, to_xlsx

FORMATS = ("hsds", "csv", "xlsx")


def read_directory_file(path: Path, regions: Regions, *, known_organization_ids: Container[str] = ()) -> ParseResult:
    """Read an HSDS JSON (JP profile), CSV or XLSX directory file; raises OSError when it cannot be read."""
    data = path.read_bytes()
    if path.suffix.lower() == ".json" or data.lstrip()[:1] == b"{":
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return ParseResult(problems=(Problem("file", "", "an HSDS file must be UTF-8 JSON"),))
        except json.JSONDecodeError as error:
            return ParseResult(problems=(Problem("file", f"line {error.lineno}", f"not valid JSON: {error.msg}"),))
        return load_hsds(document, regions, known_organization_ids=known_organization_ids)
    return load_sheet(data, regions, known_organization_ids=known_organization_ids)


def write_directory_file(records: DirectoryRecords, format: str, regions: Regions) -> bytes:
    """Return the directory as a file of the given format: hsds, csv or xlsx."""
    if format == "hsds":
        return dumps_hsds(records, regions).encode("utf-8")
    if format == "csv":
        return to_csv(records).encode("utf-8")
    if format == "xlsx":
        return to_xlsx(records)
    raise ValueError(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}")
