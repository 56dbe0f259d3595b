"""The Kubernetes manifests (deploy/k8s/) and their CPU overlay (deploy/k8s-cpu/): parsed, merged as
kustomize would, and built with kubectl kustomize where it is installed."""

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conversion.repository import DEFAULT_PIPELINE, Pipeline
from server.config import ServingConfig
from server.threads import LIMIT_VARIABLE
from store import Location, version_manifest
from tests.deployment.files import (
    HEALTH_COMMAND, K8S, K8S_CPU, PIPELINE_NAMES, PORTS, adapter_rules, dockerfile, instructions, manifests,
    release,
)


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
    assert version_manifest.VERSION.match(version.name), f"{literal} does not name a published version"
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




def test_the_grace_period_allows_the_drain_and_tritons_exit_timeout_the_pod_is_configured_with():
    plain = {name: variable["value"] for name, variable in environment(triton_container()).items() if "value" in variable}
    config = ServingConfig.from_environment(plain)
    assert pod_spec()["terminationGracePeriodSeconds"] == config.termination_grace_period
