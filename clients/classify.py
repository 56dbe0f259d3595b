"""classify(texts) over gRPC or HTTP with tritonclient, many texts (or text pairs, or texts and their candidate
labels for a zero-shot pipeline) per request, to any pipeline."""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

DEFAULT_URLS = {"grpc": "127.0.0.1:8001", "http": "127.0.0.1:8000"}
MODEL = "sentiment"  # conversion.repository.DEFAULT_PIPELINE (the client image carries only clients/)


class ClientError(Exception):
    """The server is unreachable or answered an error; the message says which.

    `rejected` is true when the server refused the request's input (INVALID_ARGUMENT): the same
    texts will be refused again, while other requests go through. `stopping` is true when a stopping
    server refused the request at the door, before any work: it is safe to send again, elsewhere.
    """

    def __init__(self, message: str, rejected: bool = False, stopping: bool = False):
        super().__init__(message)
        self.rejected = rejected
        self.stopping = stopping


@dataclass(frozen=True)
class Prediction:
    text: str
    label: str  # the top label
    score: float  # its value
    probs: list[float]  # every label's value, in the pipeline's label order: softmax, sigmoid or raw
    pair: str | None = None  # the second text of a pair; None for a single text
    candidate_labels: list[str] | None = None  # a zero-shot pipeline's candidates, in the order of probs


def _library(protocol: str):
    if protocol not in DEFAULT_URLS:
        raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
    return grpcclient if protocol == "grpc" else httpclient


def _model_config(client, protocol: str, model: str) -> dict:
    """The model's configuration as JSON, the same keys over both protocols."""
    if protocol == "grpc":
        return client.get_model_config(model, as_json=True)["config"]
    return client.get_model_config(model)


def text_tensor(texts: list[str | bytes]) -> np.ndarray:
    """Texts → the [n, 1] BYTES tensor TEXT (or TEXT_PAIR); str is sent as UTF-8, bytes as they are."""
    encoded = [text.encode("utf-8") if isinstance(text, str) else bytes(text) for text in texts]
    return np.array(encoded, dtype=np.object_).reshape(-1, 1)


def _decoded(text: str | bytes | None) -> str | None:
    return text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else text


def _infer(client, library, model: str, tensors: dict[str, np.ndarray]):
    inputs = []
    for name, tensor in tensors.items():
        inputs.append(library.InferInput(name, list(tensor.shape), "BOOL" if tensor.dtype == np.bool_ else "BYTES"))
        inputs[-1].set_data_from_numpy(tensor)
    outputs = [library.InferRequestedOutput(name) for name in ("LABEL", "SCORE", "PROBS")]
    result = client.infer(model, inputs, outputs=outputs)
    return result.as_numpy("LABEL"), result.as_numpy("SCORE"), result.as_numpy("PROBS")


