"""The in-process ceiling: a pipeline's served model.pt, tokenizer code and postprocess code in one process, no server.

Measured three ways at each batch size, every batch tokenized, classified and postprocessed:
- `arrival`: texts in corpus order, each batch padded to its longest text, through the traced
  classifier inside model.pt: what one process does without knowing the lengths ahead;
- `grouped`: the whole corpus sorted by token length first, then cut into batches padded to their
  longest text, through the same traced classifier: the best any batching can do on these texts;
- `module`: texts in corpus order, as one request padded to its longest, through model.pt itself
  (its length grouping included): what the served classifier runs per batch.
Ratios are taken against the better of `arrival` and `grouped`.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from conversion import length_grouping
from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from harness.model_code import postprocessing, tokenization

MODES = ("arrival", "grouped", "module")


def model_config(repository: Path, model: str) -> dict:
    """config.pbtxt as the JSON Triton hands a backend (args["model_config"])."""
    config = text_format.Parse((repository / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    return json_format.MessageToDict(config, preserving_proto_field_name=True)


def classifier_parameters(repository: Path, model: str) -> dict[str, str]:
    """The classifier config's `parameters`, as Triton's pytorch backend reads them."""
    parameters = model_config(repository, model).get("parameters", {})
    return {key: value.get("string_value", "") for key, value in parameters.items()}


class InProcessPipeline:
    """tokenize → TorchScript → postprocess, exactly as a pipeline's three served models do it."""

    def __init__(self, pipeline: Pipeline):
        self.postprocessing = postprocessing
        self.encoder = tokenization.TextEncoder.load(pipeline.tokenizer_file)
        self.module = torch.jit.load(str(pipeline.model_file)).eval()
        self.classifier = getattr(self.module, "classifier", self.module)  # the traced classifier inside
        self.labels = postprocessing.load_labels(pipeline.labels_file)
        self.function = pipeline.manifest().function  # what the postprocess model applies (postprocessing.apply)
        # The TorchScript settings the served backend applies from NAME.classifier/config.pbtxt.
        self.parameters = classifier_parameters(pipeline.root, pipeline.model("classifier"))

    def __call__(self, texts: list[str], mode: str = "arrival"):
        """Classify texts, padded to the batch's longest: `module` through model.pt as the backend hands it a
        ragged batch, the others through the traced classifier inside."""
        ids, mask = (torch.from_numpy(array) for array in self.encoder.encode(texts))
        with length_grouping.as_served(self.parameters):
            if mode == "module":
                logits = self.module(*length_grouping.ragged(ids, mask)).numpy()
            else:
                logits = self.classifier(ids, mask).numpy()
        return self.postprocessing.postprocess(logits, self.labels, self.function)


def batches(pipeline: InProcessPipeline, texts: list[str], batch: int, mode: str) -> list[list[str]]:
    """The corpus cut into batches for a mode; `grouped` sorts it by token length first."""
    if mode == "grouped":
        lengths = [len(ids) for ids in pipeline.encoder.token_ids(texts)]
        texts = [text for _, text in sorted(zip(lengths, texts), key=lambda pair: pair[0])]
    return [texts[start : start + batch] for start in range(0, len(texts) - batch + 1, batch)]


def throughput(pipeline: InProcessPipeline, texts: list[str], batch: int, mode: str) -> float:
    """Texts per second over one whole pass of `texts` in batches, after one warm-up batch.

    Every mode and batch size sees the same texts: a timed window over part of a corpus would
    favour whichever modes happened to draw its shorter batches.
    """
    chosen = batches(pipeline, texts, batch, mode)
    pipeline(chosen[0], mode)  # warm-up
    started = time.perf_counter()
    for texts_in_batch in chosen:
        pipeline(texts_in_batch, mode)
    return sum(map(len, chosen)) / (time.perf_counter() - started)


def batch1_latency_ms(pipeline: InProcessPipeline, texts: list[str], count: int) -> dict:
    timings = []
    for text in texts[:count]:
        started = time.perf_counter()
        pipeline([text])
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99))}


def measure(pipeline: Pipeline, texts: list[str], batch_sizes: list[int], latency_count: int) -> dict:
    """Every mode at every batch size over `texts` (a multiple of each batch size), and batch-1 latency."""
    in_process = InProcessPipeline(pipeline)
    by_mode = {mode: {batch: throughput(in_process, texts, batch, mode) for batch in batch_sizes} for mode in MODES}
    best_mode, best_batch = max(
        ((mode, batch) for mode in ("arrival", "grouped") for batch in batch_sizes),
        key=lambda pair: by_mode[pair[0]][pair[1]],
    )
    return {
        "torch_threads": torch.get_num_threads(),
        "throughput_by_batch": by_mode,
        "best_mode": best_mode,
        "best_batch": best_batch,
        "best_throughput": by_mode[best_mode][best_batch],
        "batch1": batch1_latency_ms(in_process, texts, latency_count),
    }


def batch64_and_batch1(pipeline: Pipeline, texts: list[str]) -> dict:
    """A short reading: model.pt on batches of 64 (what the served classifier runs) and batch-1 p50."""
    in_process = InProcessPipeline(pipeline)
    return {
        "torch_threads": torch.get_num_threads(),
        "batch64": throughput(in_process, texts, 64, "module"),
        "batch1_p50_ms": batch1_latency_ms(in_process, texts, 40)["p50_ms"],
    }


def in_fresh_process(pipeline: Pipeline, corpus_name: str, texts: int, env: dict[str, str]) -> dict:
    """batch64_and_batch1 in a new process started with `env`: torch and libgomp read their thread
    settings once, when they load, so each setting needs a process of its own."""
    command = [
        sys.executable, "-m", "benchmarks.ceiling", "--model-repository", str(pipeline.root),
        "--pipeline", pipeline.name, "--corpus", corpus_name, "--texts", str(texts),
    ]  # fmt: skip
    return json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> None:
    from benchmarks import corpus

    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling", description=batch64_and_batch1.__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--corpus", default="varied", choices=sorted(corpus.CORPORA))
    parser.add_argument("--texts", type=int, default=256, help="a multiple of 64")
    args = parser.parse_args(argv)
    texts = corpus.generate(args.texts, corpus=args.corpus)
    print(json.dumps(batch64_and_batch1(Pipeline(args.model_repository, args.pipeline), texts)))


if __name__ == "__main__":
    main()
