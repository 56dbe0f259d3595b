"""The evaluator without a server: labelled files, scores (checked against scikit-learn), the data sets,
and how the command line and the suite call the evaluator."""

import contextlib
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn import metrics as sk

from conversion.repository import DEFAULT_PIPELINE, DEFAULT_REPOSITORY
from evaluation import EvaluationError, datasets, labelled, metrics, suite
from evaluation import __main__ as evaluator
from evaluation.labelled import LabelledFileError
from tests.support import write

LABELS = ["negative", "neutral", "positive"]


# --- labelled files -----------------------------------------------------------------------------


def test_reads_csv_tsv_and_jsonl_with_chosen_columns_and_mapped_labels(tmp_path):
    mapping = labelled.parse_mapping(["rotten=negative,fresh=positive"])
    csv_file = write(tmp_path / "a.csv", 'review,verdict\n"Dull, slow",rotten\nA joy,fresh\n')
    tsv_file = write(tmp_path / "a.tsv", "review\tverdict\nDull, slow\trotten\nA joy\tfresh\n")
    jsonl_file = write(tmp_path / "a.jsonl", '{"review": "Dull, slow", "verdict": "rotten"}\n\n{"review": "A joy", "verdict": "fresh"}\n')
    expected = [labelled.Example("Dull, slow", "negative"), labelled.Example("A joy", "positive")]
    for path in (csv_file, tsv_file, jsonl_file):
        assert labelled.read(path, LABELS, "review", "verdict", mapping) == expected, path.name


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", "text,label\nfine,positive\n", None),
        ("a.csv", "text,rating\nfine,3\n", "no column 'label' (columns: text, rating)"),
        ("a.csv", "text,label\nfine,great\n", "label 'great' is not one of the model's labels (negative, neutral, positive); map it with --map great=LABEL"),
        ("a.csv", "text,label\nfine,positive,extra\n", "a.csv:2: the row does not have the header's 2 columns"),
        ("a.jsonl", '{"text": "fine", "label": "positive"}\n{"text": "oops"\n', "a.jsonl:2: not a JSON object"),
        ("a.jsonl", '["fine", "positive"]\n', "a.jsonl:1: not a JSON object"),
        ("a.csv", "text,label\n", "no labelled rows"),
        ("a.xlsx", "whatever", "unknown format '.xlsx'"),
    ],
)
def test_an_unusable_file_is_refused_with_one_line_naming_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    if name != "missing.csv":
        write(path, content)
    with pytest.raises(LabelledFileError) as error:
        labelled.read(path, LABELS)
    assert "\n" not in str(error.value)
    assert (message or "no such file") in str(error.value)


def test_a_pair_column_gives_each_text_its_pair(tmp_path):
    labels = ["entailment", "neutral", "contradiction"]
    jsonl_file = write(tmp_path / "a.jsonl", '{"premise": "It rains.", "hypothesis": "", "label": "neutral"}\n')
    assert labelled.read(jsonl_file, labels, "premise", pair_column="hypothesis") == [labelled.Example("It rains.", "neutral", "")]
    csv_file = write(tmp_path / "a.csv", "text,label\nIt rains.,neutral\n")
    with pytest.raises(LabelledFileError, match="a.csv:2: no column 'hypothesis' \\(columns: text, label\\)"):
        labelled.read(csv_file, labels, pair_column="hypothesis")
    number_file = write(tmp_path / "b.jsonl", '{"text": "It rains.", "pair": 3, "label": "neutral"}\n')
    with pytest.raises(LabelledFileError, match="b.jsonl:1: the pair \\('pair'\\) must be a string"):
        labelled.read(number_file, labels, pair_column="pair")


def test_a_mapping_must_be_pairs():
    with pytest.raises(LabelledFileError, match="is not FILE_LABEL=MODEL_LABEL"):
        labelled.parse_mapping(["rotten"])


# --- scores --------------------------------------------------------------------------------------


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, size=500)
    probs = rng.dirichlet([1, 1, 1], size=500)
    probs[gold == 2] += [0, 0, 0.5]  # some signal, so the scores are not all chance
    probs /= probs.sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    scores = metrics.score(probs, gold, LABELS)
    assert scores["accuracy"] == pytest.approx(sk.accuracy_score(gold, predicted))
    assert scores["macro_f1"] == pytest.approx(sk.f1_score(gold, predicted, average="macro"))
    assert scores["confusion"] == sk.confusion_matrix(gold, predicted).tolist()
    precision, recall, _, support = sk.precision_recall_fscore_support(gold, predicted)
    for index, label in enumerate(LABELS):
        assert scores["per_label"][label]["precision"] == pytest.approx(precision[index])
        assert scores["per_label"][label]["recall"] == pytest.approx(recall[index])
        assert scores["per_label"][label]["support"] == support[index]
    bins = scores["calibration"]["bins"]
    assert sum(b["count"] for b in bins) == 500


