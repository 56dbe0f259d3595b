"""python -m benchmarks: the served pipeline against the in-process ceiling and the peers, in one run.

Writes benchmarks/results/<variant>/ (results.json, report.md, PNG plots) and benchmarks/results/report.md.
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server import Endpoints, start_on_free_ports
from server.process import http_get

from . import ceiling, corpus, perf_analyzer, report, server_stats, variants

log = logging.getLogger("benchmarks")

CONCURRENCY = [1, 8, 32, 64, 128, 200, 256]
TOKENIZER_CONCURRENCY = [8, 64, 200]
QUICK_CONCURRENCY = [1, 8]
CEILING_BATCHES = [1, 8, 16, 32, 64]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"), help="the default model")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="smoke run in under a minute: default model, two levels")
    parser.add_argument(
        "--variants",
        default="default,default-int8",
        help="comma-separated: default, default-int8, roberta-base, roberta-base-int8 (seed scale, about 1 h)",
    )
    return parser.parse_args(argv)


class Run:
    """One benchmark run: shared texts, settings and scratch space."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.quick = args.quick
        self.workdir = workdir
        self.texts = corpus.generate(300 if args.quick else 2000)
        self.concurrency = QUICK_CONCURRENCY if args.quick else CONCURRENCY
        self.tokenizer_concurrency = QUICK_CONCURRENCY[-1:] if args.quick else TOKENIZER_CONCURRENCY
        self.settings = perf_analyzer.QUICK if args.quick else perf_analyzer.FULL

    def perf(self, model: str, url: str, data: dict, levels: list[int], protocol: str = "grpc", stats_url: str | None = None):
        rows = []
        for concurrency in levels:
            before = server_stats.snapshot(stats_url) if stats_url else None
            try:
                row = perf_analyzer.run(model, url, concurrency, data, self.workdir, protocol, **self.settings)
            except perf_analyzer.PerfAnalyzerFailed as error:
                log.warning("  %s c=%d: left out of the report: %s", model, concurrency, error)
                continue
            if stats_url:
                row["server"] = server_stats.breakdown(before, server_stats.snapshot(stats_url))
                row["failed"] = sum(model_stats["failed"] for model_stats in row["server"].values())
            log.info(
                "  %-22s c=%-3d %8.1f texts/s  p50 %7.1f ms  p99 %7.1f ms",
                model, concurrency, row["throughput"], row["p50_ms"], row["p99_ms"],
            )  # fmt: skip
            rows.append(row)
        return rows


def measure_triton(run: Run, name: str, repository: Path, with_peers: bool) -> dict:
    served_repository = variants.with_peer_models(repository, run.workdir / f"served-{name}")
    server = start_on_free_ports(served_repository, run.workdir / f"tritonserver-{name}.log")
    try:
        url, stats = server.endpoints.grpc, server.endpoints.http
        text_data = perf_analyzer.text_input_data(run.texts)
        results = {"served": run.perf("sentiment", url, text_data, run.concurrency, stats_url=stats)}
        if with_peers:
            results["tokenizer_alone"] = run.perf("tokenizer", url, text_data, run.tokenizer_concurrency, stats_url=stats)
            encoder = ceiling.Pipeline(repository).encoder
            ids, masks = zip(*(encoder.encode([text]) for text in run.texts))
            token_data = perf_analyzer.token_input_data([row[0] for row in ids], [mask[0] for mask in masks])
            results["client_side"] = run.perf(
                "classifier_unbatched", url, token_data, run.concurrency, stats_url=stats
            )
        return results
    finally:
        server.stop(drain_timeout=5)


def measure_fastapi(run: Run, repository: Path) -> list[dict]:
    endpoints = Endpoints.on_free_ports()
    env = {**os.environ, "SENTIMENT_REPOSITORY": str(repository.resolve())}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "benchmarks.fastapi_peer:create_app",
        "--host", endpoints.host, "--port", str(endpoints.http_port), "--log-level", "warning",
    ]  # fmt: skip
    with open(run.workdir / "fastapi.log", "wb") as log_stream:
        process = subprocess.Popen(command, env=env, stdout=log_stream, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while http_get(f"{endpoints.http}/v2/health/ready")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the FastAPI peer did not start; see {run.workdir / 'fastapi.log'}")
            time.sleep(0.5)
        url = f"{endpoints.host}:{endpoints.http_port}"
        return run.perf("sentiment", url, perf_analyzer.text_input_data(run.texts), run.concurrency, protocol="http")
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure_variant(run: Run, name: str, repository: Path, with_peers: bool) -> dict:
    log.info("%s: %s", name, variants.manifest(repository)["source"])
    started = time.monotonic()
    log.info("  in-process ceiling")
    results = {
        "variant": name,
        "model": variants.manifest(repository),
        "ceiling": ceiling.measure(repository, run.texts, CEILING_BATCHES, seconds=1.0 if run.quick else 5.0),
    }
    results.update(measure_triton(run, name, repository, with_peers))
    if with_peers:
        results["fastapi"] = measure_fastapi(run, repository)
    results["seconds"] = time.monotonic() - started
    return results


def build_variant(name: str, built: dict[str, Path], workdir: Path) -> Path:
    """The repository of a variant, converting what it needs first; `built` starts with "default"."""
    if name not in built:
        if name == "roberta-base":
            built[name] = variants.roberta_base(built["default"], workdir)
        elif name.endswith("-int8"):
            base = name.removesuffix("-int8")
            built[name] = variants.int8_of(build_variant(base, built, workdir), workdir / base)
        else:
            raise ValueError(f"unknown variant {name!r}")
    return built[name]


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the servers and the FastAPI peer started here are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    names = ["default"] if args.quick else args.variants.split(",")
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as scratch:
        run = Run(args, Path(scratch))
        all_results, built = [], {"default": args.repository.resolve()}
        for name in names:
            repository = build_variant(name, built, run.workdir)
            results = measure_variant(run, name, repository, with_peers=not name.endswith("int8"))
            all_results.append(results)
            report.write_variant(results, args.output / name)
        report.write_summary(all_results, args.output, conditions=report.conditions(run.texts, run.concurrency, args.quick))
    log.info("report: %s", args.output / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
