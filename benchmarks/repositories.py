"""The folders a benchmark serves: the measured pipeline alone, copied out of its repository, and
beside it the client-side design's classifier.

Serving only the measured pipeline keeps the other pipelines of a repository (their stubs, their
memory) out of the figures.
"""

import shutil
from collections.abc import Callable
from pathlib import Path

from conversion.repository import MODEL_FILE, VERSION, Manifest, Pipeline, RepositoryError

# The client-side design: the client tokenizes and calls the classifier itself, served without
# batching (max_batch_size 1, no dynamic batcher). Its model is NAME.classifier.unbatched, the
# pipeline's classifier served a second way: with two dots it is no pipeline's model (pipeline
# names have no dot and the steps are fixed), so nothing takes it for a step of a pipeline. The same
# model.pt takes the same inputs: each request's rows and, from Triton, each row's width.
UNBATCHED_CLASSIFIER = """name: "{name}"
backend: "pytorch"
max_batch_size: 1
input [
  {{ name: "INPUT__0", data_type: TYPE_INT64, dims: [ -1 ], allow_ragged_batch: true }},
  {{ name: "INPUT__1", data_type: TYPE_INT64, dims: [ -1 ], allow_ragged_batch: true }}
]
batch_input [
  {{ kind: BATCH_ITEM_SHAPE, target_name: "INPUT__2", data_type: TYPE_INT32, source_input: "INPUT__0" }},
  {{ kind: BATCH_ITEM_SHAPE, target_name: "INPUT__3", data_type: TYPE_INT32, source_input: "INPUT__1" }}
]
output [
  {{ name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ -1 ] }}
]
instance_group [ {{ count: 1, kind: KIND_AUTO }} ]
"""


def unbatched_classifier(pipeline: Pipeline) -> str:
    """The client-side design's model for `pipeline`: NAME.classifier.unbatched."""
    return f"{pipeline.model('classifier')}.unbatched"


def measurable(pipeline: Pipeline) -> Manifest:
    """The pipeline's manifest, when the benchmarks can measure it: converted, complete, and taking
    single texts (every load sends TEXT alone, and the client-side peer sends no token types)."""
    manifest = pipeline.check()
    if manifest.pairs:
        raise RepositoryError(
            f"pipeline {pipeline.name!r} in {pipeline.root} classifies text pairs: the benchmarks measure single-text pipelines"
        )
    return manifest


def alone(pipeline: Pipeline, destination: Path, link_model: bool = True) -> Pipeline:
    """A repository at `destination` holding only `pipeline`'s four models: every file copied, but
    model.pt linked to the original unless `link_model` is false."""
    model_file = Path(MODEL_FILE).name
    ignore = shutil.ignore_patterns("__pycache__", *([model_file] if link_model else []))
    for model in pipeline.models:
        shutil.copytree(pipeline.root / model, destination / model, ignore=ignore)
    copy = Pipeline(destination, pipeline.name)
    if link_model:
        copy.model_file.symlink_to(pipeline.model_file.resolve())
    return copy


def with_peer_models(pipeline: Pipeline, destination: Path) -> Pipeline:
    """`pipeline` alone at `destination`, plus NAME.classifier.unbatched linking to the same model.pt."""
    served = alone(pipeline, destination)
    unbatched = destination / unbatched_classifier(pipeline)
    (unbatched / VERSION).mkdir(parents=True)
    (unbatched / "config.pbtxt").write_text(UNBATCHED_CLASSIFIER.format(name=unbatched.name))
    (unbatched / MODEL_FILE).symlink_to(pipeline.model_file.resolve())
    return served


def copies(pipeline: Pipeline, destination: Path, count: int, classifier_config: Callable[[str], str] | None = None) -> list[str]:
    """`count` copies of `pipeline` in one repository at `destination`, named NAME, NAME2, ... (model.pt
    linked), each classifier's config.pbtxt passed through `classifier_config`; the pipelines' names."""
    names = [pipeline.name, *(f"{pipeline.name}{number}" for number in range(2, count + 1))]
    for number, name in enumerate(names):
        staging = destination / f"copy-{number}"
        copy = alone(pipeline, staging)
        for model in copy.models:
            config = staging / model / "config.pbtxt"
            text = config.read_text().replace(f'"{pipeline.name}', f'"{name}')
            if classifier_config is not None and model == copy.model("classifier"):
                text = classifier_config(text)
            config.write_text(text)
            (staging / model).rename(destination / model.replace(pipeline.name, name, 1))
        staging.rmdir()
    return names
