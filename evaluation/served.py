"""Probabilities from a pipeline's ensemble on the live server; texts it rejects are set aside, not fatal."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clients.classify import MODEL, Classifier, ClientError

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


def _one_by_one(texts: list[bytes], pairs: list[bytes] | None, first: int, send, answers: ServedAnswers) -> None:
    for offset, text in enumerate(texts):
        try:
            answers.record(first + offset, send([text], None if pairs is None else [pairs[offset]]))
        except ClientError as error:
            if not error.rejected:
                raise
            answers.rejected[first + offset] = str(error)


def _encoded(texts: list[str]) -> list[bytes]:
    return [text.encode("utf-8", "surrogatepass") for text in texts]


def served_probabilities(
    texts: list[str],
    labels: int,
    url: str,
    protocol: str = "grpc",
    progress: Callable[[int], None] = lambda done: None,
    model: str = MODEL,
    pairs: list[str] | None = None,
) -> ServedAnswers:
    """PROBS and LABEL for every text (with its pair, when pairs are given), in order, from pipeline
    `model`. Raises ClientError when the server or the pipeline cannot be used at all.

    Texts go as UTF-8 bytes; a string that cannot be encoded (a lone surrogate from a JSON file) goes
    as it is, for the server to refuse like any client's invalid text.
    """
    encoded, encoded_pairs = _encoded(texts), None if pairs is None else _encoded(pairs)
    answers = ServedAnswers(np.full((len(texts), labels), np.nan), [None] * len(texts), {})

    with Classifier(url, protocol, model) as classifier:
        for start in range(0, len(encoded), CHUNK):
            chunk = encoded[start : start + CHUNK]
            chunk_pairs = None if encoded_pairs is None else encoded_pairs[start : start + CHUNK]
            try:
                answers.record(start, classifier.classify(chunk, chunk_pairs))
            except ClientError as error:
                if not error.rejected:
                    raise
                _one_by_one(chunk, chunk_pairs, start, classifier.classify, answers)
            progress(len(chunk))
    return answers