def test_macro_f1_averages_only_the_labels_in_the_gold_set_and_polarity_ignores_neutral():
    gold = np.array([0, 0, 2, 2])  # a binary file scored by a three-label model
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    scores = metrics.score(probs, gold, LABELS)
    assert scores["accuracy"] == 0.5
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)  # negative and positive: P 1, R 0.5 each
    # Positive against negative only: text 2 (negative) leans positive, 0.3 > 0.2, and text 4
    # (positive) is a tie, which does not count as positive.
    assert scores["polarity"] == {"accuracy": 0.5, "count": 4}


def test_a_perfectly_calibrated_model_has_no_calibration_error():
    probs = np.array([[1.0, 0.0, 0.0]] * 4 + [[0.0, 0.0, 1.0]] * 4)
    gold = np.array([0] * 4 + [2] * 4)
    assert metrics.calibration(probs, gold)["expected_calibration_error"] == 0.0
    overconfident = metrics.calibration(probs, np.array([0, 1] * 4))
    assert overconfident["expected_calibration_error"] == pytest.approx(0.5 * 1.0 + 0.5 * 1.0 - 0.5 * 0.5 - 0.5 * 0.0)


# --- against a live server -----------------------------------------------------------------------


# --- data sets (the parts that need no download) ------------------------------------------------


def test_ratings_become_labels_with_a_neutral_band():
    assert [datasets.rating_label(r) for r in (-2.1, -0.5, -0.49, 0.0, 0.49, 0.5, 3.0)] == [
        "negative", "negative", "neutral", "neutral", "neutral", "positive", "positive"
    ]  # fmt: skip


def test_cross_domain_files_drop_every_text_that_training_sees_and_splits_are_stable():
    tweets = [datasets.Row(f"tweet {i}", "positive", "1.5") for i in range(200)]
    shared = tweets[0].text if not datasets.in_test_split(tweets[0].text) else tweets[1].text
    movie = [datasets.Row(shared, "positive", "2"), datasets.Row("a film apart", "negative", "-2"), datasets.Row("", "neutral", "0")]
    plots = [[datasets.Row(f"Plot {p} sentence {s} goes on here.", "neutral") for s in range(3)] for p in range(40)]
    written = datasets.files({"tweets": tweets, "movie-review-snippets": movie}, plots)
    assert [row.text for row in written["movie-review-snippets.csv"]] == ["a film apart"], "the shared and the empty text go"
    train, test = written["tweets-train.csv"], written["tweets-test.csv"]
    assert len(train) + len(test) == 200 and 20 <= len(test) <= 60
    assert written == datasets.files({"tweets": tweets, "movie-review-snippets": movie}, plots), "the same split every time"
    plot_of = lambda row: row.text.split(" sentence")[0]  # noqa: E731
    assert not {plot_of(r) for r in written["plot-sentences-train.csv"]} & {plot_of(r) for r in written["plot-sentences-test.csv"]}


def test_plot_summaries_are_cut_into_sentences_of_five_to_forty_words():
    text = 'Anna (Jane Doe) moves to Paris. She meets "Bob", a painter! Why? Together they open a small bakery in town... The end.'
    assert datasets.sentences(text) == ["Anna (Jane Doe) moves to Paris.", 'She meets "Bob", a painter!']


def test_the_suites_batched_eager_values_are_the_pipelines_values_one_text_at_a_time():
    """Padded batches sorted by length give what EagerClassifier.probs (the served postprocess code) gives."""
    texts = ["I love this", "meh", "The delivery was late again and nobody answered my emails", ""]
    eager = suite.zero_shot_classifier(["negative", "neutral", "positive"], 64)
    np.testing.assert_allclose(suite.batched_probs(eager, texts, batch=2), eager.probs(texts), atol=1e-5, rtol=0)


# --- calling the evaluator ----------------------------------------------------------------------


