"""The model repositories a benchmark run measures, each built through the conversion path."""

import shutil
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from conversion.checkpoint import default_model_folder
from conversion.convert import ConversionOptions, convert
from conversion.repository import MODEL_FILE, Manifest, Repository
from harness import random_checkpoint

from . import corpus

SENTIMENT_LABELS = ["negative", "neutral", "positive"]

# The client-side design: the client tokenizes and calls the classifier itself, served without
# batching (max_batch_size 1, no dynamic batcher).
UNBATCHED_CLASSIFIER = """name: "classifier_unbatched"
backend: "pytorch"
max_batch_size: 1
input [
  { name: "INPUT__0", data_type: TYPE_INT64, dims: [ -1 ] },
  { name: "INPUT__1", data_type: TYPE_INT64, dims: [ -1 ] }
]
output [
  { name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ -1 ] }
]
instance_group [ { count: 1, kind: KIND_AUTO } ]
"""


def with_peer_models(repository: Path, destination: Path) -> Path:
    """A copy of `repository` plus classifier_unbatched, both linking to the same model.pt."""
    model_file = Path(MODEL_FILE).name
    shutil.copytree(repository, destination, ignore=shutil.ignore_patterns(model_file, "__pycache__"))
    model = Repository(repository).model_file.resolve()
    (destination / "classifier_unbatched" / "1").mkdir(parents=True)
    (destination / "classifier_unbatched" / "config.pbtxt").write_text(UNBATCHED_CLASSIFIER)
    for name in ("classifier", "classifier_unbatched"):
        (destination / name / "1" / model_file).symlink_to(model)
    return destination


def manifest(repository: Path) -> Manifest:
    return Repository(repository).manifest()


def converted(options: ConversionOptions) -> Path:
    convert(options)
    return options.model_repository


def sequence_classifier_checkpoint(repository: Path) -> Path | None:
    """The Hugging Face checkpoint folder a repository was converted from, when another server can
    load the same model from it: a sequence classifier, neither zero-shot nor quantised."""
    record = manifest(repository)
    folder = Path(record.source)
    return folder if record.is_sequence_classifier and (folder / "config.json").is_file() else None


def int8_of(repository: Path, workdir: Path) -> Path:
    """The same model as `repository`, converted again with dynamic int8 quantisation."""
    record = manifest(repository)
    prototypes, adapter = record.zero_shot_prototypes, record.adapter
    options = ConversionOptions(
        record.source,
        Repository(repository).copy_skeleton(workdir / "int8"),
        labels=None if prototypes or adapter else record.labels,
        max_length=record.max_length,
        prototypes=Path(prototypes) if prototypes else None,
        adapter=Path(adapter) if adapter and not prototypes else None,
        quantize="int8",
    )
    return converted(options)


def minilm_head(source_repository: Path, workdir: Path) -> Path:
    """all-MiniLM-L6-v2 (the default model's encoder) as a sequence classifier with a fresh, seeded
    head: a checkpoint that both this project and infinity-emb serve."""
    folder = workdir / "minilm-head-checkpoint"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        default_model_folder(),
        num_labels=len(SENTIMENT_LABELS),
        id2label=dict(enumerate(SENTIMENT_LABELS)),
        label2id={label: index for index, label in enumerate(SENTIMENT_LABELS)},
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(default_model_folder()).save_pretrained(folder)
    return converted(ConversionOptions(str(folder), Repository(source_repository).copy_skeleton(workdir / "minilm-head")))


def roberta_base(source_repository: Path, workdir: Path) -> Path:
    """A random classifier of roberta-base's size (cardiffnlp/twitter-roberta-base-sentiment's architecture)."""
    folder = random_checkpoint.build(
        workdir / "roberta-base-checkpoint", corpus.generate(3000, seed=1), random_checkpoint.ROBERTA_BASE, SENTIMENT_LABELS
    )
    return converted(ConversionOptions(str(folder), Repository(source_repository).copy_skeleton(workdir / "roberta-base")))
