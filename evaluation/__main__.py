"""python -m evaluation FILE: how a served classifier does on a labelled file.

Every text goes through the live server's ensemble of pipeline --model (default `sentiment`; a
server this command starts from --model-repository, or the one at --url); the answers are scored
against the file's labels and compared with eager PyTorch on the same texts. The scores (accuracy,
macro-F1, calibration, polarity) are those of a single-label classifier, so only pipelines whose
values are softmax probabilities can be evaluated; a pair pipeline reads each text's pair from
--pair-column. Writes report.md, results.json, confusion.png and reliability.png; exits 1 when a
--min-* threshold is missed, 2 when the file, the pipeline or the server is unusable.

  python -m evaluation data/tweets-test.csv
  python -m evaluation reviews.tsv --map rotten=negative,fresh=positive --min-polarity-accuracy 0.8
  python -m evaluation reviews.jsonl --url 127.0.0.1:8001 --no-eager
  python -m evaluation nli.jsonl --model nli --text-column premise --pair-column hypothesis
"""

import argparse
import contextlib
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from clients.classify import ClientError, classify
from conversion.repository import DEFAULT_PIPELINE, DEFAULT_REPOSITORY, Repository, RepositoryError, add_repository_argument
from server import ServerFailed, start_on_free_ports

from . import EvaluationError, labelled, metrics, report
from .served import served_probabilities

log = logging.getLogger("evaluation")

THRESHOLDS = {"accuracy": ("accuracy",), "macro_f1": ("macro_f1",), "polarity_accuracy": ("polarity", "accuracy")}
FAILURES = (EvaluationError, ClientError, ServerFailed)  # what stops an evaluation with one line (exit 2)
TEXT_COLUMN, LABEL_COLUMN, PROTOCOL = "text", "label", "grpc"  # defaults of the command line and of evaluate()


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path, help="labelled .csv, .tsv or .jsonl")
    parser.add_argument("--model", default=DEFAULT_PIPELINE, metavar="NAME", help="the pipeline to evaluate (default: %(default)s)")
    parser.add_argument("--text-column", default=TEXT_COLUMN)
    parser.add_argument("--label-column", default=LABEL_COLUMN)
    parser.add_argument("--pair-column", metavar="COLUMN", help="each text's pair (TEXT_PAIR), for a pipeline of text pairs")
    parser.add_argument("--map", action="append", default=[], metavar="FILE_LABEL=MODEL_LABEL",
                        help="rename the file's labels, e.g. rotten=negative,fresh=positive (repeatable)")  # fmt: skip
    parser.add_argument("--url", help="a running server (host:port of its gRPC or HTTP endpoint); default: start one")
    parser.add_argument("--protocol", choices=["grpc", "http"], default=PROTOCOL)
    add_repository_argument(parser, help="the model repository served (its labels, the eager reference, the server started)")
    parser.add_argument("--no-eager", action="store_true", help="skip the comparison with eager PyTorch")
    parser.add_argument("--output", type=Path, help="report folder (default: evaluation/results/<file name>)")
    for name in THRESHOLDS:
        parser.add_argument(f"--min-{name.replace('_', '-')}", type=fraction, metavar="X", help=f"exit 1 if {name} < X")
    return parser.parse_args(argv)


@contextlib.contextmanager
def server_url(url: str | None, model_repository: Path, protocol: str):
    """`url`, or the gRPC/HTTP address of a server started here from `model_repository` for the duration."""
    if url:
        yield url
        return
    log_file = Path(tempfile.mkdtemp(prefix="evaluation-")) / "server.log"
    log.info("starting a server for %s (log: %s)", model_repository, log_file)
    with start_on_free_ports(model_repository.resolve(), log_file) as server:
        endpoints = server.endpoints
        yield f"{endpoints.host}:{endpoints.grpc_port if protocol == 'grpc' else endpoints.http_port}"


def eager_agreement(repository: Path, pipeline: str, items: list, served: np.ndarray, scored: np.ndarray) -> dict:
    """Label agreement and largest probability difference between served and eager PyTorch, on the
    scored texts (or (text, pair) tuples)."""
    from harness.eager import EagerClassifier  # torch and transformers: only when comparing

    try:
        eager = EagerClassifier.from_repository(repository, pipeline)
    except (OSError, ValueError, KeyError) as error:
        raise EvaluationError(f"cannot load the eager reference for {repository} (use --no-eager to skip it): {error}") from None
    chosen = [items[index] for index in np.flatnonzero(scored)]
    probs = np.concatenate([eager.probs([item]) for item in tqdm(chosen, desc="eager", unit="text", leave=False)])
    return {
        "count": len(chosen),
        "same_label": int((probs.argmax(axis=1) == served[scored].argmax(axis=1)).sum()),
        "max_abs_difference": float(np.abs(probs - served[scored]).max()),
    }


