"""python -m benchmarks.pipeline_cost: what the pipeline costs around the model, as a GPU would expose it.

The pipeline is served with a model.pt that costs nothing (zeros of the classifier's output shape for
the same inputs), so its throughput is the capacity of everything else: Triton, the tokenizer and
postprocess stubs, and the load generator on the same cores. Beside it, the real pipeline. For each
run: texts/s, and the CPU each process used per text (utime + stime from /proc, over the ensemble's
inference_count; perf_analyzer's from this process's waited-for children).
Earlier designs' runs, kept in earlier/ as N-COMMIT.json, stand beside this one in a table and a
plot (capacity.png): what the pipeline around the model carried then and now.
Writes benchmarks/results/pipeline-cost/ (results.json, report.md, capacity.png); `make bench` runs it too.
"""

import argparse
import json
import logging
import resource
import sys
import tempfile
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator
from server.procfs import cpu_seconds

from . import corpus, perf_analyzer, repositories, server_stats

log = logging.getLogger("benchmarks.pipeline_cost")

LEVELS = (64, 200)
CORPUS = "tweets"  # short texts: where the pipeline's own cost weighs most
DESIGN = "Triton's pytorch backend, ragged batches (each request padded to its own longest)"


class ZeroCostClassifier(torch.nn.Module):
    """The classifier's contract (a ragged batch of token ids and mask, then their BATCH_ITEM_SHAPEs, in;
    one row of logits per text out) at no cost."""

    def __init__(self, logits: int):
        super().__init__()
        self.logits = logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, ids_shape: torch.Tensor, mask_shape: torch.Tensor) -> torch.Tensor:
        return torch.zeros(ids_shape.shape[0], self.logits)


def zero_cost(pipeline: Pipeline, destination: Path) -> Pipeline:
    """`pipeline` alone at `destination`, its model.pt replaced by a ZeroCostClassifier."""
    copy = repositories.alone(pipeline, destination)
    copy.model_file.unlink()
    torch.jit.script(ZeroCostClassifier(len(pipeline.labels()))).save(str(copy.model_file))
    return copy


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(pipeline: Pipeline, texts: list[str], levels: tuple[int, ...], workdir: Path) -> list[dict]:
    """Served `pipeline` at each level: perf_analyzer's row with texts counted and CPU ms per text per process."""
    data = perf_analyzer.text_input_data(texts)
    server = start_on_free_ports(pipeline.root, workdir / f"tritonserver-{pipeline.root.name}.log")
    try:
        processes = {"tritonserver": server.process.pid, **server.stubs}
        rows = []
        for level in levels:
            stats, load_generator = server_stats.snapshot(server.endpoints.http), _children_cpu_seconds()
            used = {name: cpu_seconds(pid) for name, pid in processes.items()}
            row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, level, data, workdir, **perf_analyzer.FULL)
            used = {name: cpu_seconds(pid) - used[name] for name, pid in processes.items()}
            used["perf_analyzer"] = _children_cpu_seconds() - load_generator
            after = server_stats.snapshot(server.endpoints.http)
            row["texts"] = after[pipeline.name]["inference_count"] - stats[pipeline.name]["inference_count"]
            row["cpu_ms_per_text"] = {name: 1000 * seconds / row["texts"] for name, seconds in used.items()}
            log.info("  %s c=%d: %.0f texts/s, CPU ms per text %s", pipeline.root.name, level, row["throughput"], _rounded(row["cpu_ms_per_text"]))
            rows.append(row)
        return rows
    finally:
        server.stop(drain_timeout=5)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 3) for name, value in values.items()}


def run(pipeline: Pipeline, workdir: Path, quick: bool = False) -> dict:
    texts = corpus.generate(300 if quick else 2000, corpus=CORPUS)
    levels = LEVELS[:1] if quick else LEVELS
    return {
        "design": DESIGN,
        "corpus": CORPUS,
        "zero_cost": measure(zero_cost(pipeline, workdir / "zero-cost"), texts, levels, workdir),
        "real": measure(repositories.alone(pipeline, workdir / "real"), texts, levels[:1], workdir),
    }


