"""The served pipeline against in-process eager PyTorch, over gRPC and HTTP, on a real Triton server."""

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from clients.classify import text_tensor
from tests.texts import LONG_TEXT, PARITY_TEXTS, PLAIN_CASES

ATOL = 1e-4


def grpc_client(served):
    return grpcclient.InferenceServerClient(served.server.endpoints.grpc)


def infer(client, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    tensors = []
    for name, array in inputs.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "BYTES" if array.dtype == object else "INT64")
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    result = client.infer(model, tensors, outputs=[grpcclient.InferRequestedOutput(name) for name in outputs])
    return {name: result.as_numpy(name) for name in outputs}


def sentiment(client, texts) -> dict[str, np.ndarray]:
    return infer(client, "sentiment", {"TEXT": text_tensor(texts)}, ["LABEL", "SCORE", "PROBS"])


def test_ensemble_matches_eager_pytorch(served):
    assert len(PARITY_TEXTS) >= 20
    expected = served.reference.probs(PARITY_TEXTS)
    result = sentiment(grpc_client(served), PARITY_TEXTS)

    np.testing.assert_allclose(result["PROBS"], expected, atol=ATOL, rtol=0)
    labels = [label.decode() for label in result["LABEL"][:, 0]]
    assert labels == [served.reference.labels[index] for index in expected.argmax(axis=1)]
    np.testing.assert_allclose(result["SCORE"][:, 0], expected.max(axis=1), atol=ATOL, rtol=0)


def test_long_text_is_truncated_to_the_maximum_length(served):
    tokens = infer(grpc_client(served), "sentiment.tokenizer", {"TEXT": text_tensor([LONG_TEXT])}, ["INPUT_IDS", "ATTENTION_MASK"])
    assert tokens["INPUT_IDS"].shape == (1, served.reference.max_length)
    assert tokens["INPUT_IDS"][0].tolist() == served.reference.token_ids(LONG_TEXT)


def test_concurrent_requests_of_different_lengths_get_their_own_answers(served):
    requests = [[text] for text in PARITY_TEXTS] + [PARITY_TEXTS[i : i + 3] for i in range(0, len(PARITY_TEXTS), 3)]
    requests *= 3
    client = grpc_client(served)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda texts: sentiment(client, texts)["PROBS"], requests))

    expected = dict(zip(PARITY_TEXTS, served.reference.probs(PARITY_TEXTS)))
    for texts, probs in zip(requests, results):
        np.testing.assert_allclose(probs, np.stack([expected[text] for text in texts]), atol=ATOL, rtol=0)


def test_classifier_alone_gives_the_same_logits(served):
    client = grpc_client(served)
    tokens = infer(client, "sentiment.tokenizer", {"TEXT": text_tensor(PARITY_TEXTS)}, ["INPUT_IDS", "ATTENTION_MASK"])
    logits = infer(
        client, "sentiment.classifier", {"INPUT__0": tokens["INPUT_IDS"], "INPUT__1": tokens["ATTENTION_MASK"]}, ["OUTPUT__0"]
    )["OUTPUT__0"]

    np.testing.assert_allclose(logits, served.reference.logits(PARITY_TEXTS), atol=ATOL, rtol=0)
    ensemble = sentiment(client, PARITY_TEXTS)["PROBS"]
    np.testing.assert_allclose(ensemble, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), atol=1e-6)


def test_texts_reach_the_classifier_padded_to_their_request_s_longest_only(served):
    tokens = infer(grpc_client(served), "sentiment.tokenizer", {"TEXT": text_tensor(["", "ok"])}, ["INPUT_IDS", "ATTENTION_MASK"])
    lengths = [len(served.reference.token_ids(text)) for text in ["", "ok"]]
    assert tokens["INPUT_IDS"].shape == tokens["ATTENTION_MASK"].shape == (2, max(lengths))
    assert tokens["ATTENTION_MASK"].sum(axis=1).tolist() == lengths


def test_classifier_called_with_the_clients_own_padding_gives_correct_logits(served):
    """Unpadded single texts and batches padded to their longest, sent concurrently in many shapes."""
    client, expected = grpc_client(served), served.reference.logits(PARITY_TEXTS)
    rows = [served.reference.token_ids(text) for text in PARITY_TEXTS]

    def padded(indices: list[int]) -> dict[str, np.ndarray]:
        width = max(len(rows[i]) for i in indices)
        ids = np.full((len(indices), width), served.reference.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, index in enumerate(indices):
            ids[row, : len(rows[index])], mask[row, : len(rows[index])] = rows[index], 1
        return {"INPUT__0": ids, "INPUT__1": mask}

    requests = [[i] for i in range(len(rows))] + [list(range(i, len(rows), 4)) for i in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda indices: infer(client, "sentiment.classifier", padded(indices), ["OUTPUT__0"]), requests))
    for indices, result in zip(requests, results):
        np.testing.assert_allclose(result["OUTPUT__0"], expected[indices], atol=ATOL, rtol=0)


def test_invalid_utf8_fails_alone_while_other_requests_succeed(served):
    client = grpc_client(served)
    good_texts = PARITY_TEXTS[:12]
    expected = served.reference.probs(good_texts)
    outcomes, lock, done = {}, threading.Lock(), threading.Event()

    def record(key):
        def callback(result, error):
            with lock:
                outcomes[key] = (result, error)
                if len(outcomes) == len(good_texts) + 1:
                    done.set()

        return callback

    def send(key, raw):
        tensor = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[raw]], dtype=object))
        client.async_infer("sentiment", [tensor], record(key))

    for index, text in enumerate(good_texts[:6]):
        send(index, text.encode())
    send("bad", b"caf\xe9 \xff\xfe")
    for index, text in enumerate(good_texts[6:], start=6):
        send(index, text.encode())
    assert done.wait(timeout=60)

    _, error = outcomes.pop("bad")
    assert isinstance(error, InferenceServerException)
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "TEXT[0] is not valid UTF-8" in error.message()
    assert "Traceback" not in error.message()
    for index, (result, error) in outcomes.items():
        assert error is None, error
        np.testing.assert_allclose(result.as_numpy("PROBS")[0], expected[index], atol=ATOL, rtol=0)

    assert client.is_server_ready()
    assert all(client.is_model_ready(model) for model in served.server.models)
    np.testing.assert_allclose(sentiment(client, good_texts)["PROBS"], expected, atol=ATOL, rtol=0)


