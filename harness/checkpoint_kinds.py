"""One tiny random checkpoint of each kind of Hugging Face sequence classifier, as named pipelines.

Every kind of head the text-classification pipeline distinguishes, on both tokenizer families:
single-label pairs with token types (BERT), a one-logit pair scorer such as a cross-encoder
(RoBERTa, no token types), multi-label, and regression.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import random_checkpoint, tiny_roberta


@dataclass(frozen=True)
class Kind:
    name: str  # the pipeline's name
    pairs: bool
    function: str  # what the served values are: softmax, sigmoid or none
    build: Callable[[Path], Path]


def _roberta(labels: list[str], problem_type: str | None = None) -> Callable[[Path], Path]:
    corpus = tiny_roberta.CORPUS.read_text(encoding="utf-8").splitlines()
    return lambda folder: random_checkpoint.build(folder, corpus, random_checkpoint.TINY, labels, problem_type)


def _bert(labels: list[str], problem_type: str | None = None) -> Callable[[Path], Path]:
    return lambda folder: random_checkpoint.build_bert(folder, random_checkpoint.TINY, labels, problem_type)


KINDS = (
    Kind("nli", True, "softmax", _bert(["entailment", "neutral", "contradiction"])),
    Kind("rerank", True, "sigmoid", _roberta(["relevance"])),  # one logit, no problem type
    Kind("toxicity", False, "sigmoid", _roberta(["toxic", "insult", "threat", "obscene"], "multi_label_classification")),
    Kind("rating", False, "none", _bert(["stars"], "regression")),
)


# NLI classifiers for zero-shot pipelines, the entailment logit at different places: BERT with token types,
# entailment last of three (as roberta-large-mnli); RoBERTa, entailment first of two (as the DeBERTa zero-shot
# checkpoints' entailment / not_entailment).
ZERO_SHOT_KINDS = (
    Kind("topics", True, "zero-shot", _bert(["contradiction", "neutral", "entailment"])),
    Kind("intents", True, "zero-shot", _roberta(["entailment", "not_entailment"])),
)
