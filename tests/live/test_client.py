"""The client CLI and classify() against a real server, and when there is none."""

import json
import subprocess
import sys

import numpy as np
import pytest

from clients import Classifier, ClientError, classify
from server import Endpoints
from tests.support import PROJECT


def run_client(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clients", *argv], cwd=PROJECT, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_classify_returns_label_score_and_probabilities(served, protocol):
    url = served.server.endpoints.grpc if protocol == "grpc" else served.server.endpoints.http
    texts = ["I love this", "", "今日はとても良い天気ですね。"]
    predictions = classify(texts, url=url, protocol=protocol)

    expected = served.reference.probs(texts)
    assert [prediction.text for prediction in predictions] == texts
    for prediction, probs in zip(predictions, expected):
        assert prediction.label == served.reference.labels[probs.argmax()]
        assert prediction.score == pytest.approx(probs.max(), abs=1e-4)
        assert prediction.probs == pytest.approx(probs.tolist(), abs=1e-4)


def test_classify_splits_more_texts_than_the_max_batch_size(served):
    texts = [f"text number {index}" for index in range(150)]
    predictions = classify(texts, url=served.server.endpoints.grpc)
    expected = served.reference.probs(texts)
    assert len(predictions) == len(texts)
    np.testing.assert_allclose([prediction.probs for prediction in predictions], expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_classifier_kept_open_answers_call_after_call(served, protocol):
    url = served.server.endpoints.grpc if protocol == "grpc" else served.server.endpoints.http
    batches = [["first call"], [f"second call, text {index}" for index in range(70)], ["third call"]]
    with Classifier(url, protocol=protocol) as classifier:
        answers = [classifier.classify(texts) for texts in batches]
    for texts, predictions in zip(batches, answers):
        np.testing.assert_allclose([p.probs for p in predictions], served.reference.probs(texts), atol=1e-4, rtol=0)


def test_cli_prints_a_label_and_score_per_text(served):
    result = run_client("--url", served.server.endpoints.grpc, "I love this", "I hate mondays")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = served.reference.probs(["I love this", "I hate mondays"])
    for line, text, probs in zip(lines, ["I love this", "I hate mondays"], expected):
        label, score, rest = line.split(maxsplit=2)
        assert (label, rest) == (served.reference.labels[probs.argmax()], text)
        assert float(score) == pytest.approx(probs.max(), abs=1e-3)
    assert len(lines) == 2


def test_cli_json_over_http_from_stdin_and_file(served, tmp_path):
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("from a file\n", encoding="utf-8")
    result = run_client(
        "--protocol", "http", "--url", served.server.endpoints.http, "--json", "--file", str(texts_file), "-",
        stdin="first line\nsecond line\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [answer["text"] for answer in answers] == ["first line", "second line", "from a file"]
    assert all(set(answer) == {"text", "label", "score", "probs"} for answer in answers)


def test_cli_sends_text_that_is_not_utf8_as_given_and_reports_the_server_error(served):
    result = subprocess.run(
        [sys.executable, "-m", "clients", "--url", served.server.endpoints.grpc, "-"],
        cwd=PROJECT, input=b"fine\n\xff\xfe bad\n", capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert b"TEXT[1] is not valid UTF-8" in result.stderr and b"Traceback" not in result.stderr


def test_cli_reports_a_server_error_and_exits_non_zero(served):
    result = run_client("--url", served.server.endpoints.grpc, "--model", "no_such_model", "hello")
    assert result.returncode == 1
    assert "the server answered an error" in result.stderr and "no_such_model" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_server_down_gives_a_clear_error(protocol):
    endpoints = Endpoints.on_free_ports()  # nothing listens there
    url = endpoints.grpc if protocol == "grpc" else endpoints.http
    with pytest.raises(ClientError, match="cannot reach the Triton server"):
        classify(["hello"], url=url, protocol=protocol, timeout=5)
    result = run_client("--protocol", protocol, "--url", url, "hello")
    assert result.returncode == 1 and "cannot reach the Triton server" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_without_texts_is_a_usage_error():
    result = run_client()
    assert result.returncode == 2 and "nothing to classify" in result.stderr
