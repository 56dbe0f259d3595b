"""The evaluator against a live server: scores, agreement with eager PyTorch, one-line errors, a server of
its own, named pipelines (a pair pipeline from a column of pairs; heads it cannot score refused), and the
evaluation suite's served scores, every data set against one server."""

import json
import shutil
import socket

import pytest

import evaluation.__main__ as evaluation_cli
from evaluation import suite
from conversion.repository import Pipeline, Repository
from harness.eager import EagerClassifier
from tests.support import write
from tests.texts import PARITY_TEXTS


def labelled_file(served, path, wrong: int):
    """PARITY_TEXTS labelled with the eager model's own labels, except `wrong` of them; and a rejected text."""
    labels = Repository(served.server.repository).pipeline().labels()
    eager = served.reference.logits(PARITY_TEXTS).argmax(axis=1)
    rows = []
    for index, (text, label) in enumerate(zip(PARITY_TEXTS, eager)):
        label = (label + 1) % len(labels) if index < wrong else label
        rows.append({"text": text, "label": labels[label]})
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    lines.insert(3, '{"text": "broken \\ud800 surrogate", "label": "%s"}' % labels[0])  # not valid UTF-8 once encoded
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def grpc_url(served) -> str:
    return f"127.0.0.1:{served.server.endpoints.grpc_port}"


