"""Unit tests of zero-shot pipelines without Triton: the tokenizer's (text, hypothesis) pairs and the checks on
candidate labels, the postprocess's scores as Hugging Face's zero-shot pipeline computes them, what conversion
decides (template, entailment logit) and the configs it writes."""

import re

import numpy as np
import pytest
from transformers import AutoTokenizer

from conversion import configs, nli
from conversion.checkpoint import ConversionError
from conversion.export import serving_tokenizer
from conversion.repository import Pipeline
from harness import tiny_roberta
from harness.model_code import postprocessing, tokenization
from tests.texts import LONG_TEXT

TEMPLATE = "This example is {}."


@pytest.fixture(scope="module")
def encoder(tiny_checkpoint):
    serving = nli.serving_tokenizer(serving_tokenizer(AutoTokenizer.from_pretrained(tiny_checkpoint), tiny_roberta.MAX_LENGTH))
    return tokenization.ZeroShotEncoder(tokenization.TextEncoder.from_tokenizer(serving), TEMPLATE)


def strings(rows: list[list[str | bytes]]) -> np.ndarray:
    return np.array([[item.encode() if isinstance(item, str) else item for item in row] for row in rows], dtype=object)


def test_each_text_is_paired_with_the_hypothesis_of_each_of_its_own_labels_in_order(encoder):
    pairs = encoder.pairs(strings([["a"], ["b"]]), strings([["sports", "food"], ["rain", "sun"]]))
    assert pairs == [("a", "This example is sports."), ("a", "This example is food."), ("b", "This example is rain."), ("b", "This example is sun.")]


def test_a_request_becomes_n_times_k_rows_padded_to_its_longest_pair(encoder):
    labels = strings([["x", "y", "z"]] * 2)
    [(ids, mask, pair_label, pair_text, pair_multi_label)] = encoder.tokenize_requests(
        [(strings([["short"], ["a longer text than that"]]), labels, np.array([[False], [True]]))]
    )
    assert ids.shape == mask.shape and ids.shape[0] == 6
    assert mask.sum(axis=1).max() == ids.shape[1]
    assert pair_label[:, 0].tolist() == [b"x", b"y", b"z"] * 2
    assert pair_text[:, 0].tolist() == [0, 0, 0, 1, 1, 1] and pair_text.dtype == np.int32
    assert pair_multi_label[:, 0].tolist() == [False] * 3 + [True] * 3


def test_an_over_length_text_is_truncated_and_its_hypothesis_kept_whole(encoder):
    [(ids, mask, *_)] = encoder.tokenize_requests([(strings([[LONG_TEXT]]), strings([["weather"]]), None)])
    hypothesis = encoder.encoder.tokenizer.encode("This example is weather.", add_special_tokens=False).ids
    assert ids.shape[1] == encoder.max_length
    row = ids[0].tolist()
    assert any(row[start : start + len(hypothesis)] == hypothesis for start in range(len(row)))


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.empty((1, 0), dtype=object), r"LABELS holds no candidate labels"),
        (strings([["x"] * 33]), r"LABELS holds 33 candidate labels per text: at most 32"),
        (strings([["ok", ""]]), r"LABELS\[0\]\[1\] is empty"),
        (strings([["ok", "  "]]), r"LABELS\[0\]\[1\] is empty"),
        (strings([[b"\xff"]]), r"LABELS\[0\]\[0\] is not valid UTF-8: invalid start byte at byte 0"),
        (strings([["a"], ["b"]]), r"LABELS must be \[1, K\]"),
        (strings([[" ".join(["long"] * 40)]]), r"LABELS\[0\]\[0\] is too long: its hypothesis takes \d+ tokens, at most 32"),
    ],
)
def test_bad_candidate_labels_fail_their_own_request_with_one_line(encoder, labels, message):
    results = encoder.tokenize_requests([(strings([["fine"]]), strings([["a", "b"]]), None), (strings([["text"]]), labels, None), (strings([["next"]]), strings([["c"]]), None)])
    assert isinstance(results[1], tokenization.InvalidText) and "\n" not in str(results[1])
    assert re.search(message, str(results[1])), results[1]
    assert [result[0].shape[0] for result in (results[0], results[2])] == [2, 1]


def test_the_limit_of_labels_is_the_one_the_configs_say():
    assert tokenization.MAX_CANDIDATE_LABELS == configs.MAX_CANDIDATE_LABELS


