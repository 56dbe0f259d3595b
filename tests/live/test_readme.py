"""The README's calls, run as written against a live server holding `sentiment` and an `nli` pair
pipeline: the curl calls in the KServe v2 JSON protocol, and the client that calls the classifier directly."""

import json
import re
import subprocess

import numpy as np
import pytest

from harness.eager import EagerClassifier
from tests.support import PROJECT

README = (PROJECT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.DOTALL)
CURL_CALLS = [line for language, block in BLOCKS if language == "bash" for line in block.splitlines() if line.startswith("curl ")]
ATOL = 1e-4


@pytest.fixture(scope="module")
def server(several_served):
    return several_served


def outputs(answer: dict) -> dict[str, np.ndarray]:
    return {output["name"]: np.array(output["data"]).reshape(output["shape"]) for output in answer["outputs"]}


def run_curl(call: str, server) -> dict:
    command = call.replace("localhost:8000", server.endpoints.http.removeprefix("http://"))
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def sent(call: str, name: str) -> list:
    body = json.loads(call.split("-d '", 1)[1].rstrip("'"))
    return next(tensor["data"] for tensor in body["inputs"] if tensor["name"] == name)


def test_the_readme_shows_a_curl_call_for_single_texts_pairs_and_the_classifier():
    models = [re.search(r"/v2/models/([^/]+)/infer", call)[1] for call in CURL_CALLS]
    assert {"sentiment", "nli", "nli.classifier"} <= set(models), models


@pytest.mark.parametrize("call", CURL_CALLS, ids=lambda call: re.search(r"/v2/models/([^/]+)/infer", call)[1])
def test_each_curl_call_answers_as_the_eager_model(call, server, several_pipelines_repository):
    model = re.search(r"/v2/models/([^/]+)/infer", call)[1]
    pipeline = model.split(".")[0]
    reference = EagerClassifier.from_repository(several_pipelines_repository, pipeline)
    answer = outputs(run_curl(call, server))
    if model.endswith(".classifier"):
        ids = np.array(sent(call, "INPUT__0"))
        assert ids.tolist()[: ids.tolist().index(0)] == reference.token_ids(("a man eats", "someone eats"))
        np.testing.assert_allclose(answer["OUTPUT__0"], reference.logits([("a man eats", "someone eats")]), atol=ATOL, rtol=0)
        return
    texts = sent(call, "TEXT")
    items = list(zip(texts, sent(call, "TEXT_PAIR"))) if "TEXT_PAIR" in call else texts
    expected = reference.probs(items)
    np.testing.assert_allclose(answer["PROBS"], expected, atol=ATOL, rtol=0)
    assert answer["LABEL"][:, 0].tolist() == [reference.labels[index] for index in expected.argmax(axis=1)]


def test_the_python_client_that_calls_the_classifier_directly(server, several_pipelines_repository):
    [code] = [block for language, block in BLOCKS if language == "python" and '"sentiment.classifier"' in block]
    code = code.replace("127.0.0.1:8001", server.endpoints.grpc).replace("model_repository/", f"{several_pipelines_repository}/")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example, run as users run it
    reference = EagerClassifier.from_repository(several_pipelines_repository)
    np.testing.assert_allclose(namespace["logits"], reference.logits(["I love this", "I hate mondays"]), atol=ATOL, rtol=0)
    assert namespace["tensors"]["INPUT__0"].shape == (2, reference.max_length)  # padded to the maximum length
