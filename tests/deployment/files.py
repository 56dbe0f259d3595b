"""The deployment files (docker/, deploy/k8s/, deploy/k8s-cpu/) parsed for the static checks beside this file:
no Docker engine, GPU or cluster needed. Each test_*.py here checks one kind: images, compose, Kubernetes,
the image's entry."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from conversion.repository import DEFAULT_PIPELINE
from server.config import Endpoints

PROJECT = Path(__file__).resolve().parents[2]
DOCKER = PROJECT / "docker"
K8S = PROJECT / "deploy" / "k8s"
# The CPU variant, an overlay of K8S: beside it, since kustomize refuses a base that contains its overlay.
K8S_CPU = PROJECT / "deploy" / "k8s-cpu"
REPOSITORY = PROJECT / "model_repository"
MODELS = {config.parent.name for config in REPOSITORY.glob("*/config.pbtxt")}
# Names a repository of several pipelines may hold: what label matchers on models must cover.
PIPELINE_NAMES = (DEFAULT_PIPELINE, "nli", "rerank", "toxicity_v2", "star-rating")
PORTS = Endpoints()  # the launcher's defaults: HTTP 8000, gRPC 8001, metrics 8002
HEALTH_COMMAND = ["python3", "-m", "server.health"]  # every ensemble served ready (server/health.py)
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
ADAPTER_VALUES = K8S / "prometheus-adapter-values.yaml"  # Helm values, not a manifest
MANIFESTS = sorted(path for path in K8S.glob("*.yaml") if path != ADAPTER_VALUES)
YY_MM = re.compile(r"(?<![\w.])2\d\.(?:0[1-9]|1[0-2])(?![\w.])")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[A-Za-z0-9.+!-]+)$")


def release() -> str:
    values = dict(
        line.split("=", 1)
        for line in (DOCKER / "release.env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert set(values) == {"TRITON_RELEASE"}, f"release.env must hold TRITON_RELEASE only, not {sorted(values)}"
    return values["TRITON_RELEASE"].strip()


def dockerfile(name: str) -> str:
    return (DOCKER / f"{name}.Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip():
            keyword, _, rest = current.strip().partition(" ")
            logical.append((keyword.upper(), rest.strip()))
        current = ""
    return logical


def pip_installs(text: str) -> list[str]:
    """Every package argument of every `pip install` in a Dockerfile's RUN instructions."""
    packages = []
    for keyword, rest in instructions(text):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            words = command.split()
            if "pip" not in " ".join(words[:4]) or "install" not in words:
                continue
            arguments = iter(words[words.index("install") + 1 :])
            for word in arguments:
                if word in ("-c", "--constraint", "-r", "--requirement"):
                    next(arguments)
                elif not word.startswith("-"):
                    packages.append(word.strip("\"'"))
    return packages


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_name(argument: str) -> str:
    return normalize(re.match(r"[A-Za-z0-9._-]+", argument)[0])


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (PROJECT / "requirements.txt").read_text().splitlines():
        match = PIN.match(line.split("#")[0].strip())
        if match:
            pins[normalize(match["name"])] = match["version"]
    return pins


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


RESET = object()  # compose's !reset: the attribute is dropped from the merged model


class ComposeLoader(yaml.SafeLoader):
    """YAML as Docker Compose reads it, with its !reset tag (whatever value follows it is ignored)."""


ComposeLoader.add_constructor("!reset", lambda loader, node: RESET)


def compose_merged(*names: str) -> dict:
    """docker/compose.yaml with the override files `names` merged over it, by the compose specification's
    rules for mappings: entries added or replaced, !reset ones removed. Sequences merge by rules of their
    own (appended, or by a key), which this does not model: an override with one fails the check."""

    def merge(base, override, where: str):
        if override is RESET:
            return RESET
        if isinstance(override, list):
            pytest.fail(f"{where}: a sequence in an override file; compose_merged does not merge sequences")
        if not (isinstance(base, dict) and isinstance(override, dict)):
            return copy.deepcopy(override)
        merged = copy.deepcopy(base)
        for key, value in override.items():
            value = merge(merged.get(key), value, f"{where}.{key}")
            if value is RESET:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    model = compose()
    for name in names:
        model = merge(model, yaml.load((DOCKER / name).read_text(), Loader=ComposeLoader), name)
    return model


def host_path(source: str) -> Path:
    return (DOCKER / source).resolve()


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """Container path → (host source, read-only) for a compose service's short-syntax volumes."""
    result = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        result[target] = (source, mode == ["ro"])
    return result


def manifests() -> dict[str, dict]:
    """kind → the (single) object of that kind under deploy/k8s/."""
    objects = {}
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            assert document and "kind" in document, f"{path.name}: a document without kind"
            if "apiVersion" not in document and document["kind"] != "Kustomization":
                pytest.fail(f"{path.name}: {document['kind']} without apiVersion")
            assert document["kind"] not in objects, f"two {document['kind']} objects"
            objects[document["kind"]] = document
    return objects


def adapter_rules() -> list[dict]:
    return yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
