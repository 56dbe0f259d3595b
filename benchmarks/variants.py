"""The model repositories a benchmark run measures, each built through the conversion path into an
empty folder. Each variant is one pipeline (conversion.repository.Pipeline) of its own repository."""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from conversion.checkpoint import default_model_folder
from conversion.convert import ConversionOptions, convert
from conversion.repository import DEFAULT_PIPELINE, Pipeline
from harness import random_checkpoint

from . import corpus

SENTIMENT_LABELS = ["negative", "neutral", "positive"]


def converted(options: ConversionOptions) -> Pipeline:
    convert(options)
    return Pipeline(options.model_repository, options.name)


def same_conversion(pipeline: Pipeline, destination: Path, **changes) -> ConversionOptions:
    """The options that converted `pipeline`, writing the pipeline of the same name into `destination`."""
    return ConversionOptions.from_manifest(pipeline.manifest(), destination, **{"name": pipeline.name, **changes})


def sequence_classifier_checkpoint(pipeline: Pipeline) -> Path | None:
    """The Hugging Face checkpoint folder a pipeline was converted from, when another server can
    load the same model from it: a sequence classifier, neither zero-shot nor quantised."""
    record = pipeline.manifest()
    folder = Path(record.source)
    return folder if record.is_sequence_classifier and (folder / "config.json").is_file() else None


def int8_of(pipeline: Pipeline, workdir: Path) -> Pipeline:
    """The same model as `pipeline`, converted again with dynamic int8 quantisation, under the same name."""
    return converted(same_conversion(pipeline, workdir / "int8", quantize="int8"))


# minilm-head and roberta-base are sentiment classifiers (SENTIMENT_LABELS): each is the default
# pipeline of its own repository, whichever pipeline the run measures for the `default` variant.


def minilm_head(workdir: Path) -> Pipeline:
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
    return converted(ConversionOptions(str(folder), workdir / "minilm-head", name=DEFAULT_PIPELINE))


def roberta_base(workdir: Path) -> Pipeline:
    """A random classifier of roberta-base's size (cardiffnlp/twitter-roberta-base-sentiment's architecture)."""
    folder = random_checkpoint.build(
        workdir / "roberta-base-checkpoint", corpus.generate(3000, seed=1), random_checkpoint.ROBERTA_BASE, SENTIMENT_LABELS
    )
    return converted(ConversionOptions(str(folder), workdir / "roberta-base", name=DEFAULT_PIPELINE))
