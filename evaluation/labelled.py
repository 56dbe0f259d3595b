"""Labelled files: CSV, TSV or JSON Lines with a text column and a label column (and, for a pair
pipeline, a column with each text's pair).

Gold label names may be mapped onto the model's (`rotten=negative`); a label the model does not
have, a missing column or an unreadable row stops the evaluation with one line naming it.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from . import EvaluationError


class LabelledFileError(EvaluationError):
    """The file cannot be evaluated; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    pair: str | None = None  # the second text, when the file is read with a pair column


FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """["rotten=negative", "fresh=positive"] (or comma-separated) → {"rotten": "negative", ...}."""
    mapping = {}
    for pair in (part for item in pairs for part in item.split(",") if part):
        source, equals, target = pair.partition("=")
        if not equals or not source.strip() or not target.strip():
            raise LabelledFileError(f"label mapping {pair!r} is not FILE_LABEL=MODEL_LABEL")
        mapping[source.strip()] = target.strip()
    return mapping


def _rows(path: Path, kind: str):
    """(line number, dict) for each record."""
    with path.open(encoding="utf-8", newline="") as stream:
        if kind == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise LabelledFileError(f"{path}:{number}: not a JSON object: {error.msg}") from None
                if not isinstance(record, dict):
                    raise LabelledFileError(f"{path}:{number}: not a JSON object")
                yield number, record
            return
        reader = csv.DictReader(stream, delimiter="\t" if kind == "tsv" else ",", strict=True)
        try:
            for record in reader:
                if None in record or None in record.values():
                    raise LabelledFileError(f"{path}:{reader.line_num}: the row does not have the header's {len(reader.fieldnames)} columns")
                yield reader.line_num, record
        except csv.Error as error:
            raise LabelledFileError(f"{path}:{reader.line_num}: malformed {kind.upper()}: {error}") from None


def read(
    path: Path,
    model_labels: list[str],
    text_column: str = "text",
    label_column: str = "label",
    mapping: dict[str, str] | None = None,
    pair_column: str | None = None,
) -> list[Example]:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise LabelledFileError(f"{path}: unknown format {path.suffix!r}; use .csv, .tsv or .jsonl")
    if not path.is_file():
        raise LabelledFileError(f"{path}: no such file")
    mapping = mapping or {}
    examples = []
    try:
        for number, record in _rows(path, kind):
            for column in (text_column, label_column, pair_column):
                if column is not None and column not in record:
                    raise LabelledFileError(f"{path}:{number}: no column {column!r} (columns: {', '.join(map(str, record))})")
            text, gold = record[text_column], record[label_column]
            if not isinstance(text, str) or not isinstance(gold, (str, int)):
                raise LabelledFileError(f"{path}:{number}: the text must be a string and the label a string or integer")
            pair = None if pair_column is None else record[pair_column]
            if pair_column is not None and not isinstance(pair, str):
                raise LabelledFileError(f"{path}:{number}: the pair ({pair_column!r}) must be a string")
            label = mapping.get(str(gold), str(gold))
            if label not in model_labels:
                raise LabelledFileError(
                    f"{path}:{number}: label {str(gold)!r} is not one of the model's labels ({', '.join(model_labels)}); "
                    f"map it with --map {gold}=LABEL"
                )
            examples.append(Example(text, label, pair))
    except UnicodeDecodeError as error:
        raise LabelledFileError(f"{path}: not UTF-8 text: {error.reason} at byte {error.start}") from None
    if not examples:
        raise LabelledFileError(f"{path}: no labelled rows")
    return examples
