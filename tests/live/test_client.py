"""The client CLI and classify() against a real server, and when there is none; text pairs and
named pipelines against a server of several pipelines."""

import json
import subprocess
import sys

import numpy as np
import pytest

from clients import Classifier, ClientError, classify
from harness.eager import EagerClassifier
from server import free_endpoints
from tests.support import PROJECT

PAIRS = [
    ("A man is playing a guitar.", "A person plays music."),
    ("A man is playing a guitar.", "Nobody is making any sound."),
    ("", "An empty text with a pair"),
    ("Das Wetter ist heute schön.", ""),
    ("今日はとても良い天気ですね。", "It is sunny 🌞"),
]


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
    endpoints = free_endpoints()  # nothing listens there
    url = endpoints.grpc if protocol == "grpc" else endpoints.http
    with pytest.raises(ClientError, match="cannot reach the Triton server"):
        classify(["hello"], url=url, protocol=protocol, timeout=5)
    result = run_client("--protocol", protocol, "--url", url, "hello")
    assert result.returncode == 1 and "cannot reach the Triton server" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_without_texts_is_a_usage_error():
    result = run_client()
    assert result.returncode == 2 and "nothing to classify" in result.stderr


# --- text pairs and named pipelines --------------------------------------------------------------


@pytest.fixture(scope="module")
def pipelines(several_pipelines_repository, start_triton):
    """One server for this module: `sentiment` beside pair, multi-label and regression pipelines."""
    server = start_triton(several_pipelines_repository)
    yield server
    server.stop()  # the module's server, not the session's


@pytest.fixture(scope="module")
def references(several_pipelines_repository):
    return {name: EagerClassifier.from_repository(several_pipelines_repository, name) for name in ("nli", "rerank")}


def url_of(server, protocol: str) -> str:
    return server.endpoints.grpc if protocol == "grpc" else server.endpoints.http


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("pipeline", ["nli", "rerank"])
def test_pairs_go_as_text_pair_and_match_eager_pytorch(pipelines, references, pipeline, protocol):
    texts, pairs = (list(column) for column in zip(*PAIRS))
    predictions = classify(texts, url=url_of(pipelines, protocol), protocol=protocol, model=pipeline, pairs=pairs)

    reference = references[pipeline]
    expected = reference.probs(PAIRS)
    assert [(p.text, p.pair) for p in predictions] == PAIRS
    for prediction, values in zip(predictions, expected):
        assert prediction.label == reference.labels[values.argmax()]
        assert prediction.score == pytest.approx(values.max(), abs=1e-4)
        assert prediction.probs == pytest.approx(values.tolist(), abs=1e-4)
    assert len(predictions[0].probs) == len(reference.labels)  # rerank: one sigmoid value


def test_a_pair_pipeline_takes_single_texts_too_and_pairs_are_chunked(pipelines, references):
    texts = [f"premise number {index}" for index in range(150)]
    pairs = [f"hypothesis {index % 7}" for index in range(150)]
    with Classifier(pipelines.endpoints.grpc, model="nli") as classifier:
        assert classifier.max_batch_size < len(texts)
        paired, single = classifier.classify(texts, pairs), classifier.classify(texts[:3])
    np.testing.assert_allclose([p.probs for p in paired], references["nli"].probs(list(zip(texts, pairs))), atol=1e-4, rtol=0)
    np.testing.assert_allclose([p.probs for p in single], references["nli"].probs(texts[:3]), atol=1e-4, rtol=0)
    assert [p.pair for p in single] == [None] * 3 and paired[149].pair == "hypothesis 2"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_pairs_for_a_single_text_pipeline_are_refused_before_sending(pipelines, protocol):
    with Classifier(url_of(pipelines, protocol), protocol=protocol) as classifier:  # the default, `sentiment`
        with pytest.raises(ClientError, match=r"pipeline 'sentiment' takes single texts, not pairs \(it has no TEXT_PAIR input\)"):
            classifier.classify(["I love this"], ["a pair"])
        with pytest.raises(ValueError, match="2 texts but 1 pairs"):
            classifier.classify(["one", "two"], ["only one pair"])
        assert classifier.classify(["I love this"])[0].pair is None, "the connection is still good"


def test_cli_sends_pairs_from_arguments_and_prints_each_pair(pipelines, references):
    arguments = [text for pair in PAIRS[:2] for text in pair]
    result = run_client("--url", pipelines.endpoints.grpc, "--model", "nli", "--pairs", *arguments)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, (text, pair), values in zip(lines, PAIRS, references["nli"].probs(PAIRS[:2])):
        label, score, rest = line.split(maxsplit=2)
        assert (label, rest) == (references["nli"].labels[values.argmax()], f"{text}\t{pair}")
        assert float(score) == pytest.approx(values.max(), abs=1e-3)


def test_cli_reads_tab_separated_pairs_from_stdin_and_file_over_http(pipelines, references, tmp_path):
    pairs_file = tmp_path / "pairs.tsv"
    pairs_file.write_text("".join(f"{text}\t{pair}\n" for text, pair in PAIRS[2:]), encoding="utf-8")
    result = run_client(
        "--protocol", "http", "--url", pipelines.endpoints.http, "--model", "rerank", "--pairs", "--json",
        "-", "--file", str(pairs_file), stdin="".join(f"{text}\t{pair}\n" for text, pair in PAIRS[:2]),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [(answer["text"], answer["pair"]) for answer in answers] == PAIRS
    np.testing.assert_allclose([answer["probs"] for answer in answers], references["rerank"].probs(PAIRS), atol=1e-4, rtol=0)


def test_cli_refuses_pairs_for_a_single_text_pipeline_in_one_line(pipelines):
    result = run_client("--url", pipelines.endpoints.grpc, "--model", "toxicity", "--pairs", "a text", "its pair")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "error: pipeline 'toxicity' takes single texts, not pairs (it has no TEXT_PAIR input): "
        "send the texts alone, or call a pipeline converted with --pairs"
    )
