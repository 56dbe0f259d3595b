"""What the launched server lets in: admin APIs only with the operator's key, model control only for the
launcher's drain unless the operator opens it, loopback only.

Remote code in conversion: tests/unit/test_conversion.py::test_remote_code_runs_only_with_the_flag.
"""

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from clients.classify import classify
from harness.eager import EagerClassifier
from server.procfs import python_stubs
from tests.support import ADMIN_KEY, Launcher


# One call per restricted API, each a read that changes nothing.
RESTRICTED_HTTP = {
    "logging": ("GET", "/v2/logging"),
    "trace": ("GET", "/v2/trace/setting"),
    "shared-memory": ("GET", "/v2/systemsharedmemory/status"),
}
RESTRICTED_GRPC = {
    "logging": lambda client, headers: client.get_log_settings(headers=headers),
    "trace": lambda client, headers: client.get_trace_settings(headers=headers),
    "shared-memory": lambda client, headers: client.get_system_shared_memory_status(headers=headers),
}
OPEN_HTTP = [
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2"),
    ("GET", "/v2/models/sentiment"),
    ("GET", "/v2/models/sentiment/ready"),
    ("GET", "/v2/models/sentiment/config"),
    ("GET", "/v2/models/stats"),
]


def http(served, method: str, path: str, headers: dict | None = None, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        served.server.endpoints.http + path,
        method=method,
        headers=headers or {},
        data=body if body is not None else (b"{}" if method == "POST" else None),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize("api", RESTRICTED_HTTP)
def test_restricted_http_apis_need_the_admin_key(served, api):
    method, path = RESTRICTED_HTTP[api]
    status, body = http(served, method, path)
    assert (status, json.loads(body)) == (403, {"error": "This API is restricted, expecting header 'admin-key'"})
    assert http(served, method, path, headers={"admin-key": "a-guess"})[0] == 403
    status, body = http(served, method, path, headers={"admin-key": ADMIN_KEY})
    assert status == 200, body


@pytest.mark.parametrize("api", RESTRICTED_GRPC)
def test_restricted_grpc_apis_need_the_admin_key(served, api):
    client = grpcclient.InferenceServerClient(served.server.endpoints.grpc)
    call = RESTRICTED_GRPC[api]
    for headers in (None, {"triton-grpc-protocol-admin-key": "a-guess"}, {"admin-key": ADMIN_KEY}):
        with pytest.raises(InferenceServerException, match="This protocol is restricted, expecting header"):
            call(client, headers)
    call(client, {"triton-grpc-protocol-admin-key": ADMIN_KEY})


def test_inference_health_metadata_statistics_and_metrics_stay_open(served):
    for method, path in OPEN_HTTP:
        status, body = http(served, method, path)
        assert status == 200, (path, body)
    infer = {"inputs": [{"name": "TEXT", "shape": [1, 1], "datatype": "BYTES", "data": ["open to all"]}]}
    assert http(served, "POST", "/v2/models/sentiment/infer", body=json.dumps(infer).encode())[0] == 200
    with urllib.request.urlopen(served.server.endpoints.metrics, timeout=30) as response:
        assert "nv_inference_request_success" in response.read().decode()

    client = grpcclient.InferenceServerClient(served.server.endpoints.grpc)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_model_metadata("sentiment").name == "sentiment"
    assert client.get_inference_statistics("sentiment").model_stats[0].name == "sentiment"


def test_models_cannot_be_listed_loaded_or_unloaded_even_with_the_admin_key(served):
    """The model-repository API answers only the launcher's own key, which it uses to drain."""
    for headers in ({}, {"admin-key": ADMIN_KEY}, {"repository-key": ADMIN_KEY}):
        for action in ("models/tokenizer/load", "models/tokenizer/unload", "index"):
            status, body = http(served, "POST", f"/v2/repository/{action}", headers=headers)
            assert (status, json.loads(body)) == (403, {"error": "This API is restricted, expecting header 'repository-key'"})
    client = grpcclient.InferenceServerClient(served.server.endpoints.grpc)
    for key in ("triton-grpc-protocol-admin-key", "triton-grpc-protocol-repository-key"):
        with pytest.raises(InferenceServerException, match="This protocol is restricted, expecting header"):
            client.unload_model("sentiment.tokenizer", headers={key: ADMIN_KEY})
    assert all(client.is_model_ready(model) for model in served.server.models)


def test_open_model_control_lets_any_client_load_a_config_variant_without_a_restart(tiny_roberta_repository, tmp_path):
    """--open-model-control, for Model Analyzer's remote mode: a client without a key loads a model anew
    with a config override; its stubs are replaced, and the launcher does not take that for a crash."""
    with Launcher(tiny_roberta_repository, tmp_path, "--open-model-control") as launcher:
        assert "load/unload: open to every client (--open-model-control)" in launcher.output()
        client = grpcclient.InferenceServerClient(launcher.endpoints.grpc)
        server_pid, stubs_before = launcher.server_pid(), python_stubs(launcher.server_pid())
        config = client.get_model_config("sentiment.tokenizer", as_json=True)["config"]
        # A batching change reloads every instance (an instance count alone may keep the old ones).
        config |= {"instance_group": [{"count": 2, "kind": "KIND_CPU"}], "dynamic_batching": {"max_queue_delay_microseconds": 100}}
        client.load_model("sentiment.tokenizer", config=json.dumps(config))

        time.sleep(4)  # the supervisor checks every second
        stubs_after = python_stubs(server_pid)
        assert launcher.server_pid() == server_pid and "restarting" not in launcher.output(), launcher.output()
        assert {"sentiment.tokenizer_0_0", "sentiment.tokenizer_0_1"} <= set(stubs_after)
        assert stubs_after["sentiment.tokenizer_0_0"] != stubs_before["sentiment.tokenizer_0_0"]
        [prediction] = classify(["I love this"], url=launcher.endpoints.grpc)  # the pipeline answers as before
        reference = EagerClassifier.from_repository(tiny_roberta_repository)
        np.testing.assert_allclose(prediction.probs, reference.probs(["I love this"])[0], atol=1e-4, rtol=0)
