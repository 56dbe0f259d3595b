"""python -m benchmarks.model_analyzer (make profile): Triton Model Analyzer's search over a pipeline's configs.

Model Analyzer (its own environment, .venv-model-analyzer) profiles the ensemble in remote mode: it loads
config variants of the three steps into a running server through the model-repository API, under the
steps' own names, and measures the ensemble with perf_analyzer at each. The server it drives is started
here for this run alone, with load and unload open (`python -m server --open-model-control` does the same),
on free loopback ports, and stopped after: a server whose configs change under it must carry no traffic.
The search bounds are in benchmarks/model-analyzer.yaml; this command adds the addresses, the paths, the
input data and `cpu_only_composing_models` (in remote mode Model Analyzer would give the variants
KIND_GPU, which cannot load without a GPU).

Writes OUTPUT (benchmarks/results/model-analyzer/): every measurement (metrics-model-inference.csv),
Model Analyzer's summary (result_summary.html) and plot, and report.md: each configuration at its best
throughput, best first, with Model Analyzer's own verdict.
"""

import argparse
import csv
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from conversion.repository import DEFAULT_PIPELINE, Pipeline, RepositoryError, add_repository_argument
from server import start_on_free_ports

from . import corpus, perf, perf_analyzer, repositories

log = logging.getLogger("benchmarks.model_analyzer")

SEARCH = Path(__file__).with_name("model-analyzer.yaml")
MODEL_ANALYZER = Path(".venv-model-analyzer/bin/model-analyzer")
NOISE = "No GPU metric corresponding to tag"  # one line per GPU metric and measurement on a machine without GPUs


def config(search: dict, pipeline: Pipeline, server, input_data: Path, workdir: Path) -> dict:
    """The committed search with what this run adds: the server, the repository it serves, where outputs go."""
    flags = {**search.get("perf_analyzer_flags", {}), "input-data": str(input_data)}
    return {
        **search,
        "triton_launch_mode": "remote",
        "triton_grpc_endpoint": server.endpoints.grpc,
        "triton_http_endpoint": server.endpoints.http.removeprefix("http://"),
        "triton_metrics_url": server.endpoints.metrics,
        "model_repository": str(pipeline.root),
        "output_model_repository_path": str(workdir / "variants"),
        "override_output_model_repository": True,
        "checkpoint_directory": str(workdir / "checkpoints"),
        "export_path": str(workdir / "export"),
        "perf_analyzer_path": str(Path(sys.executable).parent / "perf_analyzer"),
        "perf_analyzer_flags": flags,
        "cpu_only_composing_models": list(pipeline.models[1:]),
        "profile_models": [pipeline.name],
    }