def hugging_face_scores(logits: np.ndarray, candidates: int, multi_label: bool, entailment: int) -> np.ndarray:
    """The formula of transformers' ZeroShotClassificationPipeline.postprocess, written out for one text."""
    grouped = logits.reshape(-1, candidates, logits.shape[-1])
    if multi_label or candidates == 1:
        contradiction = -1 if entailment == 0 else 0
        pair = grouped[..., [contradiction, entailment]]
        return (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[..., 1]
    entail = grouped[..., entailment]
    return np.exp(entail) / np.exp(entail).sum(-1, keepdims=True)


@pytest.mark.parametrize("entailment, contradiction", [(2, 0), (0, 2)])
@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("candidates", [1, 3])
def test_scores_are_hugging_faces_for_each_text(entailment, contradiction, multi_label, candidates):
    logits = np.random.default_rng(candidates).normal(size=(2 * candidates, 3)).astype(np.float32)
    labels = strings([[f"label {index}" for index in range(candidates)]] * 2)
    pairs = tokenization.pair_tensors(labels, np.full((2, 1), multi_label))
    label, score, probs = postprocessing.zero_shot(logits, *pairs, entailment, contradiction)
    np.testing.assert_allclose(probs, hugging_face_scores(logits, candidates, multi_label, entailment), atol=1e-6)
    assert label[:, 0].tolist() == [labels[row, probs[row].argmax()] for row in range(2)]
    np.testing.assert_allclose(score[:, 0], probs.max(axis=1))
    assert probs.shape == (2, candidates) and probs.dtype == np.float32


def test_multi_label_is_read_per_text_and_defaults_to_false():
    logits = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    labels = strings([["a", "b"]] * 2)
    _, _, mixed = postprocessing.zero_shot(logits, *tokenization.pair_tensors(labels, np.array([[False], [True]])), 2, 0)
    _, _, default = postprocessing.zero_shot(logits, *tokenization.pair_tensors(labels, None), 2, 0)
    np.testing.assert_allclose(mixed[0], hugging_face_scores(logits[:2], 2, False, 2)[0], atol=1e-6)
    np.testing.assert_allclose(mixed[1], hugging_face_scores(logits[2:], 2, True, 2)[0], atol=1e-6)
    np.testing.assert_allclose(default, hugging_face_scores(logits, 2, False, 2), atol=1e-6)


@pytest.mark.parametrize(
    "logits, texts, message",
    [
        (np.zeros((3, 3), dtype=np.float32), [0, 0, 1, 1], r"expected NLI logits of shape \[n × K, >2\].*got \[3, 3\]"),
        (np.zeros((4, 2), dtype=np.float32), [0, 0, 1, 1], r"got \[4, 2\]"),
        (np.zeros((4, 3), dtype=np.float32), [0, 1, 0, 1], r"with K pairs for each text in order"),
        (np.full((4, 3), np.nan, dtype=np.float32), [0, 0, 1, 1], "NaN"),
    ],
)
def test_logits_that_do_not_fit_the_pairs_are_refused(logits, texts, message):
    labels, _, flags = tokenization.pair_tensors(strings([["a", "b"]] * 2), None)
    with pytest.raises(postprocessing.InvalidLogits, match=message):
        postprocessing.zero_shot(logits, labels, np.array(texts, dtype=np.int32).reshape(-1, 1), flags, 2, 0)


@pytest.mark.parametrize(
    "label2id, logits, expected",
    [
        ({"contradiction": 0, "neutral": 1, "entailment": 2}, 3, (2, 0)),
        ({"ENTAILMENT": 0, "not_entailment": 1}, 2, (0, 1)),
        ({"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}, 3, (2, 0)),  # none named: the last logit, as Hugging Face does
    ],
)
def test_the_entailment_logit_is_found_as_hugging_face_finds_it(label2id, logits, expected):
    assert nli.entailment_logits(label2id, logits) == expected


def test_a_classifier_of_one_logit_is_refused():
    with pytest.raises(ConversionError, match="needs an NLI classifier.*has 1"):
        nli.entailment_logits({"score": 0}, 1)


@pytest.mark.parametrize("template", ["This example is about", "{} and {}", "{0} is {name}", "{label}"])
def test_a_template_without_one_place_for_the_label_is_refused(template):
    with pytest.raises(ConversionError, match="must hold {} once"):
        nli.check_template(template)


def test_zero_shot_configs_take_labels_and_batch_pairs_in_the_classifier_and_postprocess():
    written = configs.render(Pipeline("repo", "topics"), 3, True, True, zero_shot=True)
    ensemble, tokenizer, classifier, postprocess = (written[f"{model}/config.pbtxt"] for model in Pipeline("repo", "topics").models)
    assert '{ name: "LABELS", data_type: TYPE_STRING, dims: [ -1 ] }' in ensemble and 'name: "MULTI_LABEL"' in ensemble
    assert "allow_ragged_batch: true" in tokenizer and f'input_data_file: "{configs.WARMUP_LABEL_FILE}"' in tokenizer
    assert f"max_batch_size: {configs.MAX_BATCH_SIZE * configs.MAX_CANDIDATE_LABELS}" in classifier
    assert f"max_batch_size: {configs.MAX_PAIRS}" in postprocess and 'name: "PAIR_TEXT", data_type: TYPE_INT32' in postprocess


def test_the_warm_up_label_is_written_as_triton_reads_a_string():
    assert configs.warmup_label_file("ab") == b"\x02\x00\x00\x00ab"
