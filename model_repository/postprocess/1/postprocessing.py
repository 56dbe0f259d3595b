"""Logits → label, score and probabilities. Plain functions with no Triton import."""

import json
from pathlib import Path

import numpy as np


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
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of at least two label names, in logit order")
    if logit_count is not None and len(labels) != logit_count:
        raise ValueError(
            f"{path} names {len(labels)} labels but the classifier outputs {logit_count} logits: give it "
            f"{logit_count} names in logit order, or convert the model again with `python -m conversion`"
        )
    return labels


def classifier_logit_count(manifest: Path) -> int | None:
    """The classifier's output size, from the conversion.json written beside its model.pt; None without one."""
    if not manifest.is_file():
        return None
    try:
        return len(json.loads(manifest.read_text(encoding="utf-8"))["labels"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(
            f"{manifest} is not a conversion record: convert the model again with `python -m conversion`"
        ) from None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed in float64 for stability and returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def postprocess(logits: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits [n, k] → LABEL (UTF-8 bytes) [n, 1], SCORE [n, 1], PROBS [n, k]."""
    if logits.ndim != 2 or logits.shape[1] != len(labels):
        raise InvalidLogits(f"expected logits of shape [n, {len(labels)}] (one per label), got {list(logits.shape)}")
    if not np.isfinite(logits).all():
        raise InvalidLogits("logits contain NaN or infinity")
    probs = softmax(logits)
    best = probs.argmax(axis=1)
    encoded = np.array([label.encode("utf-8") for label in labels], dtype=np.object_)
    return encoded[best].reshape(-1, 1), probs[np.arange(len(best)), best].reshape(-1, 1), probs
