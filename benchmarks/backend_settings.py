"""python -m benchmarks.backend_settings: what the classifier's config.pbtxt should ask of Triton's pytorch backend.

Each variant is the default pipeline with other `parameters` (and instance counts) in NAME.classifier's
config, served by the real backend. Variants alternate within each round, so that the machine's drift
falls on all of them alike. Per variant and round:
- the first request after ready (one text, then one of another length: TorchScript's optimising
  executors specialise the graph for each new shape they see);
- perf_analyzer at c=1 (p50) and c=64 (texts/s) on both corpora, one pipeline in the server;
- three copies of the pipeline in one server, each loaded at c=32 at once (their texts/s summed):
  libtorch's JIT modes and thread pool are process-wide, shared by every classifier in tritonserver.
Writes benchmarks/results/backend-settings/ (results.json, report.md).
"""

import argparse
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from clients import Classifier
from conversion import configs
from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports

from . import corpus, perf_analyzer, repositories

log = logging.getLogger("benchmarks.backend_settings")

CORPORA = ("tweets", "varied")
COPIES = 3
COPY_LEVEL = 32


@dataclass(frozen=True)
class Variant:
    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    instances: int = 1


INFERENCE = {"INFERENCE_MODE": "true"}
VARIANTS = (
    Variant("unoptimised (DISABLE_OPTIMIZED_EXECUTION)", {**INFERENCE, "DISABLE_OPTIMIZED_EXECUTION": "true"}),
    Variant("legacy executor, optimised", {**INFERENCE, "ENABLE_JIT_EXECUTOR": "false", "ENABLE_JIT_PROFILING": "false"}),
    Variant("profiling executor (torch's default)", dict(INFERENCE)),
    Variant(
        "legacy executor, 2 instances x 1 thread",
        {**INFERENCE, "ENABLE_JIT_EXECUTOR": "false", "ENABLE_JIT_PROFILING": "false", "INTRA_OP_THREAD_COUNT": "1"},
        instances=2,
    ),
)

_PARAMETER_LINE = re.compile(r"^parameters: .*\n", re.MULTILINE)
_INSTANCE_GROUP = re.compile(r"^instance_group \[.*\]\n", re.MULTILINE)


def configured(config: str, variant: Variant) -> str:
    """The classifier's config.pbtxt with the variant's parameters and instance count instead of its own."""
    config = _PARAMETER_LINE.sub("", config)
    config = _INSTANCE_GROUP.sub(f"instance_group [ {{ count: {variant.instances}, kind: KIND_AUTO }} ]\n", config)
    lines = [configs.parameter(key, value) for key, value in variant.parameters.items()]
    return config.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def first_requests_ms(url: str, model: str) -> list[float]:
    """Milliseconds of the first request after ready and of the next, a text of another length."""
    timings = []
    with Classifier(url, model=model) as classifier:
        for text in ("The first request after ready.", "A second request, a good deal longer than the first, " * 6):
            began = time.perf_counter()
            classifier.classify([text])
            timings.append(1000 * (time.perf_counter() - began))
    return timings


def one_pipeline(pipeline: Pipeline, variant: Variant, data: dict[str, dict], workdir: Path) -> dict:
    folder = workdir / f"one-{time.monotonic_ns()}"
    repositories.copies(pipeline, folder, 1, lambda config: configured(config, variant))
    server = start_on_free_ports(folder, workdir / "tritonserver.log")
    try:
        result = {"first_requests_ms": first_requests_ms(server.endpoints.grpc, pipeline.name)}
        for corpus_name, input_data in data.items():
            single = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 1, input_data, workdir, **perf_analyzer.FULL)
            loaded = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 64, input_data, workdir, **perf_analyzer.FULL)
            result[corpus_name] = {"c1_p50_ms": single["p50_ms"], "c64": loaded["throughput"]}
        return result
    finally:
        server.stop(drain_timeout=5)


def several_pipelines(pipeline: Pipeline, variant: Variant, input_data: dict, workdir: Path) -> float:
    folder = workdir / f"several-{time.monotonic_ns()}"
    names = repositories.copies(pipeline, folder, COPIES, lambda config: configured(config, variant))
    server = start_on_free_ports(folder, workdir / "tritonserver-several.log")
    try:
        with ThreadPoolExecutor(len(names)) as pool:
            rows = pool.map(lambda name: perf_analyzer.run(name, server.endpoints.grpc, COPY_LEVEL, input_data, workdir, **perf_analyzer.FULL), names)
            return sum(row["throughput"] for row in rows)
    finally:
        server.stop(drain_timeout=5)


def one_round(pipeline: Pipeline, data: dict[str, dict], workdir: Path) -> dict:
    readings = {}
    for variant in VARIANTS:
        reading = one_pipeline(pipeline, variant, data, workdir)
        reading["several_varied_sum"] = several_pipelines(pipeline, variant, data["varied"], workdir)
        readings[variant.name] = reading
        log.info("  %s: %s", variant.name, reading)
    return readings


def medians(rounds: list[dict]) -> dict:
    table = {}
    for variant in VARIANTS:
        mine = [entry[variant.name] for entry in rounds]
        row = {
            "first request ms": statistics.median(entry["first_requests_ms"][0] for entry in mine),
            "second (new length) ms": statistics.median(entry["first_requests_ms"][1] for entry in mine),
        }
        for corpus_name in CORPORA:
            row[f"{corpus_name} c=1 p50 ms"] = statistics.median(entry[corpus_name]["c1_p50_ms"] for entry in mine)
            row[f"{corpus_name} c=64 texts/s"] = statistics.median(entry[corpus_name]["c64"] for entry in mine)
        row[f"{COPIES} pipelines, varied, c={COPY_LEVEL} each: texts/s summed"] = statistics.median(entry["several_varied_sum"] for entry in mine)
        table[variant.name] = row
    return table


def report(results: dict) -> str:
    table = results["medians"]
    columns = list(next(iter(table.values())))
    lines = [
        "## The classifier's settings on Triton's pytorch backend",
        "",
        f"Default pipeline, served by the backend `make setup` builds; medians of {results['rounds']} rounds, the variants",
        "alternating within each round; perf_analyzer over gRPC on the same machine.",
        "",
        "| variant | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[column]:.1f}" for column in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backend_settings", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/backend-settings"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    data = {name: perf_analyzer.text_input_data(corpus.generate(2000, corpus=name)) for name in CORPORA}
    rounds = []
    with tempfile.TemporaryDirectory(prefix="backend-settings-") as folder:
        for number in range(args.rounds):
            log.info("round %d", number + 1)
            rounds.append(one_round(pipeline, data, Path(folder)))
    results = {"pipeline": args.pipeline, "rounds": len(rounds), "readings": rounds, "medians": medians(rounds)}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "report.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
