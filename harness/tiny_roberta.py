"""The tests' tiny random RoBERTa classifier, its tokenizer trained on the text shipped beside it."""

from pathlib import Path

from . import random_checkpoint

CORPUS = Path(__file__).resolve().parent / "data" / "corpus.txt"
MAX_LENGTH = random_checkpoint.TINY["max_length"]
LABELS = ["negative", "neutral", "positive"]


def build(folder: Path) -> Path:
    return random_checkpoint.build(folder, CORPUS.read_text(encoding="utf-8").splitlines(), random_checkpoint.TINY, LABELS)
