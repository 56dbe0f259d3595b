"""The model repository's contract: its models, where conversion writes each artifact, and the
manifest (classifier/1/conversion.json) that records what was converted and how.

Everything outside Triton that needs a path or a fact about a converted repository asks this
module: conversion writes through it, and the store, the evaluator, the benchmarks and the tests
read through it. The served models read their own files (tokenizer.json, labels.json,
conversion.json) beside their model.py, since the server image carries no conversion code.
Standard library only, so that the server image's store code can use it.
"""

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENSEMBLE = "sentiment"
MODELS = ("tokenizer", "classifier", "postprocess", ENSEMBLE)
VERSION = "1"
# Where conversion writes, relative to the repository root.
MODEL_FILE = f"classifier/{VERSION}/model.pt"
TOKENIZER_FILE = f"tokenizer/{VERSION}/tokenizer.json"
LABELS_FILE = f"postprocess/{VERSION}/labels.json"
MANIFEST_FILE = f"classifier/{VERSION}/conversion.json"
ARTIFACTS = (MODEL_FILE, TOKENIZER_FILE, LABELS_FILE, MANIFEST_FILE)


class RepositoryError(Exception):
    """A folder that is not (or not yet) a converted model repository of this project."""


@dataclass
class Manifest:
    """What conversion wrote and how: the file format of classifier/1/conversion.json.

    `max_length` is the one record of the truncation length for readers outside Triton; the
    tokenizer model applies the same length from tokenizer.json (`Repository.check` verifies they agree).
    """

    source: str
    labels: list[str]
    max_length: int
    max_abs_difference: float
    grouped_max_abs_difference: float
    token_budget: dict
    zero_shot_prototypes: str | None = None
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


@dataclass(frozen=True)
class Repository:
    """A model repository folder of this project, converted or not."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def path(self, relative: str) -> Path:
        return self.root / relative

    @property
    def model_file(self) -> Path:
        return self.path(MODEL_FILE)

    @property
    def tokenizer_file(self) -> Path:
        return self.path(TOKENIZER_FILE)

    @property
    def labels_file(self) -> Path:
        return self.path(LABELS_FILE)

    @property
    def manifest_file(self) -> Path:
        return self.path(MANIFEST_FILE)

    def check_skeleton(self) -> None:
        """Refuse a folder without this project's model configs."""
        missing = [model for model in MODELS if not (self.root / model / "config.pbtxt").is_file()]
        if missing:
            raise RepositoryError(f"{self.root} is not this project's model repository: no config.pbtxt for {missing}")

    def manifest_text(self) -> str:
        """conversion.json as conversion wrote it; refused when the repository has not been converted."""
        if not self.manifest_file.is_file():
            raise RepositoryError(f"{self.root} has not been converted ({MANIFEST_FILE} is missing): run python -m conversion first")
        return self.manifest_file.read_text()

    def manifest(self) -> Manifest:
        return Manifest.from_json(self.manifest_text())

    def labels(self) -> list[str]:
        return json.loads(self.labels_file.read_text())

    def check(self) -> Manifest:
        """A converted repository whose artifacts agree with its manifest; the manifest."""
        self.check_skeleton()
        manifest = self.manifest()
        missing = [relative for relative in ARTIFACTS if not self.path(relative).is_file()]
        if missing:
            raise RepositoryError(f"{self.root} is missing {', '.join(missing)}: run python -m conversion again")
        if self.labels() != manifest.labels:
            raise RepositoryError(f"{self.labels_file} names other labels than {MANIFEST_FILE}: {manifest.labels}")
        truncation = (json.loads(self.tokenizer_file.read_text()).get("truncation") or {}).get("max_length")
        if truncation != manifest.max_length:
            raise RepositoryError(f"{self.tokenizer_file} truncates at {truncation} tokens, {MANIFEST_FILE} says {manifest.max_length}")
        return manifest

    def copy_skeleton(self, destination: Path) -> Path:
        """A copy of the configs and model code at `destination`, without conversion output."""
        names = {Path(relative).name for relative in ARTIFACTS}
        shutil.copytree(self.root, destination, ignore=shutil.ignore_patterns(*names, "__pycache__"))
        return destination

    def write(self, relative: str, write) -> Path:
        """Write one artifact atomically: `write(temporary_path)` fills a file renamed into place."""
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


if __name__ == "__main__":
    print(*ARTIFACTS)  # for the Makefile's file targets
