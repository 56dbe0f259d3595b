"""Zero-shot pipelines, converted with --zero-shot from tiny NLI checkpoints (BERT with token types, entailment
last; RoBERTa, entailment first) beside the default and the other kinds, served by one Triton: each answer
against Hugging Face's zero-shot-classification pipeline, requests of any label count batched together, and
bad candidate labels failing alone."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from benchmarks import server_stats
from clients import ClientError, Classifier, classify
from clients.classify import text_tensor
from conversion.repository import Repository
from harness.checkpoint_kinds import ZERO_SHOT_KINDS
from harness.model_code import postprocessing, tokenization
from harness.zero_shot_reference import ZeroShotReference
from tests.support import PROJECT
from tests.texts import LONG_TEXT, PARITY_TEXTS

ATOL = 1e-4
NAMES = [kind.name for kind in ZERO_SHOT_KINDS]
TEXTS = [text for text in PARITY_TEXTS if text]  # Hugging Face's pipeline refuses the empty text (tested apart)
LABEL_SETS = {
    1: ["positive"],
    2: ["positive", "negative"],
    5: ["travel", "food", "weather", "politics", "sports"],
    10: ["joy", "anger", "sadness", "fear", "surprise", "love", "disgust", "trust", "boredom", "a long label 😀"],
}


@pytest.fixture(scope="module")
def client(several_served):
    return grpcclient.InferenceServerClient(several_served.endpoints.grpc)


@pytest.fixture(scope="module")
def references(several_pipelines_repository) -> dict[str, ZeroShotReference]:
    return {name: ZeroShotReference.from_repository(several_pipelines_repository, name) for name in NAMES}


def infer(client, model: str, texts: list, labels: list[list], multi_label: list[bool] | None = None) -> dict[str, np.ndarray]:
    tensors = {"TEXT": text_tensor(texts), "LABELS": np.array([[text_tensor(row)[:, 0]] for row in labels], dtype=np.object_).reshape(len(labels), -1)}
    if multi_label is not None:
        tensors["MULTI_LABEL"] = np.array(multi_label, dtype=np.bool_).reshape(-1, 1)
    inputs = []
    for name, array in tensors.items():
        inputs.append(grpcclient.InferInput(name, list(array.shape), "BOOL" if array.dtype == np.bool_ else "BYTES"))
        inputs[-1].set_data_from_numpy(array)
    result = client.infer(model, inputs)
    return {name: result.as_numpy(name) for name in ("LABEL", "SCORE", "PROBS")}


def assert_answers(result: dict[str, np.ndarray], expected: np.ndarray, labels: list[str]) -> None:
    np.testing.assert_allclose(result["PROBS"], expected, atol=ATOL, rtol=0)
    assert [label.decode() for label in result["LABEL"][:, 0]] == [labels[index] for index in expected.argmax(axis=1)]
    np.testing.assert_allclose(result["SCORE"][:, 0], expected.max(axis=1), atol=ATOL, rtol=0)


@pytest.mark.parametrize("multi_label", [False, True], ids=["one-label", "multi-label"])
@pytest.mark.parametrize("candidates", sorted(LABEL_SETS))
@pytest.mark.parametrize("name", NAMES)
def test_answers_are_hugging_faces_zero_shot_pipeline(client, references, name, candidates, multi_label):
    labels = LABEL_SETS[candidates]
    result = infer(client, name, TEXTS, [labels] * len(TEXTS), [multi_label] * len(TEXTS))
    assert_answers(result, references[name].probs(TEXTS, labels, multi_label), labels)


@pytest.mark.parametrize("name", NAMES)
def test_without_multi_label_the_candidates_share_one_softmax_and_each_text_may_choose(client, references, name):
    labels = LABEL_SETS[5]
    default = infer(client, name, TEXTS[:4], [labels] * 4)
    mixed = infer(client, name, TEXTS[:4], [labels] * 4, [False, True, False, True])
    np.testing.assert_allclose(default["PROBS"].sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(mixed["PROBS"][[0, 2]], default["PROBS"][[0, 2]], atol=ATOL, rtol=0)
    np.testing.assert_allclose(mixed["PROBS"][[1, 3]], references[name].probs(TEXTS[1:4:2], labels, True), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_each_text_of_a_request_has_its_own_candidates(client, references, name):
    rows = [["sports", "food"], ["rain", "sun"], ["love", "hate"]]
    result = infer(client, name, TEXTS[3:6], rows)
    for row, (text, labels) in enumerate(zip(TEXTS[3:6], rows)):
        np.testing.assert_allclose(result["PROBS"][row], references[name].probs([text], labels)[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_text_is_scored_as_the_pairs_of_an_empty_text_and_each_hypothesis(client, references, name, several_pipelines_repository):
    zero_shot = Repository(several_pipelines_repository).pipeline(name).manifest().zero_shot
    labels = LABEL_SETS[5]
    logits = references[name].logits("", labels)
    pairs = tokenization.pair_tensors(text_tensor(labels).reshape(1, -1), None)
    expected = postprocessing.zero_shot(logits, *pairs, zero_shot["entailment"], zero_shot["contradiction"])[2]
    np.testing.assert_allclose(infer(client, name, [""], [labels])["PROBS"], expected, atol=ATOL, rtol=0)


def test_requests_of_different_label_counts_and_lengths_reach_the_classifier_in_shared_batches(several_served, client, references):
    """Twenty concurrent requests, K from 1 to 10 and texts of 1 to 3 of any length: each is answered as alone,
    and every (text, label) pair reached the classifier and the postprocess, in fewer batches than requests."""
    name = NAMES[0]
    requests = [(TEXTS[index % len(TEXTS) : index % len(TEXTS) + 1 + index % 3], LABEL_SETS[sorted(LABEL_SETS)[index % 4]]) for index in range(20)]
    steps = [f"{name}.classifier", f"{name}.postprocess"]
    before = server_stats.snapshot(several_served.endpoints.http)
    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(lambda request: infer(client, name, request[0], [request[1]] * len(request[0])), requests))
    after = server_stats.snapshot(several_served.endpoints.http)
    for (texts, labels), result in zip(requests, results):
        np.testing.assert_allclose(result["PROBS"], references[name].probs(texts, labels), atol=ATOL, rtol=0)
    for step in steps:
        inferences, executions = (int(after[step][key]) - int(before[step][key]) for key in ("inference_count", "execution_count"))
        assert inferences == sum(len(texts) * len(labels) for texts, labels in requests), step
        assert executions < len(requests), step


def http_infer(several_served, model: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(f"{several_served.endpoints.http}/v2/models/{model}/infer", data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


BAD_LABELS = {
    "no labels": (np.empty((1, 0), dtype=np.object_), "LABELS holds no candidate labels: send at least one per text"),
    "33 labels": (np.array([[f"label {index}".encode() for index in range(33)]], dtype=np.object_), "LABELS holds 33 candidate labels per text: at most 32"),
    "an empty label": (np.array([[b"sports", b""]], dtype=np.object_), "LABELS[0][1] is empty: every candidate label needs a name"),
    "a label that is not UTF-8": (np.array([[b"sports", b"caf\xe9"]], dtype=np.object_), "LABELS[0][1] is not valid UTF-8: unexpected end of data at byte 3"),
    "a label too long": (np.array([[" ".join(["word"] * 80).encode()]], dtype=np.object_), "LABELS[0][0] is too long: its hypothesis takes"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_bad_candidate_labels_fail_alone_and_the_next_request_is_answered(client, references, case):
    labels, message = BAD_LABELS[case]
    name = NAMES[1]
    inputs = [grpcclient.InferInput("TEXT", [1, 1], "BYTES"), grpcclient.InferInput("LABELS", list(labels.shape), "BYTES")]
    inputs[0].set_data_from_numpy(text_tensor(["I love this"]))
    inputs[1].set_data_from_numpy(labels)
    with ThreadPoolExecutor(2) as pool:
        bad = pool.submit(client.infer, name, inputs)
        good = pool.submit(infer, client, name, TEXTS[:3], [LABEL_SETS[2]] * 3)
        with pytest.raises(InferenceServerException) as refused:
            bad.result()
        assert_answers(good.result(), references[name].probs(TEXTS[:3], LABEL_SETS[2]), LABEL_SETS[2])
    assert message in refused.value.message() and "\n" not in refused.value.message()
    assert "INVALID_ARGUMENT" in str(refused.value.status())
    assert_answers(infer(client, name, [LONG_TEXT], [LABEL_SETS[5]]), references[name].probs([LONG_TEXT], LABEL_SETS[5]), LABEL_SETS[5])


def test_labels_sent_to_a_pipeline_that_is_not_zero_shot_are_refused_by_triton(several_served, client):
    body = {"inputs": [{"name": "TEXT", "shape": [1, 1], "datatype": "BYTES", "data": ["I love this"]},
                       {"name": "LABELS", "shape": [1, 1], "datatype": "BYTES", "data": ["sports"]}]}  # fmt: skip
    status, answer = http_infer(several_served, "sentiment", body)
    assert status == 400 and "expected 1 inputs but got 2 inputs for model 'sentiment'. Got input(s) ['LABELS','TEXT']" in answer
    status, answer = http_infer(several_served, "sentiment", {"inputs": body["inputs"][:1]})
    assert status == 200 and json.loads(answer)["outputs"]


def test_text_and_labels_of_different_batch_sizes_are_refused_by_triton(several_served, references):
    name = NAMES[0]
    body = {"inputs": [{"name": "TEXT", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]},
                       {"name": "LABELS", "shape": [1, 2], "datatype": "BYTES", "data": ["sports", "food"]}]}  # fmt: skip
    status, answer = http_infer(several_served, name, body)
    assert status == 400 and "batch size does not match other inputs" in answer
    body["inputs"][1] = {"name": "LABELS", "shape": [2, 2], "datatype": "BYTES", "data": ["sports", "food"] * 2}
    status, answer = http_infer(several_served, name, body)
    outputs = {output["name"]: output["data"] for output in json.loads(answer)["outputs"]}
    assert status == 200
    np.testing.assert_allclose(np.reshape(outputs["PROBS"], (2, 2)), references[name].probs(["a", "b"], ["sports", "food"]), atol=ATOL, rtol=0)


def test_the_client_takes_candidate_labels_and_multi_label(several_served, references):
    name, labels = NAMES[0], LABEL_SETS[5]
    predictions = classify(TEXTS[:3], url=several_served.endpoints.grpc, model=name, candidate_labels=labels, multi_label=True)
    np.testing.assert_allclose([prediction.probs for prediction in predictions], references[name].probs(TEXTS[:3], labels, True), atol=ATOL, rtol=0)
    assert all(prediction.candidate_labels == labels for prediction in predictions)
    with Classifier(several_served.endpoints.grpc, model=name) as classifier, pytest.raises(ClientError, match="is zero-shot: give the candidate labels"):
        classifier.classify(["a text"])
    with pytest.raises(ClientError, match="has its labels fixed at conversion"):
        classify(["a text"], url=several_served.endpoints.grpc, candidate_labels=labels)


def test_the_command_line_takes_labels(several_served, references):
    name, labels = NAMES[1], ["sports", "food", "travel"]
    result = subprocess.run(
        [sys.executable, "-m", "clients", "--url", several_served.endpoints.grpc, "--model", name, "--labels", ",".join(labels), "--json", *TEXTS[:2]],
        cwd=PROJECT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answers = json.loads(result.stdout)
    np.testing.assert_allclose([answer["probs"] for answer in answers], references[name].probs(TEXTS[:2], labels), atol=ATOL, rtol=0)
    assert [answer["candidate_labels"] for answer in answers] == [labels] * 2


def test_make_perf_loads_a_zero_shot_pipeline_with_the_labels_given(several_served, tmp_path):
    """Short windows: the CSV's rows and the classifier's pairs, not their speed."""
    name, labels = NAMES[0], ["sports", "food", "travel"]
    before = server_stats.snapshot(several_served.endpoints.http)
    subprocess.run(
        ["make", "-C", str(PROJECT), "perf", f"URL={several_served.endpoints.grpc}", f"MODEL={name}", f"LABELS={','.join(labels)}",
         f"OUTPUT={tmp_path}", "CONCURRENCY=2", 'ARGS=--measurement-interval=1000 --stability-percentage=100'],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    after = server_stats.snapshot(several_served.endpoints.http)
    data = json.loads((tmp_path / name / "input-data.json").read_text())
    assert data["data"][0]["LABELS"] == {"content": labels, "shape": [3]}
    requests = int(after[name]["inference_stats"]["success"]["count"]) - int(before[name]["inference_stats"]["success"]["count"])
    pairs = int(after[f"{name}.classifier"]["inference_count"]) - int(before[f"{name}.classifier"]["inference_count"])
    assert requests > 0 and pairs == 3 * requests
    failed = subprocess.run(["make", "-C", str(PROJECT), "perf", f"URL={several_served.endpoints.grpc}", f"MODEL={name}"], capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and f"pipeline '{name}' is zero-shot: give its candidate labels, LABELS=a,b,c" in failed.stderr
