"""python -m benchmarks.backend_comparison: Triton's own pytorch backend against the Python-based stand-in
that served the classifier locally before it, in paired rounds (stand-in, native, stand-in, native).

Each round serves the default pipeline alone and reads: start-to-ready time, processes and resident
memory (tritonserver and its children, summed VmRSS) for one pipeline and for five copies of it;
perf_analyzer throughput and p50 at c=1, 64 and 200 on both corpora; CPU ms per text per process at
c=64; and c=64 beside two busy loops and under a one-CPU cgroup quota. The stand-in's files are taken
from git at STAND_IN_COMMIT, the last commit that had them.
Writes benchmarks/results/backend-comparison/ (results.json, report.md).
"""

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import installation, start_on_free_ports
from server.procfs import children, cpu_seconds, resident_bytes

from . import contention, corpus, perf_analyzer, repositories, server_stats

log = logging.getLogger("benchmarks.backend_comparison")

STAND_IN_COMMIT = "95df5bedc227f4cc4cad00a98f0ab58b97dc532e"
STAND_IN_FILES = ("server/backends/pytorch/model.py", "server/backends/pytorch/torchscript.py")
BACKENDS = ("stand-in", "native")
LEVELS = (1, 64, 200)
CORPORA = ("tweets", "varied")
COPIES = 5


def stand_in_assembly(directory: Path, original):
    """The backend directory as the launcher assembled it before: the stand-in's Python files as `pytorch`."""
    original(directory)
    pytorch = directory / "pytorch"
    shutil.rmtree(pytorch)
    pytorch.mkdir()
    for path in STAND_IN_FILES:
        text = subprocess.run(["git", "show", f"{STAND_IN_COMMIT}:{path}"], capture_output=True, text=True, check=True).stdout
        (pytorch / Path(path).name).write_text(text)
    return directory


def serve(backend: str, repository: Path, log_file: Path):
    """A started server whose classifiers run on `backend`, and its start-to-ready seconds."""
    began = time.monotonic()
    if backend == "native":
        server = start_on_free_ports(repository, log_file)
    else:
        original = installation.TritonInstallation.assemble_backends

        def assemble(self, directory):
            return stand_in_assembly(directory, lambda folder: original(self, folder))

        with mock.patch.object(installation.TritonInstallation, "assemble_backends", assemble):
            server = start_on_free_ports(repository, log_file)
    return server, time.monotonic() - began


def footprint(server) -> dict:
    pids = [server.process.pid, *children(server.process.pid)]
    return {"processes": len(pids), "resident_mb": sum(resident_bytes(pid) for pid in pids) / 2**20}


def throughput(server, pipeline: Pipeline, texts: dict[str, list[str]], workdir: Path) -> dict:
    """Per corpus and level, perf_analyzer's row; at c=64 with CPU ms per text per process."""
    processes = {"tritonserver": server.process.pid, **server.stubs}
    results = {}
    for corpus_name, corpus_texts in texts.items():
        data = perf_analyzer.text_input_data(corpus_texts)
        for level in LEVELS:
            stats = server_stats.snapshot(server.endpoints.http)
            used = {name: cpu_seconds(pid) for name, pid in processes.items()}
            row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, level, data, workdir, **perf_analyzer.FULL)
            if level == 64:
                count = server_stats.snapshot(server.endpoints.http)[pipeline.name]["inference_count"] - stats[pipeline.name]["inference_count"]
                row["cpu_ms_per_text"] = {name: 1000 * (cpu_seconds(pid) - used[name]) / count for name, pid in processes.items()}
            results[f"{corpus_name} c={level}"] = row
            log.info("    %s c=%d: %.1f texts/s, p50 %.1f ms", corpus_name, level, row["throughput"], row["p50_ms"])
    return results


def shared_cpu(backend: str, pipeline: Pipeline, texts: dict[str, list[str]], workdir: Path) -> dict:
    results = {}
    for name in ("two busy loops", "one-CPU quota"):
        try:
            if name == "two busy loops":
                with contention.busy_loops(2):
                    results[name] = _served_c64(backend, pipeline, texts, workdir, None)
            else:
                with contention.cpu_quota(1.0) as cgroup:
                    results[name] = _served_c64(backend, pipeline, texts, workdir, cgroup)
        except contention.QuotaUnavailable as reason:
            results[name] = f"skipped: {reason}"
    return results


def _served_c64(backend: str, pipeline: Pipeline, texts: dict[str, list[str]], workdir: Path, cgroup) -> dict:
    if cgroup is None:
        server, _ = serve(backend, pipeline.root, workdir / "tritonserver-shared.log")
    else:
        with cgroup.joined():
            server, _ = serve(backend, pipeline.root, workdir / "tritonserver-shared.log")
    try:
        readings = {}
        for corpus_name, corpus_texts in texts.items():
            row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, 64, perf_analyzer.text_input_data(corpus_texts), workdir, **perf_analyzer.FULL)
            readings[corpus_name] = row["throughput"]
            log.info("    %s, %s c=64: %.1f texts/s", "quota" if cgroup else "busy loops", corpus_name, row["throughput"])
        return readings
    finally:
        server.stop(drain_timeout=5)