def markdown(results: dict) -> str:
    rows = [("model.pt that costs nothing", row) for row in results["zero_cost"]] + [("the real model.pt", row) for row in results["real"]]
    processes = list(rows[0][1]["cpu_ms_per_text"])
    lines = [
        f"Served on the {results['corpus']} corpus (perf_analyzer, gRPC, same machine); CPU ms per text per process.",
        "The classifier runs inside tritonserver (Triton's pytorch backend): with the model.pt that costs nothing,",
        "the server's CPU is what the pipeline around the model costs.",
        "",
        "| model | concurrency | texts/s | p50 ms | " + " | ".join(processes) + " | server, all processes |",
        "|---|---:|---:|---:|" + "---:|" * (len(processes) + 1),
    ]
    for model, row in rows:
        cpu = row["cpu_ms_per_text"]
        outside = sum(value for name, value in cpu.items() if name != "perf_analyzer")
        cells = [model, str(row["concurrency"]), f"{row['throughput']:.0f}", f"{row['p50_ms']:.1f}"]
        lines.append("| " + " | ".join(cells + [f"{cpu[name]:.3f}" for name in processes] + [f"{outside:.3f}"]) + " |")
    return "\n".join(lines) + "\n"


def outside_the_model(row: dict) -> float:
    """Server CPU ms per text, every process but the load generator's."""
    return sum(value for name, value in row["cpu_ms_per_text"].items() if name != "perf_analyzer")


def earlier_runs(folder: Path) -> list[dict]:
    """The runs of earlier designs kept in `folder`/earlier/ as N-COMMIT.json, in the order of N."""
    paths = sorted((folder / "earlier").glob("*.json"), key=lambda path: int(path.name.split("-", 1)[0]))
    return [json.loads(path.read_text()) for path in paths]


def designs_markdown(runs: list[dict]) -> str:
    """Zero-cost capacity and server CPU per text, one row per design (the last is this run)."""
    lines = [
        "| design | commit | c=64 texts/s | c=200 texts/s | server CPU ms per text at c=200 (all processes) | × the first |",
        "|---|---|---:|---:|---:|---:|",
    ]
    first = _zero_cost_at(runs[0], 200)["throughput"]
    for run in runs:
        at64, at200 = _zero_cost_at(run, 64), _zero_cost_at(run, 200)
        lines.append(
            f"| {run.get('design', '')} | {run.get('commit', 'this run')} | {at64['throughput']:.0f} | {at200['throughput']:.0f} | "
            f"{outside_the_model(at200):.3f} | {at200['throughput'] / first:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _zero_cost_at(run: dict, concurrency: int) -> dict:
    return next(row for row in run["zero_cost"] if row["concurrency"] == concurrency)


def plot(runs: list[dict], path: Path) -> None:
    """Capacity per design at each level, and CPU per text per process at c=200, stacked."""
    labels = [run.get("commit", "this run") for run in runs]
    figure, (capacity, cpu) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    for offset, level in zip((-width / 2, width / 2), LEVELS):
        capacity.bar([i + offset for i in range(len(runs))], [_zero_cost_at(run, level)["throughput"] for run in runs], width, label=f"c={level}")
    capacity.set(xticks=range(len(runs)), xticklabels=labels, ylabel="texts/s", title="zero-cost model.pt: what the pipeline carries")
    capacity.legend()
    processes = sorted({name for run in runs for name in _zero_cost_at(run, 200)["cpu_ms_per_text"]})
    bottoms = [0.0] * len(runs)
    for name in processes:
        values = [_zero_cost_at(run, 200)["cpu_ms_per_text"].get(name, 0.0) for run in runs]
        cpu.bar(range(len(runs)), values, 0.6, bottom=bottoms, label=name)
        bottoms = [bottom + value for bottom, value in zip(bottoms, values)]
    cpu.set(xticks=range(len(runs)), xticklabels=labels, ylabel="CPU ms per text", title="CPU per text per process, c=200")
    cpu.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write(results: dict, folder: Path) -> str:
    """results.json, report.md and capacity.png in `folder`; the report's section, for the benchmark's summary."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    sections = ["## The pipeline around the model", "", markdown(results)]
    if {row["concurrency"] for row in results["zero_cost"]} >= set(LEVELS):  # not a quick run
        runs = [*earlier_runs(folder), results]
        plot(runs, folder / "capacity.png")
        sections += [
            f"Earlier designs, each its own run on this machine (earlier/), and this run ({results['corpus']}, model.pt that costs nothing):",
            "",
            designs_markdown(runs),
            "![capacity](capacity.png)",
            "",
        ]
    text = "\n".join(sections)
    (folder / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_cost", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/pipeline-cost"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    with tempfile.TemporaryDirectory(prefix="pipeline-cost-") as workdir:
        results = run(pipeline, Path(workdir), args.quick)
    write(results, args.output)
    log.info("report: %s", args.output / "report.md")
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.pipeline_cost", sys.argv[1:])
    sys.exit(main())