def test_invalid_utf8_in_a_batch_fails_that_request_with_the_position(served):
    with pytest.raises(InferenceServerException, match=r"TEXT\[1\] is not valid UTF-8"):
        sentiment(grpc_client(served), [b"fine", b"\xc3\x28", b"also fine"])


def test_http_v2_json_protocol(served):
    """Raw JSON over HTTP, as the curl calls of the README and docs/api.md send it."""
    body = {"inputs": [{"name": "TEXT", "shape": [2, 1], "datatype": "BYTES", "data": PARITY_TEXTS[3:5]}]}
    request = urllib.request.Request(
        f"{served.server.endpoints.http}/v2/models/sentiment/infer", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        outputs = {output["name"]: output for output in json.load(response)["outputs"]}

    expected = served.reference.probs(PARITY_TEXTS[3:5])
    assert outputs["PROBS"]["shape"] == [2, len(served.reference.labels)]
    np.testing.assert_allclose(np.array(outputs["PROBS"]["data"]).reshape(2, -1), expected, atol=ATOL, rtol=0)
    assert outputs["LABEL"]["data"] == [served.reference.labels[i] for i in expected.argmax(axis=1)]


def test_default_model_gets_plain_cases_right(served):
    if served.name != "minilm":
        pytest.skip("the tiny model has random weights")
    texts = [text for cases in PLAIN_CASES.values() for text in cases]
    wanted = [label for label, cases in PLAIN_CASES.items() for _ in cases]
    labels = [label.decode() for label in sentiment(grpc_client(served), texts)["LABEL"][:, 0]]
    assert labels == wanted


@pytest.mark.parametrize("spoil", ["id past the vocabulary", "negative id", "longer than the maximum length"])
def test_a_row_the_classifier_cannot_take_gets_nan_and_the_rows_beside_it_their_logits(served, spoil):
    """Sent straight to the classifier: the bad row is answered NaN, its neighbours in the same request (and so in
    the same batch) are answered as usual, and the server goes on serving."""
    client = grpc_client(served)
    texts = ["I love this", "I hate mondays", "ok"]
    tokens = infer(client, "sentiment.tokenizer", {"TEXT": text_tensor(texts)}, ["INPUT_IDS", "ATTENTION_MASK"])
    ids, mask = tokens["INPUT_IDS"].copy(), tokens["ATTENTION_MASK"].copy()
    if spoil == "longer than the maximum length":
        beyond = served.reference.max_length + 8 - ids.shape[1]
        ids, mask = np.pad(ids, ((0, 0), (0, beyond)), constant_values=3), np.pad(mask, ((0, 0), (0, beyond)))
        mask[1] = 1
    else:
        ids[1, 1] = 10**9 if spoil == "id past the vocabulary" else -1
    logits = infer(client, "sentiment.classifier", {"INPUT__0": ids, "INPUT__1": mask}, ["OUTPUT__0"])["OUTPUT__0"]
    assert np.isnan(logits[1]).all()
    np.testing.assert_allclose(logits[[0, 2]], served.reference.logits([texts[0], texts[2]]), atol=ATOL, rtol=0)
    assert client.is_model_ready("sentiment.classifier")
    np.testing.assert_allclose(sentiment(client, ["ok"])["PROBS"], served.reference.probs(["ok"]), atol=ATOL, rtol=0)


def test_ids_and_a_mask_of_different_lengths_get_nan_for_every_row(served):
    client = grpc_client(served)
    ids = np.array([[0, 5, 2], [0, 6, 2]], dtype=np.int64)
    logits = infer(client, "sentiment.classifier", {"INPUT__0": ids, "INPUT__1": np.ones((2, 4), dtype=np.int64)}, ["OUTPUT__0"])
    assert np.isnan(logits["OUTPUT__0"]).all()
    np.testing.assert_allclose(sentiment(client, ["ok"])["PROBS"], served.reference.probs(["ok"]), atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "ids, mask, message",
    [
        (np.ones((1, 3), dtype=np.int32), np.ones((1, 3), dtype=np.int32), "data-type is 'INT32', but model 'sentiment.classifier' expects 'INT64'"),
        (np.ones((1, 1, 3), dtype=np.int64), np.ones((1, 1, 3), dtype=np.int64), "unexpected shape for input 'INPUT__"),
    ],
    ids=["wrong dtype", "wrong rank"],
)
def test_triton_refuses_a_wrong_dtype_or_rank_before_the_backend_runs(served, ids, mask, message):
    client = grpc_client(served)
    inputs = []
    for name, array in (("INPUT__0", ids), ("INPUT__1", mask)):
        tensor = grpcclient.InferInput(name, list(array.shape), "INT32" if array.dtype == np.int32 else "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    with pytest.raises(InferenceServerException) as failure:
        client.infer("sentiment.classifier", inputs)
    assert failure.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert message in failure.value.message() and "Traceback" not in failure.value.message()
    np.testing.assert_allclose(sentiment(client, ["ok"])["PROBS"], served.reference.probs(["ok"]), atol=ATOL, rtol=0)
