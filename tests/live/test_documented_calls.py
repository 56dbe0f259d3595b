"""The documentation's calls, run as written against a live server holding the default `sentiment` beside an
`nli` pair pipeline and the other kinds: the quick start's answers as the README shows them, every curl call,
the Python examples (the client, the classifier called directly, the conversion library), and the load runs
with perf_analyzer."""

import csv
import json
import math
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from harness import random_checkpoint, tiny_roberta
from harness.eager import EagerClassifier
from harness.zero_shot_reference import ZeroShotReference
from tests.documents import PROJECT, README, blocks

API = PROJECT / "docs" / "api.md"
CURL_CALLS = [
    line for block in blocks(language="bash") for line in block.code.splitlines() if line.startswith("curl ") and "/infer" in line
]
SHOWN = [block for block in blocks(README, API) if block.shown is not None]
ATOL = 1e-4
SHOWN_ATOL = 2e-3  # the answers shown are one machine's: another CPU's last digits may differ


@pytest.fixture(scope="module")
def server(several_served):
    return several_served


def outputs(answer: dict) -> dict[str, np.ndarray]:
    return {output["name"]: np.array(output["data"]).reshape(output["shape"]) for output in answer["outputs"]}


def on_server(code: str, server) -> str:
    """The code with the documented addresses replaced by the test server's."""
    code = code.replace("localhost:8000", server.endpoints.http.removeprefix("http://"))
    code = code.replace("127.0.0.1:8001", server.endpoints.grpc)
    return re.sub(r"-m clients(?! --url)", f"-m clients --url {server.endpoints.grpc}", code)


