"""Picking readers and writers by file, problems in the order a coordinator reads the file, exports in reading order."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hsds_schemas import schema_errors

from referral_directory.demo import demo_directory
from referral_directory.interchange import read_directory_file, write_directory_file

SAMPLES = Path(__file__).parent.parent / "referral_directory" / "interchange" / "samples"


def test_sheet_problems_come_in_row_order(tmp_path: Path, regions) -> None:
    rows = list(csv.DictReader(io.StringIO((SAMPLES / "directory-sample.csv").read_text(encoding="utf-8-sig"))))
    rows[4]["areas"] = "131017"  # row 6
    rows[0]["topics"] = "weather"  # row 2
    rows[2]["phones"] = "03-1234-5678"  # row 4
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "broken.csv"
    path.write_text(out.getvalue(), encoding="utf-8")

    problems = read_directory_file(path, regions).problems

    assert [p.where for p in problems] == ["row 2", "row 4", "row 6"]


def test_hsds_problems_follow_the_services_in_the_file(tmp_path: Path, regions) -> None:
    document = json.loads((SAMPLES / "directory-sample.hsds.json").read_text(encoding="utf-8"))
    last, first = document["contents"][-1], document["contents"][0]
    last["phones"][0]["number"] = "not a number"
    first["service_areas"][0]["uri"] = "urn:jp:lgcode:131017"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    problems = read_directory_file(path, regions).problems

    assert [p.where.split()[1] for p in problems] == [first["id"], last["id"]]


def test_exports_list_services_national_first_then_by_area_and_name(regions) -> None:
    records = read_directory_file(SAMPLES / "directory-sample.csv", regions).records
    shuffled = type(records)(organizations=records.organizations, services=tuple(reversed(records.services)))
    exported = write_directory_file(shuffled, "csv", regions).decode("utf-8-sig")
    tiers = [row["tier"] for row in csv.DictReader(io.StringIO(exported))]
    assert tiers == sorted(tiers, key=["national", "prefecture", "municipal"].index)
    assert exported == write_directory_file(records, "csv", regions).decode("utf-8-sig")


def test_the_hsds_export_of_the_demo_directory_validates_against_the_official_schemas(regions) -> None:
    records = demo_directory(regions)
    document = json.loads(write_directory_file(records, "hsds", regions))
    assert len(document["contents"]) == len(records.services) > 1500
    assert schema_errors(document) == []
