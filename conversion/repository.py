"""The model repository's contract: its pipelines, their models, where conversion writes each
artifact, and the manifest (<name>.classifier/1/conversion.json) that records what was converted.

A repository holds any number of pipelines. Pipeline NAME is four Triton models: the ensemble NAME,
which clients call, and its steps NAME.tokenizer, NAME.classifier and NAME.postprocess. A pipeline
name has no dot, so no pipeline's models can be taken for another's. `sentiment` is the default.

Everything outside Triton that needs a path or a fact about a converted repository asks this
module: conversion writes through it, and the store, the evaluator, the benchmarks and the tests
read through it. The served models read their own files (tokenizer.json, labels.json,
conversion.json) beside their model.py, since the server image carries no conversion code.
Standard library only, so that the server image's store code can use it.
"""

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PIPELINE = "sentiment"
STEPS = ("tokenizer", "classifier", "postprocess")
VERSION = "1"
# The repository every command reads or writes unless told otherwise (relative to where it runs), and
# the committed one: the default pipeline's configs and the steps' model code, which conversion copies
# into every pipeline it writes.
DEFAULT_REPOSITORY = Path("model_repository")
TEMPLATE = Path(__file__).resolve().parents[1] / DEFAULT_REPOSITORY
# Where conversion writes inside a pipeline's models, relative to the model's folder.
MODEL_FILE = f"{VERSION}/model.pt"  # the classifier's
TOKENIZER_FILE = f"{VERSION}/tokenizer.json"  # the tokenizer's
LABELS_FILE = f"{VERSION}/labels.json"  # the postprocess model's
MANIFEST_FILE = f"{VERSION}/conversion.json"  # the classifier's
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# What the postprocess model applies to logits, as Hugging Face's text-classification pipeline does.
FUNCTIONS = ("softmax", "sigmoid", "none")


