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


def test_load_labels(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(LABELS))
    assert postprocessing.load_labels(path) == LABELS


def test_load_labels_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.json is missing"):
        postprocessing.load_labels(tmp_path / "labels.json")


@pytest.mark.parametrize("content", ['{"a": 1}', '["only-one"]', "[1, 2]"])
def test_load_labels_rejects_malformed_files(tmp_path, content):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="JSON list of at least two label names"):
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

    assert postprocessing.classifier_logit_count(manifest) == 3
    with pytest.raises(ValueError, match=r"labels.json names 2 labels but the classifier outputs 3 logits: .*conversion"):
        postprocessing.load_labels(path, logit_count=postprocessing.classifier_logit_count(manifest))
    path.write_text(json.dumps(LABELS))
    assert postprocessing.load_labels(path, logit_count=3) == LABELS


def test_classifier_logit_count_without_or_with_a_broken_record(tmp_path):
    assert postprocessing.classifier_logit_count(tmp_path / "conversion.json") is None
    (tmp_path / "conversion.json").write_text("{}")
    with pytest.raises(ValueError, match="conversion.json is not a conversion record"):
        postprocessing.classifier_logit_count(tmp_path / "conversion.json")
