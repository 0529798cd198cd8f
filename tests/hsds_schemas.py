"""The official HSDS 3.0 schemas (referral_directory/schemas/hsds, see its SOURCE.md) as a jsonschema validator for exports.

The schema files carry no `$id`; they refer to each other by bare file name (`"$ref":
"phone.json"`), and openapi.json refers to them by their published address. So every file is
registered under that address (BASE + its path), where the bare names resolve, in one
`referencing.Registry` read as Draft 2020-12.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPOSITORY = Path(__file__).resolve().parents[1]
HSDS_DIR = REPOSITORY / "referral_directory" / "schemas" / "hsds"
BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
# The API's answer to GET /services: a Page whose contents are compiled/service_list.json.
SERVICE_LIST_RESPONSE = BASE + "openapi.json#/paths/~1services/get/responses/200/content/application~1json/schema"


@cache
def hsds_registry() -> Registry:
    """Return a registry of every HSDS schema file, each under its published address."""
    files = [*HSDS_DIR.glob("*.json"), *HSDS_DIR.glob("compiled/*.json")]
    if not files:
        raise FileNotFoundError(f"no HSDS schema files in {HSDS_DIR}")
    resources = [
        (BASE + path.relative_to(HSDS_DIR).as_posix(), DRAFT202012.create_resource(json.loads(path.read_text()))) for path in files
    ]
    return Registry().with_resources(resources)


def validator(ref: str) -> Draft202012Validator:
    """Return a Draft 2020-12 validator (formats checked) of the schema at a published address."""
    return Draft202012Validator({"$ref": ref}, registry=hsds_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(doc: Any) -> list[str]:
    """Return why a service-list document breaks the HSDS schemas: the API's page, and each service in full."""
    page = validator(SERVICE_LIST_RESPONSE)
    service = validator(BASE + "service.json")
    errors = [f"document: {e.json_path}: {e.message}" for e in page.iter_errors(doc)]
    for index, item in enumerate(doc.get("contents", [])):
        errors += [f"contents[{index}]: {e.json_path}: {e.message}" for e in service.iter_errors(item)]
    return errors
