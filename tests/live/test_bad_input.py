"""Bad and unusual requests against the live server: each gets a correct answer or a clear error, and
after each the server is still ready and answers the next good request correctly."""

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from clients.classify import text_tensor
from server.procfs import python_stubs, resident_bytes
from tests.texts import MEGABYTE_TEXT

ATOL = 1e-4
MAX_BATCH_SIZE = 64
GOOD_TEXTS = ["I love this", "I hate mondays"]


@pytest.fixture
def client(served):
    return grpcclient.InferenceServerClient(served.server.endpoints.grpc)


@pytest.fixture(autouse=True)
def still_serving_afterwards(served, client):
    yield
    assert all(client.is_model_ready(model) for model in served.server.models)
    np.testing.assert_allclose(probs(client, GOOD_TEXTS), served.reference.probs(GOOD_TEXTS), atol=ATOL, rtol=0)


def text_input(array: np.ndarray, name: str = "TEXT", datatype: str = "BYTES") -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def probs(client, texts) -> np.ndarray:
    return client.infer("sentiment", [text_input(text_tensor(texts))]).as_numpy("PROBS")


def infer_error(client, inputs, model: str = "sentiment") -> InferenceServerException:
    with pytest.raises(InferenceServerException) as failure:
        client.infer(model, inputs)
    assert "Traceback" not in failure.value.message()
    return failure.value


def post_json(served, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{served.server.endpoints.http}/v2/models/sentiment/infer", data=body)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def text_request(data: list, shape: list[int] | None = None, datatype: str = "BYTES") -> bytes:
    text = {"name": "TEXT", "shape": shape or [len(data), 1], "datatype": datatype, "data": data}
    return json.dumps({"inputs": [text]}).encode()


@pytest.mark.parametrize(
    "text", ["", " ", " \t\n ", "nul\x00inside", "\x00", "مرحبا بالعالم", "שלום עולם", "漢字かな交じり文", "🙂🙃" * 40]
)
def test_unusual_texts_get_the_reference_answer(served, client, text):
    np.testing.assert_allclose(probs(client, [text]), served.reference.probs([text]), atol=ATOL, rtol=0)


def test_nul_bytes_over_http_json(served):
    status, body = post_json(served, text_request(["nul\x00inside"]))
    assert status == 200, body
    probs_output = next(output for output in body["outputs"] if output["name"] == "PROBS")
    np.testing.assert_allclose(probs_output["data"], served.reference.probs(["nul\x00inside"])[0], atol=ATOL, rtol=0)


def test_a_megabyte_text_is_answered_after_truncation_with_flat_memory(served, client):
    tokenizer_pid = python_stubs(served.server.process.pid)["sentiment.tokenizer_0_0"]
    np.testing.assert_allclose(probs(client, [MEGABYTE_TEXT]), served.reference.probs([MEGABYTE_TEXT]), atol=ATOL, rtol=0)
    before = resident_bytes(tokenizer_pid)
    for _ in range(10):
        probs(client, [MEGABYTE_TEXT])
    growth = resident_bytes(tokenizer_pid) - before
    assert growth < 16 * 2**20, f"the tokenizer stub grew by {growth / 2**20:.1f} MiB over ten 1 MB requests"


def test_a_full_batch_is_answered(served, client):
    texts = [f"text {index} of a full batch" for index in range(MAX_BATCH_SIZE)]
    np.testing.assert_allclose(probs(client, texts), served.reference.probs(texts), atol=ATOL, rtol=0)


def test_a_batch_over_max_batch_size_is_refused(client):
    error = infer_error(client, [text_input(text_tensor(["x"] * (MAX_BATCH_SIZE + 1)))])
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert f"batch-size must be <= {MAX_BATCH_SIZE} for 'sentiment'" in error.message()


def test_wrong_dtype_is_refused(client):
    error = infer_error(client, [text_input(np.array([[7]], dtype=np.int32), datatype="INT32")])
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "inference input 'TEXT' data-type is 'INT32', but model 'sentiment' expects 'BYTES'" in error.message()


@pytest.mark.parametrize("shape", [[1, 2], [2], [1, 1, 1]])
def test_wrong_shape_is_refused(client, shape):
    array = np.full(shape, b"text", dtype=object)
    error = infer_error(client, [text_input(array)])
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert f"unexpected shape for input 'TEXT' for model 'sentiment'. Expected [-1,1], got {shape}".replace(
        " ", ""
    ) in error.message().replace(" ", "")


def test_missing_input_is_refused(client):
    error = infer_error(client, [])
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "missing required input(s) ['TEXT']" in error.message()


def test_unknown_input_name_is_refused(client):
    error = infer_error(client, [text_input(text_tensor(["hello"]), name="PROMPT")])
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "unexpected inference input 'PROMPT' for model 'sentiment'" in error.message()


def test_unknown_model_is_refused(client):
    error = infer_error(client, [text_input(text_tensor(["hello"]))], model="no_such_model")
    assert error.status() == "StatusCode.NOT_FOUND"
    assert "'no_such_model' is not found" in error.message()


def test_numbers_sent_as_bytes_over_grpc_are_text(served, client):
    """tritonclient serialises non-bytes items of a BYTES tensor with str(): 42 arrives as the text "42"."""
    array = np.array([[42], [3.5]], dtype=object)
    np.testing.assert_allclose(
        client.infer("sentiment", [text_input(array)]).as_numpy("PROBS"),
        served.reference.probs(["42", "3.5"]),
        atol=ATOL,
        rtol=0,
    )


# Triton's HTTP front end answers unparsable JSON with 500 rather than 400 (upstream
# triton-inference-server/server#8762); the message still names the problem.
@pytest.mark.parametrize(
    "body, status, message",
    [
        (b'{"inputs": [{"name"', 500, "failed to parse the request JSON buffer"),
        (b"  ", 500, "failed to parse the request JSON buffer: The document is empty"),
        (text_request([42]), 500, "Unable to parse JSON bytes array: attempt to access JSON non-string as string"),
        (text_request(["a"], shape=[2, 1]), 400, "expected 2 string elements for inference input 'TEXT'"),
        (text_request([7], datatype="INT64"), 400, "data-type is 'INT64', but model 'sentiment' expects 'BYTES'"),
        (json.dumps({"inputs": []}).encode(), 400, "missing required input(s) ['TEXT']"),
    ],
    ids=["truncated-json", "blank-body", "numbers-as-bytes", "shape-disagrees-with-data", "wrong-dtype", "no-inputs"],
)
def test_malformed_http_json_gets_an_error_naming_the_problem(served, body, status, message):
    code, answer = post_json(served, body)
    assert (code, set(answer)) == (status, {"error"})
    assert message in answer["error"]