class Classifier:
    """One connection to a served pipeline (the ensemble `model`), reused for many calls: the server's
    liveness and the model's configuration (its max batch size, whether it takes TEXT_PAIR) are read
    once, when it opens. Raises ClientError on any failure."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = MODEL, timeout: float = 60.0):
        self.library = _library(protocol)
        self.protocol, self.model = protocol, model
        self.url = (url or DEFAULT_URLS[protocol]).removeprefix("http://")
        options = {"network_timeout": timeout, "connection_timeout": timeout} if protocol == "http" else {}
        with self._errors_explained():
            self.client = self.library.InferenceServerClient(self.url, **options)
        try:
            with self._errors_explained():
                if not self.client.is_server_live():
                    raise ClientError(f"the Triton server at {self.url} is not live")
                config = _model_config(self.client, protocol, model)
                self.max_batch_size = int(config["max_batch_size"])
                inputs = {tensor["name"] for tensor in config.get("input", [])}
                self.takes_pairs, self.zero_shot = "TEXT_PAIR" in inputs, "LABELS" in inputs
        except ClientError:
            self.close()  # nothing holds a Classifier that failed to open
            raise

    def classify(
        self,
        texts: list[str | bytes],
        pairs: list[str | bytes] | None = None,
        candidate_labels: list[str] | None = None,
        multi_label: bool = False,
    ) -> list[Prediction]:
        """Label, score and values for each text, in order; max-batch-size texts per request.

        With `pairs` (one per text), each text goes with its pair as TEXT_PAIR, for pipelines
        converted with --pairs; pairs for a pipeline that takes single texts are refused with a
        ClientError before anything is sent. Raises ValueError when the two lists differ in length.
        A zero-shot pipeline (converted with --zero-shot) takes `candidate_labels`, the same for every
        text, and `multi_label`: each label's probability on its own instead of one over the labels.
        """
        if pairs is not None:
            self._check_pairs(texts, pairs)
        self._check_candidate_labels(candidate_labels)
        predictions = []
        with self._errors_explained():
            for start in range(0, len(texts), self.max_batch_size):
                chunk = texts[start : start + self.max_batch_size]
                chunk_pairs = None if pairs is None else pairs[start : start + self.max_batch_size]
                tensors = self._tensors(chunk, chunk_pairs, candidate_labels, multi_label)
                labels, scores, probs = _infer(self.client, self.library, self.model, tensors)
                predictions += [
                    Prediction(_decoded(text), label.decode("utf-8"), float(score), [float(p) for p in row], _decoded(pair), candidate_labels)
                    for text, pair, label, score, row in zip(chunk, chunk_pairs or [None] * len(chunk), labels[:, 0], scores[:, 0], probs)
                ]
        return predictions

    @staticmethod
    def _tensors(texts: list, pairs: list | None, candidate_labels: list[str] | None, multi_label: bool) -> dict[str, np.ndarray]:
        tensors = {"TEXT": text_tensor(texts)}
        if pairs is not None:
            tensors["TEXT_PAIR"] = text_tensor(pairs)
        if candidate_labels is not None:
            tensors["LABELS"] = text_tensor(candidate_labels * len(texts)).reshape(len(texts), len(candidate_labels))
            tensors["MULTI_LABEL"] = np.full((len(texts), 1), multi_label, dtype=np.bool_)
        return tensors

    def _check_candidate_labels(self, candidate_labels: list[str] | None) -> None:
        if candidate_labels is None and self.zero_shot:
            raise ClientError(f"pipeline {self.model!r} is zero-shot: give the candidate labels to classify each text against")
        if candidate_labels is not None and not self.zero_shot:
            raise ClientError(
                f"pipeline {self.model!r} has its labels fixed at conversion (it has no LABELS input): "
                "send the texts alone, or call a pipeline converted with --zero-shot"
            )
        if candidate_labels is not None and (isinstance(candidate_labels, str) or not candidate_labels):
            raise ValueError("candidate_labels must be a non-empty list of label names")

    def _check_pairs(self, texts: list, pairs: list) -> None:
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs: give one pair per text")
        if not self.takes_pairs:
            raise ClientError(
                f"pipeline {self.model!r} takes single texts, not pairs (it has no TEXT_PAIR input): "
                "send the texts alone, or call a pipeline converted with --pairs"
            )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _errors_explained(self):
        try:
            yield
        except InferenceServerException as error:
            raise ClientError(_explain(error, self.url, self.protocol), rejected=_is_rejection(error),
                              stopping=_is_stopping(error)) from None
        except (ConnectionError, OSError) as error:
            raise ClientError(f"cannot reach the Triton server at {self.url} over {self.protocol}: {error}") from None


def classify(
    texts: list[str | bytes],
    url: str | None = None,
    protocol: str = "grpc",
    model: str = MODEL,
    timeout: float = 60.0,
    pairs: list[str | bytes] | None = None,
    candidate_labels: list[str] | None = None,
    multi_label: bool = False,
) -> list[Prediction]:
    """Label, score and values for each text (or text and pair, or text against candidate labels), in order,
    over a connection of its own. Raises ClientError on any failure; a program that sends many requests keeps
    a Classifier open."""
    with Classifier(url, protocol, model, timeout) as classifier:
        return classifier.classify(texts, pairs, candidate_labels, multi_label)


def _is_rejection(error: InferenceServerException) -> bool:
    status = str(error.status())
    return "INVALID_ARGUMENT" in status or status == "400"


def _is_stopping(error: InferenceServerException) -> bool:
    return "has no available versions" in (error.message() or str(error))


def _explain(error: InferenceServerException, url: str, protocol: str) -> str:
    message = error.message() or str(error)
    if "failed to connect" in message.lower():
        return f"cannot reach the Triton server at {url} over {protocol} (is `make serve` running?): {message}"
    if "unavailable" in str(error.status()).lower():  # e.g. "Server is stopping" while it shuts down
        return f"the Triton server at {url} is unavailable (stopping or restarting?): {message}"
    if _is_stopping(error):  # a stopping server closes the model to new requests before it stops
        return f"the Triton server at {url} is not serving this model now (stopping?): {message}"
    return f"the server answered an error: {message}"
