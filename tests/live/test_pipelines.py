"""Several pipelines in one repository, served by one Triton: every kind of head and text pairs,
each ensemble against Hugging Face's own text-classification pipeline."""

import threading

import numpy as np
import pytest
import transformers
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from clients.classify import text_tensor
from conversion.repository import DEFAULT_PIPELINE, Pipeline, Repository
from harness.checkpoint_kinds import KINDS, ZERO_SHOT_KINDS
from harness.eager import EagerClassifier
from tests.texts import LONG_TEXT, PARITY_TEXTS

ATOL = 1e-4
PAIRS = [
    ("", ""),
    ("A man is eating pasta.", "Someone eats food."),
    ("A man is eating pasta.", ""),
    ("", "Nobody is eating."),
    ("Can't wait for the weekend 🎉🎉", "今日はとても良い天気ですね。"),
    ("ok", LONG_TEXT),
    (LONG_TEXT, "short"),
    (LONG_TEXT, LONG_TEXT),
    ("Worst customer service I have ever experienced. Never again 😡", "The service was excellent."),
]
KIND = {kind.name: kind for kind in KINDS}


@pytest.fixture(scope="module")
def client(several_served):
    return grpcclient.InferenceServerClient(several_served.endpoints.grpc)


def infer(client, model: str, texts, pairs=None) -> dict[str, np.ndarray]:
    tensors = {"TEXT": text_tensor(texts)} | ({"TEXT_PAIR": text_tensor(pairs)} if pairs is not None else {})
    inputs = []
    for name, array in tensors.items():
        inputs.append(grpcclient.InferInput(name, list(array.shape), "BYTES"))
        inputs[-1].set_data_from_numpy(array)
    result = client.infer(model, inputs)
    return {name: result.as_numpy(name) for name in ("LABEL", "SCORE", "PROBS")}


def hugging_face(checkpoint, repository, name: str, items: list) -> np.ndarray:
    """Every label's value in label order, from transformers.pipeline("text-classification", top_k=None)."""
    manifest = Pipeline(repository, name).manifest()
    classify = transformers.pipeline("text-classification", model=str(checkpoint), device=-1)
    inputs = [a if b is None else {"text": a, "text_pair": b} for a, b in items]
    answers = classify(inputs, top_k=None, truncation=True, max_length=manifest.max_length)
    return np.array([[next(entry["score"] for entry in answer if entry["label"] == label) for label in manifest.labels] for answer in answers])


def assert_answers(result: dict[str, np.ndarray], expected: np.ndarray, labels: list[str]) -> None:
    np.testing.assert_allclose(result["PROBS"], expected, atol=ATOL, rtol=0)
    assert [label.decode() for label in result["LABEL"][:, 0]] == [labels[index] for index in expected.argmax(axis=1)]
    np.testing.assert_allclose(result["SCORE"][:, 0], expected.max(axis=1), atol=ATOL, rtol=0)


def test_one_server_serves_every_pipeline_of_the_folder(several_served, several_pipelines_repository):
    several = several_served
    pipelines = Repository(several_pipelines_repository).pipelines()
    assert pipelines == sorted([DEFAULT_PIPELINE, *KIND, *(kind.name for kind in ZERO_SHOT_KINDS)])
    assert several.models == sorted(model for name in pipelines for model in Pipeline(several_pipelines_repository, name).models)
    assert several.unready_models() == []


@pytest.mark.parametrize("name", sorted(KIND))
def test_single_texts_match_hugging_faces_pipeline(client, several_pipelines_repository, kind_checkpoints, name):
    expected = hugging_face(kind_checkpoints[name], several_pipelines_repository, name, [(text, None) for text in PARITY_TEXTS])
    labels = Pipeline(several_pipelines_repository, name).labels()
    assert_answers(infer(client, name, PARITY_TEXTS), expected, labels)


@pytest.mark.parametrize("name", [kind.name for kind in KINDS if kind.pairs])
def test_pairs_match_hugging_faces_pipeline(client, several_pipelines_repository, kind_checkpoints, name):
    expected = hugging_face(kind_checkpoints[name], several_pipelines_repository, name, PAIRS)
    result = infer(client, name, [a for a, _ in PAIRS], [b for _, b in PAIRS])
    assert_answers(result, expected, Pipeline(several_pipelines_repository, name).labels())


