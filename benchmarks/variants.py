"""The model repositories a benchmark run measures, each built through the conversion path."""

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import conversion.__main__ as conversion_cli
from conversion import export, random_checkpoint

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
    shutil.copytree(repository, destination, ignore=shutil.ignore_patterns("model.pt", "__pycache__"))
    model = (repository / "classifier" / "1" / "model.pt").resolve()
    (destination / "classifier_unbatched" / "1").mkdir(parents=True)
    (destination / "classifier_unbatched" / "config.pbtxt").write_text(UNBATCHED_CLASSIFIER)
    for name in ("classifier", "classifier_unbatched"):
        (destination / name / "1" / "model.pt").symlink_to(model)
    return destination


def convert(arguments: list[str], repository: Path) -> Path:
    if conversion_cli.main([*arguments, "--repository", str(repository)]) != 0:
        raise RuntimeError(f"conversion failed: {arguments}")
    return repository


def manifest(repository: Path) -> dict:
    return json.loads((repository / "classifier" / "1" / "conversion.json").read_text())


def sequence_classifier_checkpoint(repository: Path) -> Path | None:
    """The Hugging Face checkpoint folder a repository was converted from, when another server can
    load the same model from it: a sequence classifier, neither zero-shot nor quantised."""
    record = manifest(repository)
    folder = Path(record["source"])
    loadable = not record["zero_shot_prototypes"] and not record.get("adapter") and not record["quantize"] and (folder / "config.json").is_file()
    return folder if loadable else None


def int8_of(repository: Path, workdir: Path) -> Path:
    """The same model as `repository`, converted again with dynamic int8 quantisation."""
    record = manifest(repository)
    arguments = ["--model", record["source"], "--max-length", str(record["max_length"]), "--quantize", "int8"]
    if record["zero_shot_prototypes"]:
        arguments += ["--prototypes", record["zero_shot_prototypes"]]
    elif record.get("adapter"):
        arguments += ["--adapter", record["adapter"]]
    else:
        arguments += ["--labels", ",".join(record["labels"])]
    return convert(arguments, export.copy_skeleton(repository, workdir / "int8"))


def minilm_head(source_repository: Path, workdir: Path) -> Path:
    """all-MiniLM-L6-v2 (the default model's encoder) as a sequence classifier with a fresh, seeded
    head: a checkpoint that both this project and infinity-emb serve."""
    folder = workdir / "minilm-head-checkpoint"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        conversion_cli.default_model_folder(),
        num_labels=len(SENTIMENT_LABELS),
        id2label=dict(enumerate(SENTIMENT_LABELS)),
        label2id={label: index for index, label in enumerate(SENTIMENT_LABELS)},
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(conversion_cli.default_model_folder()).save_pretrained(folder)
    return convert(["--model", str(folder)], export.copy_skeleton(source_repository, workdir / "minilm-head"))


def roberta_base(source_repository: Path, workdir: Path) -> Path:
    """A random classifier of roberta-base's size (cardiffnlp/twitter-roberta-base-sentiment's architecture)."""
    folder = random_checkpoint.build(
        workdir / "roberta-base-checkpoint", corpus.generate(3000, seed=1), random_checkpoint.ROBERTA_BASE, SENTIMENT_LABELS
    )
    return convert(["--model", str(folder)], export.copy_skeleton(source_repository, workdir / "roberta-base"))
