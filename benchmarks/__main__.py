"""python -m benchmarks: a served pipeline against the in-process ceiling and the peers, in one run.

  python -m benchmarks                                   # pipeline `sentiment` of model_repository
  python -m benchmarks --pipeline toxicity --variants default,default-int8

`--pipeline` picks the single-text pipeline of `--model-repository` that the `default` variant (and
its int8 conversion) measures; minilm-head and roberta-base are sentiment classifiers of their own.
With the `default` variant it also measures that pipeline on a shared or limited CPU (shared_cpu.py),
around a model that costs nothing (pipeline_cost.py), and against the ceiling in paired rounds
(served_vs_ceiling.py). Writes benchmarks/results/<variant>/<corpus>/ (results.json, report.md, PNG
plots), shared-cpu/, pipeline-cost/, served-vs-ceiling/ and benchmarks/results/report.md.
"""

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from conversion.repository import DEFAULT_PIPELINE, Pipeline, RepositoryError, add_repository_argument
from server import free_endpoints, start_on_free_ports
from server.allocator import rerun_with_allocator

from . import (
    ceiling, corpus, fastapi_peer, http_load, infinity_peer, peer_server, perf_analyzer, pipeline_cost, report, repositories,
    served_vs_ceiling, server_stats, shared_cpu, variants,
)  # fmt: skip
from .results import Ceiling, Row, VariantResults

log = logging.getLogger("benchmarks")

CONCURRENCY = [1, 8, 32, 64, 128, 200, 256]
FEW_LEVELS = [1, 64, 200]  # the tweets corpus, and every level of the roberta-base-sized variants
TOKENIZER_CONCURRENCY = [8, 64, 200]
QUICK_CONCURRENCY = [1, 8]
CEILING_BATCHES = [1, 8, 16, 32, 64]
PRIMARY = "varied"  # the corpus the peers and the targets use


@dataclass(frozen=True)
class Plan:
    """What a variant is measured on: its corpora, its concurrency levels and the ceiling's texts."""

    corpora: list[str]
    levels: list[int]
    ceiling_texts: int
    latency_texts: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_repository_argument(parser, help="the default model")
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE, help="the single-text pipeline of the repository to measure (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="smoke run in a few minutes: two levels, small corpora")
    parser.add_argument(
        "--variants",
        default="default,default-int8,minilm-head",
        help="comma-separated: default, default-int8, minilm-head, roberta-base, roberta-base-int8 (seed scale, about 1 h)",
    )
    return parser.parse_args(argv)


class Run:
    """One benchmark run: shared corpora, settings and scratch space."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.quick = args.quick
        self.workdir = workdir
        size = 300 if args.quick else 2000
        self.corpora = {name: corpus.generate(size, corpus=name) for name in (PRIMARY, "tweets")}
        self.concurrency = QUICK_CONCURRENCY if args.quick else CONCURRENCY
        self.tokenizer_concurrency = QUICK_CONCURRENCY[-1:] if args.quick else TOKENIZER_CONCURRENCY
        self.settings = perf_analyzer.QUICK if args.quick else perf_analyzer.FULL
        self.http_requests = 20 if args.quick else 300

    def plan(self, variant: str) -> Plan:
        """Corpora, levels and ceiling size for a variant: roberta-base-sized ones run ten times slower."""
        if self.quick:
            return Plan(corpora=[PRIMARY], levels=self.concurrency, ceiling_texts=64, latency_texts=16)
        if variant.startswith("roberta-base"):
            return Plan(corpora=[PRIMARY], levels=FEW_LEVELS, ceiling_texts=64, latency_texts=32)
        return Plan(corpora=[PRIMARY, "tweets"], levels=self.concurrency, ceiling_texts=512, latency_texts=200)

    def perf(
        self, model: str, url: str, data: dict, levels: list[int], protocol: str = "grpc", stats_url: str | None = None
    ) -> list[Row]:
        """perf_analyzer at each level; with `stats_url`, each row with Triton's statistics over its run."""
        rows = []
        for concurrency in levels:
            before = server_stats.snapshot(stats_url) if stats_url else None
            try:
                row = Row(**perf_analyzer.run(model, url, concurrency, data, self.workdir, protocol, **self.settings))
            except perf_analyzer.PerfAnalyzerFailed as error:
                log.warning("  %s c=%d: left out of the report: %s", model, concurrency, error)
                continue
            if stats_url:
                row = row.with_server(server_stats.breakdown(before, server_stats.snapshot(stats_url)))
            _log_row(model, row)
            rows.append(row)
        return rows

    def http_load(self, name: str, target: http_load.Target, texts: list[str], levels: list[int]) -> list[Row]:
        rows = []
        for concurrency in levels:
            rows.append(Row(**http_load.run(target, texts, concurrency, self.http_requests)))
            _log_row(name, rows[-1])
        return rows