class RepositoryError(Exception):
    """A folder that is not (or not yet) a converted model repository of this project."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise RepositoryError(
            f"pipeline name {name!r} must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def add_repository_argument(parser, help: str = "a converted model repository (default: %(default)s)") -> None:
    """--model-repository (alias --repository), a folder defaulting to DEFAULT_REPOSITORY, for every command."""
    parser.add_argument("--model-repository", "--repository", dest="model_repository", type=Path, default=DEFAULT_REPOSITORY, help=help)


@dataclass
class Manifest:
    """What conversion wrote and how: the file format of <name>.classifier/1/conversion.json.

    `max_length` is the one record of the truncation length for readers outside Triton; the
    tokenizer model applies the same length from tokenizer.json (`Pipeline.check` verifies they agree).
    `function` is what the postprocess model applies to the logits; `pairs` and `token_types` say
    what the pipeline's tokenizer takes and gives (the configs conversion wrote say the same).
    """

    source: str
    labels: list[str]
    max_length: int
    max_abs_difference: float
    grouped_max_abs_difference: float
    token_budget: dict
    function: str = "softmax"
    problem_type: str | None = None
    pairs: bool = False
    token_types: bool = False
    pipeline_max_abs_difference: float | None = None  # served values against Hugging Face's pipeline
    zero_shot_prototypes: str | None = None
    zero_shot: dict | None = None  # an NLI classifier served zero-shot: hypothesis_template, entailment, contradiction
    adapter: str | None = None
    quantize: str | None = None
    quantization_accuracy_change: dict | None = None
    libraries: dict[str, str] = field(default_factory=dict)  # torch, transformers, tokenizers versions

    def to_json(self) -> str:
        record = asdict(self)
        record.update(record.pop("libraries"))  # written flat, as conversion.json has always been
        return json.dumps(record, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        record = json.loads(text)
        known = set(cls.__dataclass_fields__) - {"libraries"}
        return cls(
            **{key: value for key, value in record.items() if key in known},
            libraries={key: value for key, value in record.items() if key not in known},
        )

    @property
    def is_sequence_classifier(self) -> bool:
        """A Hugging Face sequence classifier served as it is: no zero-shot head, adapter or quantisation."""
        return not self.zero_shot_prototypes and not self.adapter and not self.quantize


def pipeline_of(model: str) -> str:
    """The pipeline a model belongs to: NAME for the ensemble NAME and its steps NAME.<step> (names have no dot)."""
    return model.split(".", 1)[0]


@dataclass(frozen=True)
class Pipeline:
    """Pipeline `name` in the repository folder `root`: its models, files and manifest."""

    root: Path
    name: str = DEFAULT_PIPELINE

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))
        check_name(self.name)

    def model(self, step: str) -> str:
        """The Triton model name of a step: NAME.tokenizer, NAME.classifier, NAME.postprocess."""
        return f"{self.name}.{step}"

    @property
    def models(self) -> tuple[str, ...]:
        """The ensemble first, then its steps in order."""
        return (self.name, *(self.model(step) for step in STEPS))

    @property
    def artifacts(self) -> tuple[str, ...]:
        """What conversion writes besides configs and model code, relative to the repository root."""
        return (
            f"{self.model('classifier')}/{MODEL_FILE}",
            f"{self.model('tokenizer')}/{TOKENIZER_FILE}",
            f"{self.model('postprocess')}/{LABELS_FILE}",
            f"{self.model('classifier')}/{MANIFEST_FILE}",
        )

    def path(self, relative: str) -> Path:
        return self.root / relative

    @property
    def model_file(self) -> Path:
        return self.root / self.artifacts[0]

    @property
    def tokenizer_file(self) -> Path:
        return self.root / self.artifacts[1]

    @property
    def labels_file(self) -> Path:
        return self.root / self.artifacts[2]

    @property
    def manifest_file(self) -> Path:
        return self.root / self.artifacts[3]

    def manifest_text(self) -> str:
        """conversion.json as conversion wrote it; refused when the pipeline has not been converted."""
        if not self.manifest_file.is_file():
            raise RepositoryError(
                f"{self.root} holds no converted pipeline {self.name!r} ({self.artifacts[3]} is missing): "
                "run python -m conversion first"
            )
        return self.manifest_file.read_text()

    def manifest(self) -> Manifest:
        return Manifest.from_json(self.manifest_text())

    def labels(self) -> list[str]:
        return json.loads(self.labels_file.read_text())

    def check(self) -> Manifest:
        """A converted pipeline whose files agree with its manifest; the manifest."""
        missing = [f"{model}/config.pbtxt" for model in self.models if not (self.root / model / "config.pbtxt").is_file()]
        manifest = self.manifest()
        missing += [relative for relative in self.artifacts if not self.path(relative).is_file()]
        if missing:
            raise RepositoryError(f"{self.root} is missing {', '.join(missing)}: run python -m conversion again")
        if self.labels() != manifest.labels:
            raise RepositoryError(f"{self.labels_file} names other labels than {self.artifacts[3]}: {manifest.labels}")
        truncation = (json.loads(self.tokenizer_file.read_text()).get("truncation") or {}).get("max_length")
        if truncation != manifest.max_length:
            raise RepositoryError(f"{self.tokenizer_file} truncates at {truncation} tokens, {self.artifacts[3]} says {manifest.max_length}")
        if manifest.function not in FUNCTIONS:
            raise RepositoryError(f"{self.artifacts[3]} names an unknown function {manifest.function!r}: one of {FUNCTIONS}")
        return manifest

    def write(self, relative: str, write) -> Path:
        """Write one file atomically: `write(temporary_path)` fills a file renamed into place."""
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(handle)
        try:
            write(temporary)
            os.chmod(temporary, 0o644)  # mkstemp makes it private; the server may run as another user
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        return path

    def write_text(self, relative: str, text: str) -> Path:
        return self.write(relative, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


@dataclass(frozen=True)
class Repository:
    """A model repository folder of this project: any number of pipelines, converted or not."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def pipeline(self, name: str = DEFAULT_PIPELINE) -> Pipeline:
        return Pipeline(self.root, name)

    def pipelines(self) -> list[str]:
        """The names of the converted pipelines, sorted."""
        suffix = ".classifier"
        return sorted(
            manifest.parents[1].name.removesuffix(suffix)
            for manifest in self.root.glob(f"*{suffix}/{MANIFEST_FILE}")
            if _NAME.match(manifest.parents[1].name.removesuffix(suffix))
        )

    def converted(self) -> list[Pipeline]:
        """Every converted pipeline; refused when there is none."""
        names = self.pipelines()
        if not names:
            raise RepositoryError(f"{self.root} holds no converted pipeline: run python -m conversion first")
        return [self.pipeline(name) for name in names]

    def check(self) -> dict[str, Manifest]:
        """Every converted pipeline checked (Pipeline.check); pipeline name → manifest."""
        return {pipeline.name: pipeline.check() for pipeline in self.converted()}

    def manifest_texts(self) -> dict[str, str]:
        """Pipeline name → its conversion.json as written."""
        return {pipeline.name: pipeline.manifest_text() for pipeline in self.converted()}


if __name__ == "__main__":
    print(*Pipeline(Path(".")).artifacts)  # for the Makefile's file targets: the default pipeline's
