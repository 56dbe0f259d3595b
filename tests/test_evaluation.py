"""The evaluator: labelled files, scores (checked against scikit-learn), and runs against a live server."""

import json
import socket

import numpy as np
import pytest
from sklearn import metrics as sk

import evaluation.__main__ as evaluation_cli
from evaluation import datasets, labelled, metrics
from evaluation.labelled import LabelledFileError
from tests.texts import PARITY_TEXTS

LABELS = ["negative", "neutral", "positive"]


# --- labelled files -----------------------------------------------------------------------------


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


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


def labelled_file(served, path, wrong: int):
    """PARITY_TEXTS labelled with the eager model's own labels, except `wrong` of them; and a rejected text."""
    labels = json.loads((served.server.repository / "postprocess" / "1" / "labels.json").read_text())
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
    assert evaluation_cli.main([*argv, "--min-accuracy", "0.7"]) == 0
    result = json.loads((tmp_path / "out" / "results.json").read_text())
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
    labels = json.loads((tiny_roberta_repository / "postprocess" / "1" / "labels.json").read_text())
    path = write(tmp_path / "few.csv", "text,label\n" + "".join(f"text number {i},{labels[i % len(labels)]}\n" for i in range(6)))
    output = tmp_path / "out"
    assert evaluation_cli.main([str(path), "--model-repository", str(tiny_roberta_repository), "--output", str(output), "--protocol", "http"]) == 0
    result = json.loads((output / "results.json").read_text())
    assert result["scores"]["count"] == 6 and result["agreement"]["same_label"] == 6


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
