"""A kustomization rendered in Python, for the features deploy/kubernetes uses: resources, patches, images, namespace.

kubectl (with kustomize inside) is not a package any registry here serves, so CI cannot count on it;
tests/test_deploy.py renders with this and, where kubectl is installed, checks that kubectl renders the
same. A feature this does not know is refused, so a kustomization that grows one fails loudly here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "patches", "images", "namespace"}


def load_all(path: Path) -> list[dict[str, Any]]:
    """Return the YAML documents of a file, empty ones left out."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(folder: Path) -> list[dict[str, Any]]:
    """Return the objects the kustomization in `folder` builds."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(spec) - KNOWN
    if unknown:
        raise ValueError(f"{folder}/kustomization.yaml: tests/kustomize.py does not render {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        objects += render(path) if path.is_dir() else load_all(path)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{folder}: only patches given by path are rendered here, not {patch}")
        for doc in load_all(folder / patch["path"]):
            merge(_target(objects, doc, folder / patch["path"]), doc)
    for image in spec.get("images", []):
        for container in _containers(objects):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in spec:
        for obj in objects:
            obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge a strategic-merge patch into target: maps key by key, lists of named items by name, other lists replaced."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _named(value) and _named(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    current.append(item)
        else:
            target[key] = value


def key(obj: dict[str, Any]) -> tuple[str, str]:
    """Return an object's kind and name."""
    return obj["kind"], obj["metadata"]["name"]


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _target(objects: list[dict[str, Any]], patch: dict[str, Any], where: Path) -> dict[str, Any]:
    for obj in objects:
        if key(obj) == key(patch):
            return obj
    raise ValueError(f"{where}: patches {key(patch)}, which no resource defines")


def _containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for obj in objects if "template" in obj.get("spec", {}) for c in obj["spec"]["template"]["spec"]["containers"]]
