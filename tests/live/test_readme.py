"""The README's calls, run as written against a live server holding `sentiment` and an `nli` pair
pipeline: the curl calls in the KServe v2 JSON protocol, the client that calls the classifier directly,
and the load runs with perf_analyzer."""

import csv
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
    longest = max(len(reference.token_ids(text)) for text in ["I love this", "I hate mondays"])
    assert namespace["tensors"]["INPUT__0"].shape == (2, longest)  # padded to the call's longest text only


def _perf_block() -> tuple[list[str], str]:
    """The load-run section's commands: its `printf` and `make perf` lines, and the direct perf_analyzer call."""
    [commands] = [block for language, block in BLOCKS if language == "bash" and "make perf FILE=" in block]
    [direct] = [block for language, block in BLOCKS if language == "bash" and "bin/perf_analyzer" in block]
    return [line.split("  #")[0].strip() for line in commands.splitlines() if line.startswith(("printf", "make perf"))], direct


def test_make_perf_and_the_direct_perf_analyzer_call_run_as_written(server, tmp_path):
    """Each line against the test server, with one short window per concurrency: the CSV's rows, not their speed."""
    lines, direct = _perf_block()
    printf, make_perf = lines[0], lines[1]
    short = 'ARGS="--measurement-interval=1000 --stability-percentage=100"'
    subprocess.run(["bash", "-c", printf], cwd=tmp_path, check=True)
    make_perf = make_perf.replace("make perf", f"make -C {PROJECT} perf").replace("FILE=my-texts.txt", f"FILE={tmp_path}/my-texts.txt")
    subprocess.run(
        ["bash", "-c", f"{make_perf} URL={server.endpoints.grpc} OUTPUT={tmp_path}/perf-results CONCURRENCY=1,2 {short}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "perf-results" / "sentiment" / "perf_analyzer.csv").open()))
    assert [int(row["Concurrency"]) for row in rows] == [1, 2] and all(float(row["Inferences/Second"]) > 0 for row in rows)

    call = (
        direct.replace("perf-results/", f"{tmp_path}/perf-results/").replace(".venv/", f"{PROJECT}/.venv/")
        .replace("127.0.0.1:8001", server.endpoints.grpc).replace("4:64:4", "1:2 --measurement-interval=1000 --stability-percentage=100")
    )  # fmt: skip
    subprocess.run(["bash", "-c", call], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    rows = list(csv.DictReader((tmp_path / "sentiment.csv").open()))  # perf_analyzer orders them by throughput
    assert sorted(int(row["Concurrency"]) for row in rows) == [1, 2] and all(float(row["Inferences/Second"]) > 0 for row in rows)
