"""python -m benchmarks.served_vs_ceiling: the idle served/ceiling ratios, as rounds of readings taken together.

`make bench` measures each corpus's ceiling once and the served pipeline minutes later; on a small
machine either reading moves by 15 % from one minute to the next, so one run's ratio carries both
movements. Here each round reads, back to back on the same texts, the served pipeline (perf_analyzer at
c=64 and c=1, as make bench does) and the ceiling in this process (make bench's `grouped` mode at
batches 8 and 16, the ones that gave its best, and batch-1 latency), and takes the round's ratios. The
spread of the rounds is the noise any single reading carries.
Writes benchmarks/results/served-vs-ceiling/ (results.json, report.md, ratios.png); `make bench` runs it too.
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator

from . import ceiling, corpus, perf_analyzer, repositories

log = logging.getLogger("benchmarks.served_vs_ceiling")

CORPORA = ("varied", "tweets")
ROUNDS = 3
TARGET = 0.85  # served / ceiling at c=64 the pipeline aims at
CEILING_BATCHES = (8, 16)
CEILING_TEXTS = 512  # make bench's ceiling_texts
LATENCY_TEXTS = 200


def one_round(server, pipeline: Pipeline, in_process: ceiling.InProcessPipeline, texts: list[str], data: dict, workdir: Path) -> dict:
    served = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 64, data, workdir, **perf_analyzer.FULL)
    single = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 1, data, workdir, **perf_analyzer.FULL)
    grouped = {batch: ceiling.throughput(in_process, texts[:CEILING_TEXTS], batch, "grouped") for batch in CEILING_BATCHES}
    batch1 = ceiling.batch1_latency_ms(in_process, texts, LATENCY_TEXTS)
    best = max(grouped.values())
    return {
        "served_c64": served["throughput"],
        "served_c64_stable": served["stable"],  # false: no three windows agreed; the last one was taken
        "served_c1_p50_ms": single["p50_ms"],
        "ceiling_grouped": grouped,
        "ceiling_batch1_p50_ms": batch1["p50_ms"],
        "ratio_c64": served["throughput"] / best,
        "c1_p50_over_ceiling_ms": single["p50_ms"] - batch1["p50_ms"],
    }


def summary(rounds: list[dict]) -> dict:
    ratios = [entry["ratio_c64"] for entry in rounds]
    gaps = [entry["c1_p50_over_ceiling_ms"] for entry in rounds]
    return {
        "ratio_c64": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
        "c1_p50_over_ceiling_ms": {"median": statistics.median(gaps), "min": min(gaps), "max": max(gaps)},
    }


def measure(pipeline: Pipeline, corpora: list[str], rounds: int, workdir: Path) -> dict:
    served_folder = repositories.alone(pipeline, workdir / "served")
    in_process = ceiling.InProcessPipeline(served_folder)
    results = {}
    server = start_on_free_ports(served_folder.root, workdir / "tritonserver.log")
    try:
        for corpus_name in corpora:
            texts = corpus.generate(2000, corpus=corpus_name)
            data = perf_analyzer.text_input_data(texts)
            readings = []
            for number in range(rounds):
                readings.append(one_round(server, served_folder, in_process, texts, data, workdir))
                log.info("  %s, round %d: %s", corpus_name, number + 1, readings[-1])
            results[corpus_name] = {"rounds": readings, **summary(readings)}
    finally:
        server.stop(drain_timeout=5)
    return results


def report(results: dict, rounds: int) -> str:
    lines = [
        "## Served against the in-process ceiling, idle, in rounds read together",
        "",
        f"{rounds} rounds per corpus. Each round: perf_analyzer at c=64 and c=1 over gRPC, then in this process the "
        f"corpus sorted by length at batches {' and '.join(map(str, CEILING_BATCHES))} (the better one is the ceiling) "
        "and batch-1 latency.",
        "",
        "| corpus | round | served c=64 texts/s | ceiling texts/s | served / ceiling | served c=1 p50 ms | ceiling batch-1 p50 ms | difference ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus_name, result in results.items():
        for number, entry in enumerate(result["rounds"], 1):
            lines.append(
                f"| {corpus_name} | {number} | {entry['served_c64']:.1f}{'' if entry['served_c64_stable'] else ' (unstable)'} | "
                f"{max(entry['ceiling_grouped'].values()):.1f} | "
                f"{entry['ratio_c64']:.2f}× | {entry['served_c1_p50_ms']:.1f} | {entry['ceiling_batch1_p50_ms']:.1f} | "
                f"{entry['c1_p50_over_ceiling_ms']:+.1f} |"
            )
    lines += ["", "| corpus | served / ceiling at c=64: median (range) | c=1 p50 over the ceiling's: median (range) |", "|---|---|---|"]
    for corpus_name, result in results.items():
        ratio, gap = result["ratio_c64"], result["c1_p50_over_ceiling_ms"]
        lines.append(
            f"| {corpus_name} | {ratio['median']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f}) | "
            f"{gap['median']:+.1f} ms ({gap['min']:+.1f} to {gap['max']:+.1f}) |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Each round's served/ceiling ratio at c=64 per corpus, the median marked, and the target."""
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for position, (corpus_name, result) in enumerate(results.items()):
        ratios = [entry["ratio_c64"] for entry in result["rounds"]]
        axes.scatter([position] * len(ratios), ratios, color="tab:blue", alpha=0.6)
        axes.hlines(result["ratio_c64"]["median"], position - 0.2, position + 0.2, color="tab:blue")
    axes.axhline(TARGET, color="grey", linestyle="--", label=f"target {TARGET:.2f}x")
    axes.set(xticks=range(len(results)), xticklabels=list(results), ylim=(0, 1.1), ylabel="served / ceiling at c=64",
             title="served against the in-process ceiling, per round")  # fmt: skip
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write(results: dict, rounds: int, folder: Path) -> str:
    """results.json, report.md and ratios.png in `folder`; the report, for the benchmark's summary."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, folder / "ratios.png")
    text = report(results, rounds) + "\n![ratios](ratios.png)\n"
    (folder / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.served_vs_ceiling", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/served-vs-ceiling"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        results = measure(Pipeline(args.model_repository, args.pipeline), args.corpora.split(","), args.rounds, Path(workdir))
    print(write(results, args.rounds, args.output))
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.served_vs_ceiling", sys.argv[1:])
    sys.exit(main())
