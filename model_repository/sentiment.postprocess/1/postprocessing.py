"""Logits → label, score and every label's value. Plain functions with no Triton import.

The value of a label is what Hugging Face's text-classification pipeline gives for the checkpoint's
head: a softmax over the labels of a single-label classifier, a sigmoid per label for a multi-label
one (or a single logit), the raw logit for regression. Conversion records which in conversion.json.
"""

import json
from pathlib import Path

import numpy as np

FUNCTIONS = ("softmax", "sigmoid", "none")


class InvalidLogits(ValueError):
    """A request's logits do not fit the labels; the message is safe to send to the client."""


def load_labels(path: Path, logit_count: int | None = None) -> list[str]:
    """Read the label names, in logit order, from the labels.json that conversion writes.

    With `logit_count` (the classifier's output size), a file naming another number of labels is refused.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the repository with `python -m conversion`")
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}): rebuild it with `python -m conversion`") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of label names, in logit order")
    if logit_count is not None and len(labels) != logit_count:
        raise ValueError(
            f"{path} names {len(labels)} labels but the classifier outputs {logit_count} logits: give it "
            f"{logit_count} names in logit order, or convert the model again with `python -m conversion`"
        )
    return labels


def read_manifest(manifest: Path) -> tuple[int | None, str]:
    """The classifier's output size and the function to apply, from the conversion.json written
    beside its model.pt; (None, "softmax") without one."""
    if not manifest.is_file():
        return None, "softmax"
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
        count, function = len(record["labels"]), record.get("function", "softmax")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{manifest} is not a conversion record: convert the model again with `python -m conversion`") from None
    if function not in FUNCTIONS:
        raise ValueError(f"{manifest} names an unknown function {function!r}: one of {', '.join(FUNCTIONS)}")
    return count, function


def read_zero_shot(manifest: Path) -> tuple[int, int]:
    """The entailment and contradiction logits' indexes of a zero-shot pipeline, from its conversion.json."""
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))["zero_shot"]
        return int(record["entailment"]), int(record["contradiction"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(f"{manifest} records no zero-shot entailment label: convert the model again with --zero-shot") from None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed in float64 for stability."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, computed in float64."""
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def apply(function: str, logits: np.ndarray) -> np.ndarray:
    """Each label's value, float32: softmax, sigmoid or the logits as they are ("none")."""
    if function == "softmax":
        values = softmax(logits)
    elif function == "sigmoid":
        values = sigmoid(logits)
    elif function == "none":
        values = logits
    else:
        raise ValueError(f"unknown function {function!r}: one of {', '.join(FUNCTIONS)}")
    return values.astype(np.float32)


def postprocess(
    logits: np.ndarray, labels: list[str], function: str = "softmax"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits [n, k] → LABEL (UTF-8 bytes) [n, 1], SCORE [n, 1] (the top label's value), PROBS [n, k]."""
    _check_shape(logits, labels)
    if not np.isfinite(logits).all():
        raise InvalidLogits(NOT_FINITE)
    return _outputs(logits, encode_labels(labels), function)


def postprocess_requests(
    logits: list[np.ndarray], labels: list[str], function: str = "softmax"
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | InvalidLogits]:
    """Many requests' logits at once, as `postprocess` does each: one entry per request, its outputs
    or the InvalidLogits that request alone fails with. One pass over all rows: per request, the
    numpy calls would cost more than the arithmetic."""
    results: list = []
    for request_logits in logits:
        try:
            _check_shape(request_logits, labels)
            results.append(len(request_logits))
        except InvalidLogits as error:
            results.append(error)
    valid = [request_logits for request_logits, result in zip(logits, results) if isinstance(result, int)]
    if not valid:
        return results
    stacked = np.concatenate(valid)
    finite = np.isfinite(stacked).all(axis=1)
    label, score, values = _outputs(np.where(finite[:, None], stacked, 0), encode_labels(labels), function)
    start = 0
    for index, result in enumerate(results):
        if isinstance(result, int):
            rows = slice(start, start + result)
            results[index] = (label[rows], score[rows], values[rows]) if finite[rows].all() else InvalidLogits(NOT_FINITE)
            start += result
    return results


NOT_FINITE = "logits contain NaN or infinity"


def encode_labels(labels: list[str]) -> np.ndarray:
    return np.array([label.encode("utf-8") for label in labels], dtype=np.object_)


def _check_shape(logits: np.ndarray, labels: list[str]) -> None:
    if logits.ndim != 2 or logits.shape[1] != len(labels):
        raise InvalidLogits(f"expected logits of shape [n, {len(labels)}] (one per label), got {list(logits.shape)}")


def _outputs(logits: np.ndarray, encoded_labels: np.ndarray, function: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = apply(function, logits)
    best = values.argmax(axis=1)
    return encoded_labels[best].reshape(-1, 1), values[np.arange(len(best)), best].reshape(-1, 1), values


# Zero-shot pipelines: each text is classified against K candidate labels that the request names, by an NLI
# model that scores the pair (text, hypothesis) once per candidate. As Hugging Face's zero-shot pipeline does:
# without multi-label (and K > 1) a softmax over the K entailment logits; with it (or K = 1) each candidate's
# entailment against contradiction on its own.


def zero_shot_values(
    logits: np.ndarray, candidates: int, multi_label: np.ndarray, entailment: int, contradiction: int
) -> np.ndarray:
    """NLI logits [n * K, C], rows grouped by text → each candidate's probability, float32 [n, K].
    `multi_label` is one bool per text."""
    grouped = logits.reshape(-1, candidates, logits.shape[1])
    exclusive = softmax(grouped[..., entailment])
    independent = softmax(grouped[..., [contradiction, entailment]])[..., 1]
    each_on_its_own = multi_label.reshape(-1, 1) | (candidates == 1)
    return np.where(each_on_its_own, independent, exclusive).astype(np.float32)


def zero_shot(
    logits: np.ndarray, pair_label: np.ndarray, pair_text: np.ndarray, pair_multi_label: np.ndarray, entailment: int, contradiction: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One request's (text, hypothesis) pairs, as the tokenizer model lays them out: NLI logits [n × K, C], each
    pair's candidate label (UTF-8 bytes), the index of its text in the request (each text's K pairs together, in
    order) and its text's MULTI_LABEL, all [n × K, 1] → LABEL (the top candidate) [n, 1], SCORE [n, 1], PROBS
    [n, K] in the request's label order. Raises InvalidLogits when the rows do not fit."""
    rows = logits.shape[0] if logits.ndim == 2 else 0
    texts = int(pair_text.max()) + 1 if rows and pair_text.size == rows else 0
    candidates = rows // texts if texts else 0
    layout = np.repeat(np.arange(texts), candidates)
    if not texts or rows != texts * candidates or not np.array_equal(pair_text.reshape(-1), layout) or logits.shape[1] <= max(entailment, contradiction):
        raise InvalidLogits(f"expected NLI logits of shape [n × K, >{max(entailment, contradiction)}] with K pairs for each text in order, "
                            f"got {list(logits.shape)} for text indexes {pair_text.reshape(-1)[:8].tolist()}...")  # fmt: skip
    if not np.isfinite(logits).all():
        raise InvalidLogits(NOT_FINITE)
    labels = pair_label.reshape(texts, candidates)
    flags = pair_multi_label.astype(bool).reshape(texts, candidates)[:, :1]
    values = zero_shot_values(logits, candidates, flags, entailment, contradiction)
    best = values.argmax(axis=1)
    every = np.arange(texts)
    return labels[every, best].reshape(-1, 1), values[every, best].reshape(-1, 1), values
