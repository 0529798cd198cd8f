"""deploy/: the Kubernetes manifests pass the Kubernetes API's own schemas, and they, compose.yaml and the Dockerfile agree with the code.

The schemas are those kubernetes-validate ships (strict: an unknown field is an error), for the oldest
Kubernetes the manifests claim (1.29) and the newest the package knows. The kustomization is rendered
by tests/kustomize.py, and by kubectl as well where it is installed.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml
from dockerfile import dockerfile
from kustomize import key, load_all, render

from routing.app import create_app
from routing.cli import app as cli
from routing.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[1]
DEPLOY = REPOSITORY / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
EXAMPLE = DEPLOY / "kubernetes" / "example"
VERSIONS = ["1.29", kubernetes_validate.latest_version()]
PORT = 8000


def refusals(obj: dict[str, Any], version: str) -> list[str]:
    """Return what the Kubernetes schema of `version` refuses in one object (nothing when it is valid)."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{key(obj)}: {'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


def setting_names() -> set[str]:
    """Return every environment variable routing/settings.py reads."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names |= set(map(str, alias.choices)) if alias is not None else {f"TSUNAGU_{name.upper()}"}  # type: ignore[union-attr]
    return names


def parses(command: list[str]) -> None:
    """Parse a `tsunagu SUBCOMMAND ...` command line as the CLI would (UsageError or BadParameter when it is wrong)."""
    assert command[0] == "tsunagu", command
    group = typer.main.get_command(cli)
    subcommand = group.get_command(typer.Context(group), command[1])  # type: ignore[attr-defined]  # a TyperGroup
    assert subcommand is not None, f"no subcommand {command[1]!r}"
    subcommand.make_context(command[1], list(command[2:]))


def option(command: list[str], name: str) -> str:
    """Return the value given to an option of a command line."""
    return command[command.index(name) + 1]


def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    return {key(obj): obj for obj in render(EXAMPLE)}


def pod_containers() -> list[tuple[str, dict[str, Any]]]:
    pods = {name: obj["spec"]["template"]["spec"] for (kind, name), obj in rendered().items() if kind in ("Deployment", "Job")}
    return [(name, container) for name, pod in pods.items() for container in pod["containers"]]


# --- against the schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_the_example_overlay_renders_to_valid_objects(version: str) -> None:
    objects = render(EXAMPLE)
    assert [r for obj in objects for r in refusals(obj, version)] == []
    assert {kind for kind, _ in map(key, objects)} >= {
        "ConfigMap",
        "Deployment",
        "Job",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    }


def test_every_base_file_is_valid_as_it_stands() -> None:
    files = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert sorted(files) == sorted(p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert [r for name in files for obj in load_all(BASE / name) for r in refusals(obj, VERSIONS[-1])] == []


def test_kubectl_renders_what_the_test_renders() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (no registry here serves it); tests/kustomize.py rendered the overlay")
    output = subprocess.run([kubectl, "kustomize", str(EXAMPLE)], capture_output=True, text=True, check=True, timeout=60).stdout
    theirs = [doc for doc in yaml.safe_load_all(output) if doc]
    assert sorted(theirs, key=key) == sorted(render(EXAMPLE), key=key)


def _web() -> dict[str, Any]:
    return copy.deepcopy(rendered()[("Deployment", "tsunagu-web")])


def _broken_type(obj: dict[str, Any]) -> None:
    obj["spec"]["replicas"] = "two"


def _unknown_field(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}


def _missing_field(obj: dict[str, Any]) -> None:
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]


def _unknown_kind(obj: dict[str, Any]) -> None:
    obj["apiVersion"] = "apps/v1beta9"


@pytest.mark.parametrize("breakage", [_broken_type, _unknown_field, _missing_field, _unknown_kind])
def test_a_broken_manifest_is_refused(breakage: Any) -> None:
    assert refusals(_web(), VERSIONS[-1]) == []
    broken = _web()
    breakage(broken)
    assert refusals(broken, VERSIONS[-1]) != []


def test_a_kustomization_feature_the_renderer_does_not_know_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {team: x}\n")
    with pytest.raises(ValueError, match="commonLabels"):
        render(tmp_path)


# --- against the code ------------------------------------------------------------------------------


def test_every_variable_set_is_a_setting() -> None:
    settings = setting_names()
    config = rendered()[("ConfigMap", "tsunagu-settings")]["data"]
    env = {e["name"] for _, c in pod_containers() for e in c.get("env", [])}
    secret_keys = {line.split("=", 1)[0] for line in (EXAMPLE / "secrets.env.example").read_text().splitlines() if line[:1].isalpha()}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose_env = {name for service in compose["services"].values() for name in service.get("environment", {}) if name.isupper()}
    compose_env -= {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    assert set(config) - settings == set()
    assert env - settings == set()
    assert secret_keys - settings == set()
    assert compose_env - settings == set()
    # Every secret a pod reads is in the example's list of tsunagu-secrets' keys, and nothing secret is in the ConfigMap.
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for _, c in pod_containers() for e in c.get("env", []) if "valueFrom" in e}
    assert refs == secret_keys
    assert set(config) & secret_keys == set()


def test_no_secret_value_is_in_a_manifest() -> None:
    kinds = {kind for kind, _ in rendered()}
    assert "Secret" not in kinds
    for _, container in pod_containers():
        assert all("value" not in e for e in container.get("env", [])), container["env"]


@pytest.mark.parametrize("role", ["web", "jobs"])
def test_the_probes_ask_paths_the_app_serves(role: str) -> None:
    paths = {getattr(route, "path", None) for route in create_app(Settings(role=role)).routes}
    deployment = rendered()[("Deployment", f"tsunagu-{role}")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    probes = [container[p]["httpGet"] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert {p["path"] for p in probes} == {"/healthz", "/readyz"} <= paths
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {p["port"] for p in probes} == {"http"}


def test_every_command_is_one_the_cli_takes() -> None:
    commands = [c["command"] for _, c in pod_containers()]
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"].values()
    commands += [s["command"] for s in services if "tsunagu" in s.get("command", [])]
    commands.append(dockerfile()["CMD"])
    for command in commands:
        parses(command)
    with pytest.raises(typer.BadParameter, match="worker"):
        parses(["tsunagu", "serve", "--role", "worker"])
    with pytest.raises(Exception, match="No such option"):  # typer's own click's UsageError
        parses(["tsunagu", "serve", "--rolle", "web"])


def test_the_roles_and_their_order() -> None:
    objects = rendered()
    web, jobs = objects[("Deployment", "tsunagu-web")], objects[("Deployment", "tsunagu-jobs")]
    migrate = objects[("Job", "tsunagu-migrate")]
    command = {name: c["command"] for name, c in pod_containers()}
    assert option(command["tsunagu-web"], "--role") == "web"
    assert option(command["tsunagu-jobs"], "--role") == "jobs" and jobs["spec"]["replicas"] == 1
    assert command["tsunagu-migrate"] == ["tsunagu", "migrate"]
    assert migrate["spec"]["backoffLimit"] >= 1 and migrate["spec"]["ttlSecondsAfterFinished"] > 0
    # The autoscaler owns the web's replica count, from two up.
    hpa = objects[("HorizontalPodAutoscaler", "tsunagu-web")]
    assert "replicas" not in web["spec"] and hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tsunagu-web"
    labels = web["spec"]["template"]["metadata"]["labels"]
    assert objects[("PodDisruptionBudget", "tsunagu-web")]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects[("Service", "tsunagu-web")]["spec"]["selector"].items() <= labels.items()


def test_ports_agree() -> None:
    for name, container in pod_containers():
        if "serve" in container["command"]:
            assert int(option(container["command"], "--port")) == PORT == container["ports"][0]["containerPort"], name
    ingress = rendered()[("NetworkPolicy", "tsunagu-web-from-ingress")]["spec"]["ingress"][0]["ports"]
    assert [p["port"] for p in ingress] == [PORT]
    assert int(option(dockerfile()["CMD"], "--port")) == PORT == int(dockerfile()["EXPOSE"])


def test_the_pods_write_only_where_volumes_are() -> None:
    config = rendered()[("ConfigMap", "tsunagu-settings")]["data"]
    user = re.fullmatch(r"(\d+):(\d+)", dockerfile()["USER"])
    assert user is not None, "the image's USER must be numeric for runAsNonRoot"
    for (kind, name), obj in rendered().items():
        if kind not in ("Deployment", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == int(user.group(1)), name
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] and not container["securityContext"]["allowPrivilegeEscalation"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts, name
        if kind == "Deployment":  # the service writes its metrics files under TSUNAGU_VAR_DIR, and reads the keyring beside it
            assert {config["TSUNAGU_VAR_DIR"], str(Path(config["TSUNAGU_KEYRING_FILE"]).parent)} <= mounts, name
            assert container["resources"]["requests"] and container["resources"]["limits"], name


# --- the image and compose -------------------------------------------------------------------------


def test_the_dockerfile_copies_what_the_repository_has() -> None:
    sources = dockerfile()["COPY"]
    assert sources and all((REPOSITORY / s).exists() for s in sources), sources
    assert "pyproject.toml" in sources


def test_compose_migrates_then_starts_jobs_then_web() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["migrate"]["command"] == ["tsunagu", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["jobs"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["web"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["web"]["depends_on"]["jobs"] == {"condition": "service_healthy"}
    assert option(services["jobs"]["command"], "--role") == "jobs" and option(services["web"]["command"], "--role") == "web"
    assert "noeviction" in services["redis"]["command"] and "--appendonly" in services["redis"]["command"]
    for name in ("migrate", "jobs", "web"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (DEPLOY / services[name]["build"]["context"] / services[name]["build"]["dockerfile"]).is_file()