def run_model_analyzer(model_analyzer: Path, config_file: Path, workdir: Path) -> int:
    """Model Analyzer's output to the terminal, less its per-measurement GPU warnings; all of it in model-analyzer.log."""
    command = [str(model_analyzer), "profile", "-f", str(config_file)]
    with open(workdir / "model-analyzer.log", "w") as log_file:
        process = subprocess.Popen(command, env=perf_analyzer.environment(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log_file.write(line)
            if NOISE not in line:
                print(line, end="", flush=True)
        return process.wait()


def best_per_configuration(measurements: Path) -> list[dict]:
    """Model Analyzer's CSV: each configuration at the concurrency that gave it the most throughput, best first."""
    best: dict[str, dict] = {}
    for row in csv.DictReader(measurements.open(newline="")):
        name = row["Model Config Path"].split(":")[0]
        entry = {
            "configuration": name,
            "instances": row["Instance Group"],
            "max_batch_size": row["Max Batch Size"],
            "concurrency": int(row["Concurrency"]),
            "throughput": float(row["Throughput (infer/sec)"]),
            "p99_ms": float(row["p99 Latency (ms)"]),
        }
        if name not in best or entry["throughput"] > best[name]["throughput"]:
            best[name] = entry
    return sorted(best.values(), key=lambda entry: entry["throughput"], reverse=True)


def verdict(summary: Path) -> str:
    """The summary's own sentence: 'In N measurements across M configurations, X is ... the default configuration ...'."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", summary.read_text(errors="replace"))))
    found = re.search(r"In \d+ measurements across \d+ configurations, .*?(?:constraints|configuration)[^.]*\.", text)
    return found.group(0) if found else "(the summary holds no verdict)"


def report(pipeline: str, corpus_name: str, rows: list[dict], summary_sentence: str, minutes: float) -> str:
    lines = [
        f"## Model Analyzer on pipeline `{pipeline}`",
        "",
        f"Triton Model Analyzer 1.58.0, remote mode, `benchmarks/model-analyzer.yaml`, texts: {corpus_name}; "
        f"{minutes:.1f} minutes. Steps in order: tokenizer, classifier, postprocess.",
        "",
        f"Model Analyzer: {summary_sentence}",
        "",
        "| configuration | instances | max batch size | best at concurrency | texts/s | p99 ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {row['configuration']} | {row['instances']} | {row['max_batch_size']} | {row['concurrency']} | {row['throughput']:.1f} | {row['p99_ms']:.0f} |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.model_analyzer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--file", type=Path, help="your texts, one per line (TEXT<TAB>PAIR for a pair pipeline)")
    parser.add_argument("--corpus", choices=sorted(corpus.CORPORA), default="tweets", help="the shipped texts sent without --file (default: %(default)s)")
    parser.add_argument("--model-analyzer", type=Path, default=MODEL_ANALYZER, help="the model-analyzer command (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/model-analyzer"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    if not args.model_analyzer.exists():
        print(f"python -m benchmarks.model_analyzer: {args.model_analyzer} is missing: `make profile` installs it", file=sys.stderr)
        return 2
    pipeline = Pipeline(args.model_repository, args.pipeline)
    try:
        manifest = pipeline.check()
        texts, pairs = perf.read_texts(args.file, manifest.pairs) if args.file else (corpus.generate(200, corpus=args.corpus), None)
    except (RepositoryError, perf.UsageError) as error:
        print(f"python -m benchmarks.model_analyzer: {error}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="model-analyzer-") as temporary:
        workdir = Path(temporary)
        served = repositories.alone(pipeline, workdir / "repository")
        input_data = workdir / "input-data.json"
        input_data.write_text(json.dumps(perf_analyzer.text_input_data(texts, pairs)))
        server = start_on_free_ports(served.root, workdir / "tritonserver.log", open_model_control=True)
        try:
            config_file = workdir / "config.yaml"
            config_file.write_text(yaml.safe_dump(config(yaml.safe_load(SEARCH.read_text()), served, server, input_data, workdir)))
            started = time.monotonic()
            returncode = run_model_analyzer(args.model_analyzer, config_file, workdir)
            minutes = (time.monotonic() - started) / 60
        finally:
            server.stop(drain_timeout=5)
        return write_results(args, workdir, served.name, str(args.file or args.corpus), returncode, minutes)


def write_results(args: argparse.Namespace, workdir: Path, pipeline: str, texts: str, returncode: int, minutes: float) -> int:
    export = workdir / "export"
    measurements = export / "results" / "metrics-model-inference.csv"
    summary = export / "reports" / "summaries" / pipeline / "result_summary.html"
    if returncode != 0 or not measurements.exists() or not summary.exists():
        log.error("Model Analyzer failed (exit %d); the last lines of its log:\n%s", returncode, _tail(workdir / "model-analyzer.log"))
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    shutil.copy(measurements, args.output / measurements.name)
    shutil.copy(summary, args.output / summary.name)
    plot = export / "plots" / "simple" / pipeline / "throughput_v_latency.png"
    if plot.exists():
        shutil.copy(plot, args.output / plot.name)
    text = report(pipeline, texts, best_per_configuration(measurements), verdict(summary), minutes)
    (args.output / "report.md").write_text(text)
    print(text)
    return 0


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


if __name__ == "__main__":
    sys.exit(main())