def one_round(backend: str, pipeline: Pipeline, five: Path, texts: dict[str, list[str]], workdir: Path) -> dict:
    log.info("  %s", backend)
    server, seconds = serve(backend, five, workdir / "tritonserver-five.log")
    result = {"five_pipelines": {"ready_s": seconds, **footprint(server)}}
    server.stop(drain_timeout=5)
    server, seconds = serve(backend, pipeline.root, workdir / "tritonserver-one.log")
    try:
        result["one_pipeline"] = {"ready_s": seconds, **footprint(server)}
        result["served"] = throughput(server, pipeline, texts, workdir)
        result["one_pipeline_after_load"] = footprint(server)
    finally:
        server.stop(drain_timeout=5)
    result["shared_cpu"] = shared_cpu(backend, pipeline, texts, workdir)
    log.info("  %s: %s", backend, {key: result[key] for key in ("five_pipelines", "one_pipeline", "shared_cpu")})
    return result


def medians(rounds: list[dict], backend: str) -> dict:
    mine = [entry[backend] for entry in rounds]

    def median(get):
        values = [get(entry) for entry in mine]
        return statistics.median(values) if all(isinstance(value, (int, float)) for value in values) else None

    first = mine[0]
    out = {key: median(lambda entry, key=key: entry["served"][key]["throughput"]) for key in first["served"]}
    out |= {f"{key} p50 ms": median(lambda entry, key=key: entry["served"][key]["p50_ms"]) for key in first["served"] if key.endswith("c=1")}
    for size in ("one_pipeline", "five_pipelines"):
        for figure in ("ready_s", "resident_mb", "processes"):
            out[f"{size} {figure}"] = median(lambda entry, size=size, figure=figure: entry[size][figure])
    out["one_pipeline_after_load resident_mb"] = median(lambda entry: entry["one_pipeline_after_load"]["resident_mb"])
    for condition, readings in first["shared_cpu"].items():
        if isinstance(readings, dict):
            for corpus_name in readings:
                out[f"{condition}, {corpus_name} c=64"] = median(lambda entry, c=condition, n=corpus_name: entry["shared_cpu"][c][n])
    for corpus_name in CORPORA:
        out[f"CPU ms/text {corpus_name} c=64: all server processes"] = median(
            lambda entry, c=corpus_name: sum(entry["served"][f"{c} c=64"]["cpu_ms_per_text"].values())
        )
        processes = first["served"][f"{corpus_name} c=64"]["cpu_ms_per_text"]
        for process in processes:
            out[f"CPU ms/text {corpus_name} c=64: {process}"] = median(
                lambda entry, c=corpus_name, p=process: entry["served"][f"{c} c=64"]["cpu_ms_per_text"].get(p, 0.0)
            )
    return out


def report(results: dict) -> str:
    table = results["medians"]
    keys = list(dict.fromkeys([*table["stand-in"], *table["native"]]))
    lines = [
        "## Triton's own pytorch backend against the Python-based stand-in",
        "",
        f"Paired rounds ({' '.join(results['order'])}), one machine, one run; medians of "
        f"{len(results['rounds'])} rounds per backend. Default pipeline ({results['pipeline']}), perf_analyzer over gRPC "
        "on the same machine; resident memory is the sum of VmRSS over tritonserver and its children.",
        "",
        "| figure | stand-in | native | native / stand-in |",
        "|---|---:|---:|---:|",
    ]
    for key in keys:
        a, b = table["stand-in"].get(key), table["native"].get(key)
        ratio = f"{b / a:.2f}x" if a and b is not None else ""
        lines.append(f"| {key} | {_cell(a)} | {_cell(b)} | {ratio} |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backend_comparison", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per backend (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/backend-comparison"))
    parser.add_argument("--report-only", action="store_true", help="rewrite report.md from the output's results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.output / "results.json").read_text())
        results["medians"] = {backend: medians(results["rounds"], backend) for backend in BACKENDS}
        (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.output / "report.md").write_text(report(results))
        print(report(results))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    texts = {name: corpus.generate(2000, corpus=name) for name in CORPORA}
    order = [backend for _ in range(args.rounds) for backend in BACKENDS]
    rounds = []
    with tempfile.TemporaryDirectory(prefix="backend-comparison-") as folder:
        workdir = Path(folder)
        served = repositories.alone(pipeline, workdir / "one")
        five = workdir / "five"
        repositories.copies(pipeline, five, COPIES)
        for number in range(args.rounds):
            log.info("round %d", number + 1)
            rounds.append({backend: one_round(backend, served, five, texts, workdir) for backend in BACKENDS})
    results = {"pipeline": args.pipeline, "order": order, "rounds": rounds}
    results["medians"] = {backend: medians(rounds, backend) for backend in BACKENDS}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "report.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