def _log_row(name: str, row: Row) -> None:
    log.info(
        "  %-22s c=%-3d %8.1f texts/s  p50 %7.1f ms  p99 %7.1f ms",
        name, row.concurrency, row.throughput, row.p50_ms, row.p99_ms,
    )  # fmt: skip


def measure_triton(run: Run, name: str, pipeline: Pipeline, results: dict[str, VariantResults], with_peers: bool) -> None:
    """The served pipeline on every corpus; with peers, also the tokenizer alone and the client-side design."""
    served = repositories.with_peer_models(pipeline, run.workdir / f"served-{name}")
    server = start_on_free_ports(served.root, run.workdir / f"tritonserver-{name}.log")
    levels = run.plan(name).levels
    try:
        url, stats = server.endpoints.grpc, server.endpoints.http
        for corpus_name, result in results.items():
            texts = run.corpora[corpus_name]
            corpus_levels = levels if corpus_name == PRIMARY else FEW_LEVELS
            log.info("  served, %s corpus", corpus_name)
            result.served = run.perf(pipeline.name, url, perf_analyzer.text_input_data(texts), corpus_levels, stats_url=stats)
        if with_peers:
            texts = run.corpora[PRIMARY]
            result = results[PRIMARY]
            tokenizer = pipeline.model("tokenizer")
            result.tokenizer_alone = run.perf(tokenizer, url, perf_analyzer.text_input_data(texts), run.tokenizer_concurrency, stats_url=stats)
            encoder = ceiling.InProcessPipeline(pipeline).encoder
            token_data = perf_analyzer.token_input_data(encoder.token_ids(texts))
            unbatched = repositories.unbatched_classifier(pipeline)
            result.client_side = run.perf(unbatched, url, token_data, levels, stats_url=stats)
        if variants.sequence_classifier_checkpoint(pipeline):
            log.info("  served through the HTTP load generator, for the infinity-emb comparison")
            target = http_load.triton(server.endpoints.http, pipeline.name)
            results[PRIMARY].served_http = run.http_load(f"{pipeline.name} (HTTP)", target, run.corpora[PRIMARY], levels)
    finally:
        server.stop(drain_timeout=5)


def measure_fastapi(run: Run, pipeline: Pipeline, levels: list[int]) -> list[Row]:
    endpoints = free_endpoints()
    env = {**os.environ, **fastapi_peer.environment(pipeline)}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "benchmarks.fastapi_peer:create_app",
        "--host", endpoints.host, "--port", str(endpoints.http_port), "--log-level", "warning",
    ]  # fmt: skip
    with peer_server.running(command, env, f"{endpoints.http}/v2/health/ready", run.workdir / "fastapi.log", timeout=120):
        url = f"{endpoints.host}:{endpoints.http_port}"
        return run.perf(pipeline.name, url, perf_analyzer.text_input_data(run.corpora[PRIMARY]), levels, protocol="http")


def measure_infinity(run: Run, name: str, pipeline: Pipeline, checkpoint: Path, levels: list[int]) -> list[Row] | str:
    """infinity-emb serving the checkpoint the variant was converted from, or why it could not run."""
    if infinity_peer.executable() is None:
        return f"not installed: {infinity_peer.VENV} is missing (`make bench` creates it)"
    try:
        with infinity_peer.serve(checkpoint, pipeline.name, run.workdir / f"infinity-{name}.log") as url:
            return run.http_load("infinity-emb", http_load.infinity(url), run.corpora[PRIMARY], levels)
    except RuntimeError as error:
        return f"did not start: {error}"


