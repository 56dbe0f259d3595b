"""python -m benchmarks.batcher_settings: what the three models' dynamic batchers should wait for.

Each variant is the default pipeline with other `dynamic_batching` settings in the configs of its
tokenizer, classifier and postprocess models. Variants alternate within each round, so that the
machine's drift falls on all of them alike. Per variant and round, on tweets (the texts where the
pipeline around the model weighs most): perf_analyzer at c=1 (p50: what a wait costs a lone request)
and at c=64 (texts/s, and each model's average batch from Triton's statistics).
Writes benchmarks/results/batcher-settings/ (results.json, report.md).
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator

from . import corpus, perf_analyzer, repositories, server_stats

log = logging.getLogger("benchmarks.batcher_settings")

AS_WRITTEN = "dynamic_batching { }"


@dataclass(frozen=True)
class Variant:
    name: str
    batching: dict[str, str] = field(default_factory=dict)  # step → its dynamic_batching block


def wait(microseconds: int, preferred: int | None = None) -> str:
    sizes = f"preferred_batch_size: [ {preferred} ] " if preferred else ""
    return f"dynamic_batching {{ {sizes}max_queue_delay_microseconds: {microseconds} }}"


VARIANTS = (
    Variant("no wait (as conversion writes it)"),
    Variant("tokenizer and postprocess wait 500 µs", {"tokenizer": wait(500), "postprocess": wait(500)}),
    Variant("every step waits 2 ms", {"tokenizer": wait(2000), "classifier": wait(2000), "postprocess": wait(2000)}),
    Variant("classifier prefers 64, waits 10 ms", {"classifier": wait(10_000, preferred=64)}),
)


def configured(pipeline: Pipeline, variant: Variant, folder: Path) -> Pipeline:
    copy = repositories.alone(pipeline, folder)
    for step, batching in variant.batching.items():
        config = copy.root / copy.model(step) / "config.pbtxt"
        text = config.read_text()
        if AS_WRITTEN not in text:
            raise ValueError(f"{config} has no `{AS_WRITTEN}` to replace")
        config.write_text(text.replace(AS_WRITTEN, batching))
    return copy


def one_reading(pipeline: Pipeline, variant: Variant, data: dict, workdir: Path) -> dict:
    copy = configured(pipeline, variant, workdir / f"variant-{time.monotonic_ns()}")
    server = start_on_free_ports(copy.root, workdir / "tritonserver.log")
    try:
        single = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 1, data, workdir, **perf_analyzer.FULL)
        before = server_stats.snapshot(server.endpoints.http)
        loaded = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 64, data, workdir, **perf_analyzer.FULL)
        steps = server_stats.breakdown(before, server_stats.snapshot(server.endpoints.http))
    finally:
        server.stop(drain_timeout=5)
    batches = {step: steps[pipeline.model(step)]["average_batch"] for step in ("tokenizer", "classifier", "postprocess")}
    return {"c1_p50_ms": single["p50_ms"], "c64": loaded["throughput"], "c64_batches": batches}


def medians(rounds: list[dict]) -> dict:
    table = {}
    for variant in VARIANTS:
        mine = [entry[variant.name] for entry in rounds]
        table[variant.name] = {
            "c=1 p50 ms": statistics.median(entry["c1_p50_ms"] for entry in mine),
            "c=64 texts/s": statistics.median(entry["c64"] for entry in mine),
            **{
                f"c=64 {step} batch": statistics.median(entry["c64_batches"][step] for entry in mine)
                for step in ("tokenizer", "classifier", "postprocess")
            },
        }
    return table


def report(results: dict) -> str:
    table = results["medians"]
    columns = list(next(iter(table.values())))
    lines = [
        "## The dynamic batchers' waits",
        "",
        f"Default pipeline on tweets; medians of {results['rounds']} rounds, the variants alternating within each round;",
        "perf_analyzer over gRPC on the same machine; batches are Triton's average per execution at c=64.",
        "",
        "| variant | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[column]:.1f}" for column in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batcher_settings", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/batcher-settings"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    data = perf_analyzer.text_input_data(corpus.generate(2000, corpus="tweets"))
    rounds = []
    with tempfile.TemporaryDirectory(prefix="batcher-settings-") as folder:
        for number in range(args.rounds):
            readings = {}
            for variant in VARIANTS:
                readings[variant.name] = one_reading(pipeline, variant, data, Path(folder))
                log.info("round %d, %s: %s", number + 1, variant.name, readings[variant.name])
            rounds.append(readings)
    results = {"pipeline": args.pipeline, "rounds": len(rounds), "readings": rounds, "medians": medians(rounds)}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "report.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.batcher_settings", sys.argv[1:])
    sys.exit(main())
