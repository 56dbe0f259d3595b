"""Unit tests of the postprocess model's logic, without Triton."""

import json

import numpy as np
import pytest

from harness.model_code import postprocessing

LABELS = ["negative", "neutral", "positive"]


def test_postprocess_picks_the_argmax_label_and_its_probability():
    logits = np.array([[0.0, 1.0, 3.0], [2.0, 0.0, -1.0]], dtype=np.float32)
    label, score, probs = postprocessing.postprocess(logits, LABELS)
    assert label.tolist() == [[b"positive"], [b"negative"]]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    np.testing.assert_allclose(score[:, 0], expected.max(axis=1), rtol=1e-6)
    assert label.shape == score.shape == (2, 1) and probs.dtype == score.dtype == np.float32


def test_softmax_is_stable_for_large_logits():
    probs = postprocessing.softmax(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(probs, [[1.0, 0.0, 0.0]])
    assert np.isfinite(probs).all()


def test_non_ascii_label_names_are_utf8():
    label, _, _ = postprocessing.postprocess(np.array([[0.0, 1.0]], dtype=np.float32), ["négatif", "positif 😀"])
    assert label[0, 0].decode("utf-8") == "positif 😀"


@pytest.mark.parametrize(
    "logits, message",
    [
        (np.zeros((1, 2), dtype=np.float32), r"expected logits of shape \[n, 3\].*got \[1, 2\]"),
        (np.array([[0.0, np.nan, 1.0]], dtype=np.float32), "NaN or infinity"),
    ],
)
def test_postprocess_rejects_logits_that_do_not_fit(logits, message):
    with pytest.raises(postprocessing.InvalidLogits, match=message):
        postprocessing.postprocess(logits, LABELS)


@pytest.mark.parametrize("function", postprocessing.FUNCTIONS)
def test_many_requests_at_once_answer_each_as_alone_and_a_bad_one_fails_alone(function):
    rng = np.random.default_rng(0)
    requests = [
        rng.normal(size=(1, 3)).astype(np.float32),
        np.zeros((1, 2), dtype=np.float32),  # the wrong number of logits
        rng.normal(size=(4, 3)).astype(np.float32),
        np.array([[0.0, np.inf, 1.0], [0.0, 1.0, 2.0]], dtype=np.float32),  # a row that is not finite
        rng.normal(size=(2, 3)).astype(np.float32),
    ]
    results = postprocessing.postprocess_requests(requests, LABELS, function)
    assert [type(result).__name__ for result in results] == ["tuple", "InvalidLogits", "tuple", "InvalidLogits", "tuple"]
    assert "got [1, 2]" in str(results[1]) and "NaN or infinity" in str(results[3])
    for logits, result in zip(requests, results):
        if isinstance(result, tuple):
            for batched, alone in zip(result, postprocessing.postprocess(logits, LABELS, function)):
                np.testing.assert_array_equal(batched, alone)
    assert postprocessing.postprocess_requests([np.zeros((1, 1), dtype=np.float32)], LABELS)[0].args


def test_load_labels(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(LABELS))
    assert postprocessing.load_labels(path) == LABELS


def test_load_labels_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.json is missing"):
        postprocessing.load_labels(tmp_path / "labels.json")


@pytest.mark.parametrize("content", ['{"a": 1}', "[]", "[1, 2]"])
def test_load_labels_rejects_malformed_files(tmp_path, content):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="must hold a JSON list of label names"):
        postprocessing.load_labels(path)


def test_load_labels_rejects_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('["negative", "neutral",')
    with pytest.raises(ValueError, match=r"labels.json is not valid JSON .*python -m conversion"):
        postprocessing.load_labels(path)


def test_load_labels_refuses_a_count_that_disagrees_with_the_classifier(tmp_path):
    manifest = tmp_path / "conversion.json"
    manifest.write_text(json.dumps({"labels": ["LABEL_0", "LABEL_1", "LABEL_2"], "max_length": 512}))
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(["negative", "positive"]))

    assert postprocessing.read_manifest(manifest) == (3, "softmax")
    with pytest.raises(ValueError, match=r"labels.json names 2 labels but the classifier outputs 3 logits: .*conversion"):
        postprocessing.load_labels(path, logit_count=postprocessing.read_manifest(manifest)[0])
    path.write_text(json.dumps(LABELS))
    assert postprocessing.load_labels(path, logit_count=3) == LABELS


def test_a_broken_manifest_is_refused(tmp_path):
    (tmp_path / "conversion.json").write_text("{}")
    with pytest.raises(ValueError, match="conversion.json is not a conversion record"):
        postprocessing.read_manifest(tmp_path / "conversion.json")


def test_each_function_gives_hugging_faces_values_and_the_top_label():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0]], dtype=np.float32)
    sigmoid = 1 / (1 + np.exp(-logits.astype(np.float64)))
    for function, expected in [("sigmoid", sigmoid), ("none", logits)]:
        label, score, probs = postprocessing.postprocess(logits, LABELS, function)
        np.testing.assert_allclose(probs, expected, rtol=1e-6)
        assert label[:, 0].tolist() == [b"negative", b"neutral"]
        np.testing.assert_allclose(score[:, 0], expected.max(axis=1), rtol=1e-6)
        assert probs.dtype == score.dtype == np.float32


def test_a_single_logit_has_one_label():
    label, score, probs = postprocessing.postprocess(np.array([[0.0], [-2.5]], dtype=np.float32), ["relevance"], "sigmoid")
    assert label[:, 0].tolist() == [b"relevance", b"relevance"]
    np.testing.assert_allclose(score[:, 0], [0.5, 1 / (1 + np.exp(2.5))], rtol=1e-6)
    assert probs.shape == (2, 1)


def test_the_manifest_names_the_function(tmp_path):
    path = tmp_path / "conversion.json"
    assert postprocessing.read_manifest(path) == (None, "softmax")  # no manifest: as before
    path.write_text(json.dumps({"labels": ["stars"], "function": "none"}))
    assert postprocessing.read_manifest(path) == (1, "none")
    path.write_text(json.dumps({"labels": ["a", "b"]}))  # written before functions were recorded
    assert postprocessing.read_manifest(path) == (2, "softmax")
    path.write_text(json.dumps({"labels": ["a", "b"], "function": "tanh"}))
    with pytest.raises(ValueError, match="unknown function 'tanh'"):
        postprocessing.read_manifest(path)