def test_scores_the_served_model_and_agrees_with_eager(served, tmp_path, capsys):
    path = labelled_file(served, tmp_path / "texts.jsonl", wrong=5)
    argv = [str(path), "--url", grpc_url(served), "--model-repository", str(served.server.repository), "--output", str(tmp_path / "out")]
    assert evaluation_cli.main([*argv, "--model", "sentiment", "--min-accuracy", "0.7"]) == 0
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["pipeline"] == "sentiment"
    count = len(PARITY_TEXTS)
    assert result["scores"]["count"] == count
    assert result["scores"]["accuracy"] == pytest.approx((count - 5) / count)
    assert list(result["rejected"]) == ["3"] and "not valid UTF-8" in result["rejected"]["3"]
    assert result["agreement"]["count"] == count and result["agreement"]["same_label"] == count
    assert result["agreement"]["max_abs_difference"] <= 1e-4
    assert sum(map(sum, result["scores"]["confusion"])) == count
    for name in ("report.md", "confusion.png", "reliability.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    capsys.readouterr()
    assert evaluation_cli.main([*argv, "--no-eager", "--min-accuracy", "0.9"]) == 1
    assert "threshold missed: accuracy 0.783 < 0.9" in capsys.readouterr().err


def test_a_down_server_and_a_bad_file_exit_2_with_one_line(served, tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    path = labelled_file(served, tmp_path / "texts.jsonl", wrong=0)
    repository = ["--model-repository", str(served.server.repository), "--output", str(tmp_path / "out")]
    assert evaluation_cli.main([str(path), "--url", f"127.0.0.1:{closed_port}", *repository]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("evaluation: cannot reach the Triton server") and "\n" not in error
    bad = write(tmp_path / "bad.csv", "text,label\nfine,glorious\n")
    assert evaluation_cli.main([str(bad), "--url", grpc_url(served), *repository]) == 2
    assert "label 'glorious' is not one of the model's labels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "no report for a run that could not score"


def test_starts_its_own_server_when_no_url_is_given(tiny_roberta_repository, tmp_path):
    labels = Repository(tiny_roberta_repository).pipeline().labels()
    path = write(tmp_path / "few.csv", "text,label\n" + "".join(f"text number {i},{labels[i % len(labels)]}\n" for i in range(6)))
    output = tmp_path / "out"
    assert evaluation_cli.main([str(path), "--model-repository", str(tiny_roberta_repository), "--output", str(output), "--protocol", "http"]) == 0
    result = json.loads((output / "results.json").read_text())
    assert result["scores"]["count"] == 6 and result["agreement"]["same_label"] == 6


@pytest.mark.parametrize(
    "options, message",
    [
        (["--model", "rerank"], "pipeline 'rerank' gives sigmoid values (a multi-label or one-logit head), not softmax probabilities: "
                                "the evaluator's metrics (accuracy, calibration, polarity) are for single-label classifiers"),
        (["--model", "toxicity"], "pipeline 'toxicity' gives sigmoid values (a multi-label or one-logit head), not softmax"),
        (["--model", "rating"], "pipeline 'rating' gives raw values (a regression head), not softmax probabilities"),
        (["--model", "nli"], "pipeline 'nli' classifies text pairs: name the file's column of pairs with --pair-column"),
        (["--pair-column", "pair"], "pipeline 'sentiment' takes single texts, not pairs: leave out --pair-column"),
        (["--model", "nope"], "holds no pipeline 'nope' (its pipelines: intents, nli, rating, rerank, sentiment, topics, toxicity)"),
        (["--model", "topics"], "pipeline 'topics' is zero-shot: its labels are chosen per request"),
    ],
)  # fmt: skip
def test_a_pipeline_the_evaluator_cannot_score_is_refused_in_one_line(several_pipelines_repository, tmp_path, capsys, options, message):
    path = write(tmp_path / "few.csv", "text,pair,label\nfine,also fine,whatever\n")
    nowhere = ["--url", "127.0.0.1:9", "--output", str(tmp_path / "out")]  # refused before any server is asked
    assert evaluation_cli.main([str(path), "--model-repository", str(several_pipelines_repository), *nowhere, *options]) == 2
    error = capsys.readouterr().err
    assert error.startswith("evaluation: ") and message in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_evaluates_a_pair_pipeline_from_a_column_of_pairs(several_pipelines_repository, tmp_path):
    """The nli pipeline alone, served by the evaluator's own server, scored on pairs labelled by eager PyTorch."""
    repository = tmp_path / "model_repository"
    for model in Pipeline(several_pipelines_repository, "nli").models:
        shutil.copytree(several_pipelines_repository / model, repository / model)
    eager = EagerClassifier.from_repository(repository, "nli")
    pairs = [(text, hypothesis) for text in PARITY_TEXTS[:12] for hypothesis in ("It is about the weather.", "")]
    gold = eager.probs(pairs).argmax(axis=1)
    rows = [{"premise": text, "hypothesis": pair, "label": eager.labels[label]} for (text, pair), label in zip(pairs, gold)]
    path = write(tmp_path / "nli.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    output = tmp_path / "out"
    options = ["--model", "nli", "--text-column", "premise", "--pair-column", "hypothesis", "--output", str(output)]
    assert evaluation_cli.main([str(path), "--model-repository", str(repository), *options]) == 0
    result = json.loads((output / "results.json").read_text())
    assert result["pipeline"] == "nli" and result["labels"] == eager.labels
    assert result["scores"]["count"] == len(pairs) and result["scores"]["accuracy"] == 1.0
    assert result["agreement"]["same_label"] == len(pairs) and result["agreement"]["max_abs_difference"] <= 1e-4
    assert "pipeline nli, served by a server started from" in (output / "report.md").read_text()


def test_the_suite_scores_every_data_set_against_one_server_with_each_sets_label_mapping(tiny_roberta_repository, tmp_path):
    labels = Repository(tiny_roberta_repository).pipeline().labels()
    data = tmp_path / "data"
    data.mkdir()
    for name in suite.SETS:
        gold = ["fresh", "rotten"] if name == "rotten-tomatoes-test" else labels  # that set's labels are mapped
        write(data / f"{name}.csv", "text,label\n" + "".join(f"text {i} of {name},{gold[i % len(gold)]}\n" for i in range(4)))
    args = suite.parse_args(["--data", str(data), "--output", str(tmp_path / "out"), "--model-repository", str(tiny_roberta_repository)])
    results = suite.served(args)
    assert list(results) == list(suite.SETS)
    for name, result in results.items():
        assert result["scores"]["count"] == 4 and result["agreement"]["same_label"] == 4, name
        assert json.loads((tmp_path / "out" / name / "results.json").read_text()) == result