def test_values_follow_the_head(client):
    """Softmax rows sum to one; sigmoid values lie in (0, 1) and need not sum to one; regression is unbounded."""
    softmax = infer(client, "nli", ["a", "b"], ["c", "d"])["PROBS"]
    np.testing.assert_allclose(softmax.sum(axis=1), 1, atol=1e-5)
    multi_label = infer(client, "toxicity", PARITY_TEXTS)["PROBS"]
    assert multi_label.shape == (len(PARITY_TEXTS), 4) and ((multi_label > 0) & (multi_label < 1)).all()
    assert np.abs(multi_label.sum(axis=1) - 1).max() > 0.1
    one_logit = infer(client, "rerank", ["query"], ["passage"])
    assert one_logit["PROBS"].shape == (1, 1) and one_logit["LABEL"][0, 0] == b"relevance"
    assert infer(client, "rating", PARITY_TEXTS)["PROBS"].shape == (len(PARITY_TEXTS), 1)


def test_the_default_pipeline_answers_as_alone(client, several_pipelines_repository):
    reference = EagerClassifier.from_repository(several_pipelines_repository)
    assert_answers(infer(client, DEFAULT_PIPELINE, PARITY_TEXTS), reference.probs(PARITY_TEXTS), reference.labels)


def test_pairs_of_any_lengths_batch_together_and_a_bad_pair_fails_alone(client, several_pipelines_repository):
    reference = EagerClassifier.from_repository(several_pipelines_repository, "nli")
    requests = [[pair] for pair in PAIRS] * 3 + [[(b"fine", b"\xc3\x28")]]
    results: list = [None] * len(requests)

    def send(index):
        texts, pairs = zip(*requests[index])
        try:
            results[index] = infer(client, "nli", list(texts), list(pairs))["PROBS"]
        except InferenceServerException as error:
            results[index] = error

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    error = results[-1]
    assert isinstance(error, InferenceServerException) and "INVALID_ARGUMENT" in str(error.status())
    assert "TEXT_PAIR[0] is not valid UTF-8" in error.message() and "Traceback" not in error.message()
    np.testing.assert_allclose(np.concatenate(results[:-1]), reference.probs(PAIRS * 3), atol=ATOL, rtol=0)
    assert client.is_model_ready("nli")


def test_a_pair_pipeline_called_without_pairs_classifies_single_texts(client, several_pipelines_repository):
    reference = EagerClassifier.from_repository(several_pipelines_repository, "nli")
    np.testing.assert_allclose(infer(client, "nli", PARITY_TEXTS)["PROBS"], reference.probs(PARITY_TEXTS), atol=ATOL, rtol=0)


def test_text_pair_is_refused_by_a_single_text_pipeline(client):
    with pytest.raises(InferenceServerException, match="expected 1 inputs but got 2 inputs for model 'toxicity'"):
        infer(client, "toxicity", ["a"], ["b"])


def test_the_classifier_takes_token_type_ids_as_its_third_input(client, several_pipelines_repository):
    """A client that tokenizes by itself calls NAME.classifier with ids, mask and token types, padded as it likes."""
    reference = EagerClassifier.from_repository(several_pipelines_repository, "nli")
    encoded = [reference.encoded(pair) for pair in PAIRS]
    width = max(len(row["input_ids"]) for row in encoded)
    arrays = {name: np.zeros((len(encoded), width), dtype=np.int64) for name in ("INPUT__0", "INPUT__1", "INPUT__2")}
    for row, encoding in enumerate(encoded):
        length = len(encoding["input_ids"])
        arrays["INPUT__0"][row, :length] = encoding["input_ids"]
        arrays["INPUT__1"][row, :length] = 1
        arrays["INPUT__2"][row, :length] = encoding["token_type_ids"]
    inputs = []
    for name, array in arrays.items():
        inputs.append(grpcclient.InferInput(name, list(array.shape), "INT64"))
        inputs[-1].set_data_from_numpy(array)
    logits = client.infer("nli.classifier", inputs).as_numpy("OUTPUT__0")
    np.testing.assert_allclose(logits, reference.logits(PAIRS), atol=ATOL, rtol=0)
