"""classify(texts) over gRPC or HTTP with tritonclient, many texts per request."""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

DEFAULT_URLS = {"grpc": "127.0.0.1:8001", "http": "127.0.0.1:8000"}
MODEL = "sentiment"


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
    label: str
    score: float
    probs: list[float]  # every label's probability, in the model's label order


def _library(protocol: str):
    if protocol not in DEFAULT_URLS:
        raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
    return grpcclient if protocol == "grpc" else httpclient


def _max_batch_size(client, protocol: str, model: str) -> int:
    if protocol == "grpc":
        return int(client.get_model_config(model, as_json=True)["config"]["max_batch_size"])
    return int(client.get_model_config(model)["max_batch_size"])


def text_tensor(texts: list[str | bytes]) -> np.ndarray:
    """Texts → the [n, 1] BYTES tensor TEXT; str is sent as UTF-8, bytes as they are."""
    encoded = [text.encode("utf-8") if isinstance(text, str) else bytes(text) for text in texts]
    return np.array(encoded, dtype=np.object_).reshape(-1, 1)


def _infer(client, library, model: str, texts: list[str | bytes]):
    tensor = text_tensor(texts)
    text_input = library.InferInput("TEXT", list(tensor.shape), "BYTES")
    text_input.set_data_from_numpy(tensor)
    outputs = [library.InferRequestedOutput(name) for name in ("LABEL", "SCORE", "PROBS")]
    result = client.infer(model, [text_input], outputs=outputs)
    return result.as_numpy("LABEL"), result.as_numpy("SCORE"), result.as_numpy("PROBS")


class Classifier:
    """One connection to the served model, reused for many calls: the server's liveness and the model's
    max batch size are read once, when it opens. Raises ClientError on any failure."""

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
                self.max_batch_size = _max_batch_size(self.client, protocol, model)
        except ClientError:
            self.close()  # nothing holds a Classifier that failed to open
            raise

    def classify(self, texts: list[str | bytes]) -> list[Prediction]:
        """Label, score and probabilities for each text, in order; max-batch-size texts per request."""
        predictions = []
        with self._errors_explained():
            for start in range(0, len(texts), self.max_batch_size):
                chunk = texts[start : start + self.max_batch_size]
                labels, scores, probs = _infer(self.client, self.library, self.model, chunk)
                predictions += [
                    Prediction(text if isinstance(text, str) else text.decode("utf-8", "replace"),
                               label.decode("utf-8"), float(score), [float(p) for p in row])
                    for text, label, score, row in zip(chunk, labels[:, 0], scores[:, 0], probs)
                ]
        return predictions

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
) -> list[Prediction]:
    """Label, score and probabilities for each text, in order, over a connection of its own.
    Raises ClientError on any failure; a program that sends many requests keeps a Classifier open."""
    with Classifier(url, protocol, model, timeout) as classifier:
        return classifier.classify(texts)


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
