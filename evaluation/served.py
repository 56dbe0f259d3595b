"""Probabilities from the live server's `sentiment` ensemble; texts it rejects are set aside, not fatal."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clients.classify import Classifier, ClientError

CHUNK = 32  # texts per request: small enough that a rejected text costs little to isolate


@dataclass
class ServedAnswers:
    probs: np.ndarray  # [texts, labels]; rows of rejected texts are NaN
    labels: list[str | None]  # the LABEL the server answered; None for rejected texts
    rejected: dict[int, str]  # text index → the server's reason

    def record(self, first: int, predictions: list) -> None:
        for offset, prediction in enumerate(predictions):
            self.probs[first + offset] = prediction.probs
            self.labels[first + offset] = prediction.label


def _one_by_one(texts: list[bytes], first: int, send, answers: ServedAnswers) -> None:
    for offset, text in enumerate(texts):
        try:
            answers.record(first + offset, send([text]))
        except ClientError as error:
            if not error.rejected:
                raise
            answers.rejected[first + offset] = str(error)


def served_probabilities(
    texts: list[str], labels: int, url: str, protocol: str = "grpc", progress: Callable[[int], None] = lambda done: None
) -> ServedAnswers:
    """PROBS and LABEL for every text, in order. Raises ClientError when the server cannot be used at all.

    Texts go as UTF-8 bytes; a string that cannot be encoded (a lone surrogate from a JSON file) goes
    as it is, for the server to refuse like any client's invalid text.
    """
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    answers = ServedAnswers(np.full((len(texts), labels), np.nan), [None] * len(texts), {})

    with Classifier(url, protocol) as classifier:
        for start in range(0, len(encoded), CHUNK):
            chunk = encoded[start : start + CHUNK]
            try:
                answers.record(start, classifier.classify(chunk))
            except ClientError as error:
                if not error.rejected:
                    raise
                _one_by_one(chunk, start, classifier.classify, answers)
            progress(len(chunk))
    return answers
