"""python -m evaluation.suite (`make eval`): the served default model on every prepared data set,
beside VADER's lexicon and the zero-shot head.

Writes evaluation/results/<data set>/ (the evaluator's report for each) and
evaluation/results/report.md (the comparison table).
"""

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from conversion.repository import Repository, add_repository_argument
from harness.model_code import postprocessing
from server import start_on_free_ports

from . import datasets, labelled, metrics
from . import __main__ as evaluator

log = logging.getLogger("evaluation.suite")

# Data set → its label mapping, as the evaluator's --map takes it. tweets, Rotten Tomatoes and plot
# sentences are the training domains (held-out splits); the snippets come from outside them.
SETS = {
    "tweets-test": [],
    "rotten-tomatoes-test": ["fresh=positive,rotten=negative"],
    "plot-sentences-test": [],
    "movie-review-snippets": [],
    "amazon-review-snippets": [],
    "nyt-editorial-snippets": [],
}
VADER_NEUTRAL = 0.05  # VADER's documented compound threshold for neutral


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation.suite", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--data", type=Path, default=datasets.DATA)
    parser.add_argument("--output", type=Path, default=Path("evaluation/results"))
    return parser.parse_args(argv)


def examples(data: Path, name: str, labels: list[str]) -> list[labelled.Example]:
    return labelled.read(data / f"{name}.csv", labels, mapping=labelled.parse_mapping(SETS[name]))


def vader_scores(analyzer, texts: list[str], gold: np.ndarray, labels: list[str]) -> dict:
    """VADER's label from its compound score (±0.05), and polarity from the compound's sign."""
    compound = np.array([analyzer.polarity_scores(text)["compound"] for text in texts])
    chosen = np.where(compound >= VADER_NEUTRAL, labels.index("positive"),
                      np.where(compound <= -VADER_NEUTRAL, labels.index("negative"), labels.index("neutral")))  # fmt: skip
    scores = metrics.score(np.eye(len(labels))[chosen], gold, labels)
    signed = np.zeros((len(texts), len(labels)))
    signed[:, labels.index("positive")], signed[:, labels.index("negative")] = compound, -compound
    scores["polarity"] = metrics.polarity_accuracy(signed, gold, labels)
    return scores


def zero_shot_classifier(labels: list[str], max_length: int):
    """The previous default, eager: all-MiniLM-L6-v2 with the committed label prototypes."""
    from conversion import zero_shot
    from conversion.checkpoint import default_model_folder
    from harness.eager import EagerClassifier

    eager = EagerClassifier.prototype_classifier(default_model_folder(), zero_shot.DEFAULT_PROTOTYPES, max_length)
    if eager.labels != labels:
        raise RuntimeError(f"the zero-shot head's labels {eager.labels} differ from the served {labels}")
    return eager


def batched_probs(eager, texts: list[str], batch: int = 64) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    probs = np.zeros((len(texts), len(eager.labels)))
    with torch.no_grad():
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            encoded = eager.tokenizer([texts[i] for i in chosen], padding=True, truncation=True,
                                      max_length=eager.max_length, return_tensors="pt")  # fmt: skip
            logits = eager.forward(encoded["input_ids"], encoded["attention_mask"]).numpy()
            probs[chosen] = postprocessing.apply(eager.function, logits)  # what the served postprocess computes
    return probs


def served(args: argparse.Namespace) -> dict[str, dict]:
    """The evaluator's result for each data set, against one server started for all of them."""
    results = {}
    log_file = Path(tempfile.mkdtemp(prefix="evaluation-")) / "server.log"
    with start_on_free_ports(args.model_repository.resolve(), log_file) as server:
        url = f"{server.endpoints.host}:{server.endpoints.grpc_port}"
        for name, label_map in SETS.items():
            log.info("%s: served", name)
            try:
                results[name] = evaluator.evaluate(args.data / f"{name}.csv", args.model_repository, label_map=label_map, url=url)
            except evaluator.FAILURES as error:
                raise RuntimeError(f"the evaluation of {name} failed") from error
            evaluator.write_report(results[name], args.output / name)
    return results


def cell(scores: dict) -> str:
    polarity = f"{scores['polarity']['accuracy']:.3f}" if scores["polarity"] else "–"
    return f"{scores['accuracy']:.3f} / {scores['macro_f1']:.3f} / {polarity}"


def table(rows: list[dict]) -> str:
    lines = [
        "# The served default model on labelled data",
        "",
        "Each cell: accuracy / macro-F1 / polarity accuracy (positive against negative, on the texts rated either).",
        "",
        "| data set | texts | VADER lexicon | zero-shot head (previous default) | served default | served = eager labels | largest probability difference |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    for row in rows:
        agreement = row["served"]["agreement"]
        lines.append(
            f"| {row['name']} | {row['served']['scores']['count']} | {cell(row['vader'])} | {cell(row['zero_shot'])} | "
            f"{cell(row['served']['scores'])} | {agreement['same_label']} of {agreement['count']} | {agreement['max_abs_difference']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if not (args.data / "PROVENANCE.md").is_file():
        datasets.prepare(args.data)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    labels = evaluator.model_labels(args.model_repository)
    results = served(args)
    # The zero-shot head reads texts as far as the served model does.
    max_length = Repository(args.model_repository).pipeline().manifest().max_length
    vader, zero_shot = SentimentIntensityAnalyzer(), zero_shot_classifier(labels, max_length)
    rows = []
    for name in SETS:
        chosen = examples(args.data, name, labels)
        texts, gold = [e.text for e in chosen], np.array([labels.index(e.label) for e in chosen])
        log.info("%s: VADER and the zero-shot head", name)
        rows.append({"name": name, "served": results[name], "vader": vader_scores(vader, texts, gold, labels),
                     "zero_shot": metrics.score(batched_probs(zero_shot, texts), gold, labels)})  # fmt: skip
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "report.md").write_text(table(rows))
    (args.output / "comparison.json").write_text(json.dumps(
        [{"name": r["name"], "vader": r["vader"], "zero_shot": r["zero_shot"], "served": r["served"]["scores"],
          "agreement": r["served"]["agreement"]} for r in rows], indent=2) + "\n")  # fmt: skip
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