def canned_result(file: Path) -> dict:
    """What evaluate returns for `file`: 3 of 4 texts right."""
    scores = metrics.score(np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 1]), LABELS)
    return {"name": file.stem, "file": str(file), "pipeline": DEFAULT_PIPELINE, "server": "127.0.0.1:1", "labels": LABELS,
            "scores": scores, "rejected": {}, "agreement": None}  # fmt: skip


@pytest.fixture
def evaluate_calls(monkeypatch) -> list[dict]:
    """evaluate's arguments by name, one entry a call; each call answers canned_result."""
    calls, signature = [], inspect.signature(evaluator.evaluate)

    def evaluate(*args, **kwargs) -> dict:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return canned_result(bound.arguments["file"])

    monkeypatch.setattr(evaluator, "evaluate", evaluate)
    return calls


DEFAULTS = {"model_repository": DEFAULT_REPOSITORY, "model": DEFAULT_PIPELINE, "text_column": "text", "label_column": "label",
            "pair_column": None, "label_map": [], "url": None, "protocol": "grpc", "eager": True}  # fmt: skip


def test_the_command_line_hands_its_flags_to_evaluate_writes_the_report_and_exits_1_on_a_missed_threshold(tmp_path, evaluate_calls):
    file, output = tmp_path / "pairs.jsonl", tmp_path / "out"
    argv = [str(file), "--model", "nli", "--text-column", "premise", "--pair-column", "hypothesis", "--map", "a=b", "--map", "c=d",
            "--url", "127.0.0.1:1", "--protocol", "http", "--no-eager", "--output", str(output), "--min-accuracy", "0.8"]  # fmt: skip
    assert evaluator.main(argv) == 1
    assert evaluate_calls == [{**DEFAULTS, "file": file, "model": "nli", "text_column": "premise", "pair_column": "hypothesis",
                               "label_map": ["a=b", "c=d"], "url": "127.0.0.1:1", "protocol": "http", "eager": False}]  # fmt: skip
    assert json.loads((output / "results.json").read_text()) == canned_result(file)
    assert {"report.md", "confusion.png", "reliability.png"} <= {path.name for path in output.iterdir()}
    assert evaluator.main([str(file), "--output", str(output)]) == 0
    assert evaluate_calls[-1] == {**DEFAULTS, "file": file}


def test_the_command_line_exits_2_with_one_line_when_the_evaluation_cannot_go_on(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise EvaluationError("cannot read pipeline 'x'")

    monkeypatch.setattr(evaluator, "evaluate", refuse)
    assert evaluator.main([str(tmp_path / "few.csv"), "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == "evaluation: cannot read pipeline 'x'\n"
    assert not (tmp_path / "out").exists()


def test_the_suite_evaluates_every_data_set_against_one_server_and_writes_each_report(tmp_path, monkeypatch, evaluate_calls):
    server = SimpleNamespace(endpoints=SimpleNamespace(host="127.0.0.1", grpc_port=8001))
    monkeypatch.setattr(suite, "start_on_free_ports", lambda *args: contextlib.nullcontext(server))
    args = suite.parse_args(["--data", str(tmp_path / "data"), "--output", str(tmp_path / "out"), "--model-repository", "repo"])

    results = suite.served(args)
    files = [tmp_path / "data" / f"{name}.csv" for name in suite.SETS]
    assert list(results) == list(suite.SETS) and [call["file"] for call in evaluate_calls] == files
    assert all(call["url"] == "127.0.0.1:8001" and call["model_repository"] == Path("repo") and call["eager"] for call in evaluate_calls)
    assert [call["label_map"] for call in evaluate_calls] == list(suite.SETS.values())
    assert labelled.parse_mapping(suite.SETS["rotten-tomatoes-test"]) == {"fresh": "positive", "rotten": "negative"}
    for (name, result), file in zip(results.items(), files):
        assert json.loads((tmp_path / "out" / name / "results.json").read_text()) == result == canned_result(file)


def test_the_suite_stops_at_a_data_set_the_evaluator_cannot_score(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise EvaluationError("no labelled rows")

    server = SimpleNamespace(endpoints=SimpleNamespace(host="127.0.0.1", grpc_port=8001))
    monkeypatch.setattr(suite, "start_on_free_ports", lambda *args: contextlib.nullcontext(server))
    monkeypatch.setattr(evaluator, "evaluate", refuse)
    with pytest.raises(RuntimeError, match="the evaluation of tweets-test failed") as raised:
        suite.served(suite.parse_args(["--output", str(tmp_path / "out")]))
    assert str(raised.value.__cause__) == "no labelled rows" and not (tmp_path / "out").exists()
