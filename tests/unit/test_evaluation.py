"""The evaluator without a server: labelled files, scores (checked against scikit-learn), the data sets."""

import numpy as np
import pytest
from sklearn import metrics as sk

from evaluation import datasets, labelled, metrics, suite
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