def measure_variant(run: Run, name: str, pipeline: Pipeline) -> list[VariantResults]:
    """One result per corpus: the ceiling and the served pipeline, and on the primary corpus the peers."""
    manifest, plan = repositories.measurable(pipeline), run.plan(name)
    log.info("%s: pipeline %s, %s", name, pipeline.name, manifest.source)
    model = json.loads(manifest.to_json())  # the record as conversion.json holds it
    started = time.monotonic()
    results = {}
    for corpus_name in plan.corpora:
        log.info("  in-process ceiling, %s corpus", corpus_name)
        texts = run.corpora[corpus_name][: plan.ceiling_texts]
        measured = Ceiling.from_dict(ceiling.measure(pipeline, texts, CEILING_BATCHES, plan.latency_texts))
        results[corpus_name] = VariantResults(name, corpus_name, pipeline.name, list(pipeline.models), model, measured)
    measure_triton(run, name, pipeline, results, with_peers=name == "default")
    if name in ("default", "roberta-base"):
        results[PRIMARY].fastapi = measure_fastapi(run, pipeline, plan.levels)
    checkpoint = variants.sequence_classifier_checkpoint(pipeline)
    if checkpoint:
        results[PRIMARY].infinity = measure_infinity(run, name, pipeline, checkpoint, plan.levels)
    for result in results.values():
        result.seconds = time.monotonic() - started
    return list(results.values())


def measure_default_pipeline(run: Run, pipeline: Pipeline, output: Path) -> list[str]:
    """The measured pipeline on a shared or limited CPU, its own cost around the model, and its
    served/ceiling ratios in paired rounds: report sections."""
    log.info("%s on a shared or limited CPU", pipeline.name)
    sections = [report.write_shared_cpu(shared_cpu.measure(pipeline, run.corpora, run.workdir), output / "shared-cpu")]
    log.info("%s around a model.pt that costs nothing", pipeline.name)
    sections.append(pipeline_cost.write(pipeline_cost.run(pipeline, run.workdir), output / "pipeline-cost"))
    log.info("%s against the in-process ceiling, in paired rounds", pipeline.name)
    rounds = served_vs_ceiling.ROUNDS
    paired = served_vs_ceiling.measure(pipeline, list(served_vs_ceiling.CORPORA), rounds, run.workdir / "served-vs-ceiling")
    sections.append(served_vs_ceiling.write(paired, rounds, output / "served-vs-ceiling"))
    return sections


def build_variant(name: str, built: dict[str, Pipeline], workdir: Path) -> Pipeline:
    """The pipeline of a variant, converting what it needs first; `built` starts with "default"."""
    if name not in built:
        if name == "roberta-base":
            built[name] = variants.roberta_base(workdir)
        elif name == "minilm-head":
            built[name] = variants.minilm_head(workdir)
        elif name.endswith("-int8"):
            base = name.removesuffix("-int8")
            built[name] = variants.int8_of(build_variant(base, built, workdir), workdir / base)
        else:
            raise ValueError(f"unknown variant {name!r}")
    return built[name]


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the servers and the peers started here are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    names = ["default"] if args.quick else args.variants.split(",")
    try:
        default = Pipeline(args.model_repository.resolve(), args.pipeline)
        repositories.measurable(default)
    except RepositoryError as error:
        log.error("%s", error)
        return 2
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as scratch:
        run = Run(args, Path(scratch))
        all_results, built = [], {"default": default}
        for name in names:
            for results in measure_variant(run, name, build_variant(name, built, run.workdir)):
                all_results.append(results)
                report.write_variant(results, args.output / name / results.corpus)
        sections = measure_default_pipeline(run, default, args.output) if "default" in names and not args.quick else []
        report.write_summary(all_results, args.output, report.conditions(run.corpora, run.concurrency, args.quick), sections)
    log.info("report: %s", args.output / "report.md")
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks", sys.argv[1:])
    sys.exit(main())