def missed_thresholds(args: argparse.Namespace, scores: dict) -> list[str]:
    missed = []
    for name, path in THRESHOLDS.items():
        threshold = getattr(args, f"min_{name}")
        if threshold is None:
            continue
        value = scores
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            missed.append(f"{name} cannot be measured on this file (needs positive and negative texts)")
        elif value < threshold:
            missed.append(f"{name} {value:.3f} < {threshold}")
    return missed


VALUES = {"sigmoid": "sigmoid values (a multi-label or one-logit head)", "none": "raw values (a regression head)"}


def model_labels(repository: Path, name: str = DEFAULT_PIPELINE, pair_column: str | None = None) -> list[str]:
    """Pipeline `name`'s labels, once it is known to be a pipeline the evaluator can score this way."""
    files = Repository(repository)
    try:
        converted = files.pipelines()
        if name not in converted:
            raise EvaluationError(f"{repository} holds no pipeline {name!r} (its pipelines: {', '.join(converted) or 'none'})")
        pipeline = files.pipeline(name)
        manifest, labels = pipeline.manifest(), pipeline.labels()
    except (OSError, ValueError, RepositoryError) as error:
        raise EvaluationError(f"cannot read pipeline {name!r} of {repository}: {error}") from None
    if manifest.zero_shot:
        raise EvaluationError(
            f"pipeline {name!r} is zero-shot: its labels are chosen per request, and the evaluator scores pipelines with labels of their own"
        )
    if manifest.function != "softmax":
        raise EvaluationError(
            f"pipeline {name!r} gives {VALUES.get(manifest.function, manifest.function)}, not softmax probabilities: "
            "the evaluator's metrics (accuracy, calibration, polarity) are for single-label classifiers"
        )
    if manifest.pairs and pair_column is None:
        raise EvaluationError(f"pipeline {name!r} classifies text pairs: name the file's column of pairs with --pair-column")
    if pair_column is not None and not manifest.pairs:
        raise EvaluationError(f"pipeline {name!r} takes single texts, not pairs: leave out --pair-column")
    return labels


def check_label_order(answers, labels: list[str], url: str) -> None:
    for label, row in zip(answers.labels, answers.probs):
        if label is not None and label != labels[int(np.argmax(row))]:
            raise EvaluationError(f"the server at {url} answers labels in another order than {labels}: is it serving --model-repository?")


def evaluate(
    file: Path,
    model_repository: Path = DEFAULT_REPOSITORY,
    model: str = DEFAULT_PIPELINE,
    *,
    text_column: str = TEXT_COLUMN,
    label_column: str = LABEL_COLUMN,
    pair_column: str | None = None,
    label_map: Sequence[str] = (),
    url: str | None = None,
    protocol: str = PROTOCOL,
    eager: bool = True,
) -> dict:
    """Pipeline `model`'s scores on the labelled `file` (results.json's record), served at `url` or by a server
    started from `model_repository`; `label_map` as --map takes it. Raises one of FAILURES when it cannot score."""
    labels = model_labels(model_repository, model, pair_column)
    mapping = labelled.parse_mapping(label_map)
    examples = labelled.read(file, labels, text_column, label_column, mapping, pair_column)
    texts = [example.text for example in examples]
    pairs = None if pair_column is None else [example.pair for example in examples]
    with server_url(url, model_repository, protocol) as address:
        # Reachable and serving the pipeline (taking pairs, if sent), before any progress bar.
        classify([], url=address, protocol=protocol, model=model, pairs=None if pairs is None else [])
        with tqdm(total=len(texts), desc="served", unit="text") as bar:
            answers = served_probabilities(texts, len(labels), address, protocol, bar.update, model=model, pairs=pairs)
    scored = np.array([index not in answers.rejected for index in range(len(texts))])
    if not scored.any():
        raise EvaluationError(f"the server rejected every text of {file}, e.g. {next(iter(answers.rejected.values()))}")
    check_label_order(answers, labels, address)
    gold = np.array([labels.index(example.label) for example in examples])
    items = texts if pairs is None else list(zip(texts, pairs))
    return {
        "name": file.stem,
        "file": str(file),
        "pipeline": model,
        "server": url or f"a server started from {model_repository}",
        "labels": labels,
        "scores": metrics.score(answers.probs[scored], gold[scored], labels),
        "rejected": {str(index): reason for index, reason in answers.rejected.items()},
        "agreement": eager_agreement(model_repository, model, items, answers.probs, scored) if eager else None,
    }


def write_report(result: dict, output: Path) -> None:
    """report.md, results.json and the plots in `output`; the report on stdout."""
    report.write(result, output)
    print(report.markdown(result))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        result = evaluate(
            args.file, args.model_repository, args.model, text_column=args.text_column, label_column=args.label_column,
            pair_column=args.pair_column, label_map=args.map, url=args.url, protocol=args.protocol, eager=not args.no_eager,
        )  # fmt: skip
    except FAILURES as error:
        print(f"evaluation: {error}", file=sys.stderr)
        return 2
    write_report(result, args.output or Path("evaluation/results") / args.file.stem)
    missed = missed_thresholds(args, result["scores"])
    for line in missed:
        print(f"evaluation: threshold missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