def run(block, server) -> str:
    code = on_server(block.code, server)
    command = [sys.executable, "-c", code] if block.language == "python" else ["bash", "-c", code]
    result = subprocess.run(command, cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{block.where}: {result.stderr}"
    return result.stdout


def same_answer(printed, shown) -> bool:
    """Equal, except that numbers may differ by SHOWN_ATOL; JSON objects compared by content, outputs by name."""
    if isinstance(printed, str) and isinstance(shown, str):
        try:
            printed, shown = json.loads(printed), json.loads(shown)
        except json.JSONDecodeError:
            number = r"(-?\d+\.\d+)"
            printed_parts, shown_parts = re.split(number, printed.strip()), re.split(number, shown.strip())
            return len(printed_parts) == len(shown_parts) and all(
                math.isclose(float(a), float(b), abs_tol=SHOWN_ATOL) if index % 2 else a == b
                for index, (a, b) in enumerate(zip(printed_parts, shown_parts))
            )
    if isinstance(printed, dict) and isinstance(shown, dict):
        if "outputs" in shown:
            printed, shown = outputs(printed), outputs(shown)
            return printed.keys() == shown.keys() and all(same_answer(printed[name].tolist(), shown[name].tolist()) for name in shown)
        return printed.keys() == shown.keys() and all(same_answer(printed[key], shown[key]) for key in shown)
    if isinstance(printed, list) and isinstance(shown, list):
        return len(printed) == len(shown) and all(same_answer(a, b) for a, b in zip(printed, shown))
    if isinstance(shown, float):
        return math.isclose(printed, shown, abs_tol=SHOWN_ATOL)
    return printed == shown


def test_the_answers_shown_are_those_of_the_command_line_curl_and_python():
    assert {block.language for block in SHOWN} == {"bash", "python"} and len(SHOWN) >= 4


@pytest.mark.parametrize("block", SHOWN, ids=lambda block: block.where)
def test_each_call_prints_the_answer_the_documentation_shows(block, server):
    printed = run(block, server)
    assert same_answer(printed, block.shown), f"{block.where} printed:\n{printed}\nthe documentation shows:\n{block.shown}"


def test_the_answer_check_tells_a_different_label_or_score_from_the_same_one():
    assert same_answer("positive   0.9821  I love this\n", "positive   0.982  I love this")
    assert not same_answer("negative   0.982  I love this\n", "positive   0.982  I love this")
    assert not same_answer("positive   0.901  I love this\n", "positive   0.982  I love this")


CLIENT_LINES = [line for block in blocks(API, language="bash") for line in block.code.splitlines() if "-m clients" in line]


@pytest.mark.parametrize("line", CLIENT_LINES, ids=lambda line: line.split("#")[0].split("clients", 1)[1].strip()[:40])
def test_each_command_line_call_of_the_api_answers_every_text(line, server, several_pipelines_repository, tmp_path):
    texts = ["I love this", "I hate mondays"]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    command = on_server(line.split("  #")[0], server).replace("--file texts.txt", f"--file {tmp_path}/texts.txt")
    result = subprocess.run(["bash", "-c", command], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    model = re.search(r"--model (\S+)", line)[1] if "--model" in line else "sentiment"
    candidates = re.search(r"--labels (\S+)", line)
    labels = candidates[1].split(",") if candidates else EagerClassifier.from_repository(several_pipelines_repository, model).labels
    if "--json" in line:
        answers = json.loads(result.stdout)
        assert [answer["text"] for answer in answers] == (texts if "--file" in line else [shlex.split(line)[-1]])
        assert all(answer["label"] in labels for answer in answers)
    else:
        assert result.stdout and all(answer.split()[0] in labels for answer in result.stdout.splitlines())


def sent(call: str, name: str) -> list:
    body = json.loads(call.split("-d '", 1)[1].rstrip("'"))
    return next(tensor["data"] for tensor in body["inputs"] if tensor["name"] == name)


def model_of(call: str) -> str:
    return re.search(r"/v2/models/([^/]+)/infer", call)[1]


def test_the_documentation_shows_a_curl_call_for_single_texts_pairs_and_the_classifier():
    assert {"sentiment", "nli", "nli.classifier", "topics"} <= {model_of(call) for call in CURL_CALLS}


@pytest.mark.parametrize("call", CURL_CALLS, ids=model_of)
def test_each_curl_call_answers_as_the_eager_model(call, server, several_pipelines_repository):
    model = model_of(call)
    command = on_server(call, server)
    answer = outputs(json.loads(subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True).stdout))
    if "LABELS" in call:  # a zero-shot pipeline: against Hugging Face's zero-shot pipeline
        texts, labels = sent(call, "TEXT"), sent(call, "LABELS")
        expected = ZeroShotReference.from_repository(several_pipelines_repository, model).probs(texts, labels)
        np.testing.assert_allclose(answer["PROBS"], expected, atol=ATOL, rtol=0)
        assert answer["LABEL"][:, 0].tolist() == [labels[index] for index in expected.argmax(axis=1)]
        return
    reference = EagerClassifier.from_repository(several_pipelines_repository, model.split(".")[0])
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


def execute(code: str, server, several_pipelines_repository) -> dict:
    code = on_server(code, server).replace("model_repository/", f"{several_pipelines_repository}/")
    namespace: dict = {}
    exec(compile(code, "docs", "exec"), namespace)  # noqa: S102 - the documentation's own example, run as users run it
    return namespace


def test_the_pair_example_sends_each_text_with_its_pair(server, several_pipelines_repository):
    [block] = [block for block in blocks(API, language="python") if 'model="nli"' in block.code]
    predictions = execute(block.code, server, several_pipelines_repository)["predictions"]
    pairs = [("A man is eating pasta.", "Someone eats food."), ("A man is eating pasta.", "Nobody eats.")]
    assert [(prediction.text, prediction.pair) for prediction in predictions] == pairs
    expected = EagerClassifier.from_repository(several_pipelines_repository, "nli").probs(pairs)
    np.testing.assert_allclose([prediction.probs for prediction in predictions], expected, atol=ATOL, rtol=0)


def test_the_zero_shot_example_scores_each_text_against_the_labels_it_names(server, several_pipelines_repository):
    [block] = [block for block in blocks(API, language="python") if "candidate_labels=" in block.code]
    predictions = execute(block.code, server, several_pipelines_repository)["predictions"]
    texts, labels = ["The match ended in a draw", "Parliament votes today"], ["sports", "politics", "cooking"]
    assert [(prediction.text, prediction.candidate_labels) for prediction in predictions] == [(text, labels) for text in texts]
    expected = ZeroShotReference.from_repository(several_pipelines_repository, "topics").probs(texts, labels)
    np.testing.assert_allclose([prediction.probs for prediction in predictions], expected, atol=ATOL, rtol=0)


def test_the_python_client_that_calls_the_classifier_directly(server, several_pipelines_repository):
    [block] = [block for block in blocks(API, language="python") if '"sentiment.classifier"' in block.code]
    namespace = execute(block.code, server, several_pipelines_repository)
    reference = EagerClassifier.from_repository(several_pipelines_repository)
    np.testing.assert_allclose(namespace["logits"], reference.logits(["I love this", "I hate mondays"]), atol=ATOL, rtol=0)
    longest = max(len(reference.token_ids(text)) for text in ["I love this", "I hate mondays"])
    assert namespace["tensors"]["INPUT__0"].shape == (2, longest)  # padded to the call's longest text only


def test_the_conversion_library_example_converts_a_checkpoint_as_it_says(tmp_path, monkeypatch):
    [block] = [block for block in blocks(PROJECT / "docs" / "conversion.md", language="python")]
    corpus = tiny_roberta.CORPUS.read_text(encoding="utf-8").splitlines()
    random_checkpoint.build(tmp_path / "my-checkpoint", corpus, random_checkpoint.TINY, ["negative", "positive"])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.code.replace("name=\"reviews\"", "name=\"reviews\", token_budget=256"), block.where, "exec"), namespace)  # noqa: S102
    assert namespace["manifest"].labels == ["negative", "positive"] and namespace["manifest"].function == "softmax"
    assert namespace["Repository"](tmp_path / "model_repository").pipelines() == ["reviews"]


def _perf_blocks() -> tuple[list[str], str]:
    """The load-testing page's commands: its `printf` and `make perf` lines, and the direct perf_analyzer call."""
    load_testing = PROJECT / "docs" / "load-testing.md"
    [commands] = [block for block in blocks(load_testing, language="bash") if "make perf FILE=" in block.code]
    [direct] = [block for block in blocks(load_testing, language="bash") if "bin/perf_analyzer" in block.code]
    return [line.split("  #")[0].strip() for line in commands.code.splitlines() if line.startswith(("printf", "make perf"))], direct.code


def test_make_perf_and_the_direct_perf_analyzer_call_run_as_written(server, tmp_path):
    """Each line against the test server, with one short window per concurrency: the CSV's rows, not their speed."""
    lines, direct = _perf_blocks()
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
