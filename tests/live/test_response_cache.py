"""Triton's response cache, on for a server started with --response-cache-mb and off by default; a zero-shot
pipeline's answers keyed on the text, its labels and MULTI_LABEL together."""

import shutil

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

import clients
from clients.classify import text_tensor
from conversion.repository import Pipeline
from harness.eager import EagerClassifier
from harness.zero_shot_reference import ZeroShotReference
from server.config import ServingConfig

ATOL = 1e-4
TEXTS = ["the same text, again and again", "another one 🙂", ""]


@pytest.fixture(scope="module")
def cached(tiny_roberta_repository, start_triton):
    return start_triton(tiny_roberta_repository, response_cache_mb=8)


def classify(server, texts: list[str]) -> np.ndarray:
    client = grpcclient.InferenceServerClient(server.endpoints.grpc)
    tensor = grpcclient.InferInput("TEXT", [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(text_tensor(texts))
    return client.infer("sentiment", [tensor]).as_numpy("PROBS")


def cache_hits(server, model: str = "sentiment") -> int:
    client = grpcclient.InferenceServerClient(server.endpoints.grpc)
    [stats] = client.get_inference_statistics(model, as_json=True)["model_stats"]
    return int(stats["inference_stats"].get("cache_hit", {}).get("count", 0))


def test_no_cache_by_default():
    assert ServingConfig().response_cache_mb == 0


def test_a_repeated_request_is_answered_from_the_cache_with_the_same_answer(cached, tiny_roberta_repository):
    expected = EagerClassifier.from_repository(tiny_roberta_repository).probs(TEXTS)
    hits = cache_hits(cached)
    first = classify(cached, TEXTS)
    assert cache_hits(cached) == hits
    for _ in range(3):
        np.testing.assert_allclose(classify(cached, TEXTS), first, atol=0, rtol=0)
    assert cache_hits(cached) == hits + 3
    np.testing.assert_allclose(first, expected, atol=ATOL, rtol=0)


def test_the_key_is_every_text_of_the_request_in_order(cached, tiny_roberta_repository):
    expected = EagerClassifier.from_repository(tiny_roberta_repository).probs(TEXTS[::-1])
    classify(cached, TEXTS)
    hits = cache_hits(cached)
    np.testing.assert_allclose(classify(cached, TEXTS[::-1]), expected, atol=ATOL, rtol=0)
    np.testing.assert_allclose(classify(cached, TEXTS[:1]), expected[-1:], atol=ATOL, rtol=0)
    assert cache_hits(cached) == hits


def test_an_error_is_not_cached_and_the_next_request_is_answered(cached):
    client = grpcclient.InferenceServerClient(cached.endpoints.grpc)
    tensor = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"bad \xff"]], dtype=object))
    hits = cache_hits(cached)
    for _ in range(2):
        with pytest.raises(InferenceServerException, match="TEXT\\[0\\] is not valid UTF-8"):
            client.infer("sentiment", [tensor])
    assert cache_hits(cached) == hits
    assert classify(cached, ["ok"]).shape == (1, 3)


def test_a_server_without_the_option_runs_every_request(served):
    for _ in range(3):
        classify(served.server, TEXTS)
    assert cache_hits(served.server) == 0


@pytest.fixture(scope="module")
def cached_zero_shot(several_pipelines_repository, tmp_path_factory, start_triton):
    """The zero-shot pipeline `topics` alone, served with a response cache."""
    repository = tmp_path_factory.mktemp("cached-zero-shot")
    for model in Pipeline(several_pipelines_repository, "topics").models:
        shutil.copytree(several_pipelines_repository / model, repository / model)
    return start_triton(repository, response_cache_mb=8)


def zero_shot_probs(server, text: str, labels: list[str], multi_label: bool) -> np.ndarray:
    predictions = clients.classify([text], url=server.endpoints.grpc, model="topics", candidate_labels=labels, multi_label=multi_label)
    return np.array([prediction.probs for prediction in predictions])


def test_a_zero_shot_answer_is_cached_for_its_text_labels_and_multi_label_together(cached_zero_shot, several_pipelines_repository):
    """The same text against other labels, or with MULTI_LABEL changed, is another key: never another's answer."""
    reference = ZeroShotReference.from_repository(several_pipelines_repository, "topics")
    asked = [(["sports", "food"], False), (["food", "sports"], False), (["sports", "food"], True), (["sports", "food", "rain"], False)]
    hits = cache_hits(cached_zero_shot, "topics")
    for labels, multi_label in asked:
        np.testing.assert_allclose(zero_shot_probs(cached_zero_shot, TEXTS[0], labels, multi_label), reference.probs(TEXTS[:1], labels, multi_label), atol=ATOL, rtol=0)
    assert cache_hits(cached_zero_shot, "topics") == hits
    for labels, multi_label in asked:
        np.testing.assert_allclose(zero_shot_probs(cached_zero_shot, TEXTS[0], labels, multi_label), reference.probs(TEXTS[:1], labels, multi_label), atol=ATOL, rtol=0)
    assert cache_hits(cached_zero_shot, "topics") == hits + len(asked)
