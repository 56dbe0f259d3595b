"""Scores of predicted probabilities against gold labels, in plain numpy (no server)."""

import numpy as np

CALIBRATION_BINS = 10


def confusion(gold: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[i, j]: texts of gold label i predicted as j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (gold, predicted), 1)
    return counts


def per_label(counts: np.ndarray, labels: list[str]) -> dict[str, dict]:
    """Precision, recall, F1 and support of each label (0 where undefined)."""
    scores = {}
    for index, label in enumerate(labels):
        true_positive = counts[index, index]
        predicted, support = counts[:, index].sum(), counts[index].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support)}
    return scores


def calibration(probs: np.ndarray, gold: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability of the top probability: per confidence bin, mean confidence against accuracy; and the ECE."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == gold
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    table, error = [], 0.0
    for index in range(bins):
        chosen = which == index
        if not chosen.any():
            continue
        mean_confidence, accuracy = float(confidence[chosen].mean()), float(correct[chosen].mean())
        table.append({"low": float(edges[index]), "high": float(edges[index + 1]), "count": int(chosen.sum()),
                      "confidence": mean_confidence, "accuracy": accuracy})  # fmt: skip
        error += chosen.mean() * abs(mean_confidence - accuracy)
    return {"bins": table, "expected_calibration_error": float(error)}


def polarity_accuracy(probs: np.ndarray, gold: np.ndarray, labels: list[str]) -> dict | None:
    """On texts whose gold label is positive or negative: how often the larger of those two probabilities is right."""
    if "positive" not in labels or "negative" not in labels:
        return None
    positive, negative = labels.index("positive"), labels.index("negative")
    chosen = (gold == positive) | (gold == negative)
    if not chosen.any():
        return None
    says_positive = probs[chosen, positive] > probs[chosen, negative]
    return {"accuracy": float((says_positive == (gold[chosen] == positive)).mean()), "count": int(chosen.sum())}


def score(probs: np.ndarray, gold: np.ndarray, labels: list[str]) -> dict:
    """Every figure the report shows; macro-F1 averages the labels that occur in the gold set."""
    predicted = probs.argmax(axis=1)
    counts = confusion(gold, predicted, len(labels))
    labels_scores = per_label(counts, labels)
    present = [label for label in labels if labels_scores[label]["support"]]
    return {
        "count": int(len(gold)),
        "accuracy": float((predicted == gold).mean()),
        "macro_f1": float(np.mean([labels_scores[label]["f1"] for label in present])),
        "per_label": labels_scores,
        "confusion": counts.tolist(),
        "calibration": calibration(probs, gold),
        "polarity": polarity_accuracy(probs, gold, labels),
    }
