"""Logits → label, score and probabilities. Plain functions with no Triton import."""

import json
from pathlib import Path

import numpy as np


class InvalidLogits(ValueError):
    """A request's logits do not fit the labels; the message is safe to send to the client."""


def load_labels(path: Path) -> list[str]:
    """Read the label names, in logit order, from the labels.json that conversion writes."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the repository with `python -m conversion`")
    labels = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of at least two label names, in logit order")
    return labels


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
