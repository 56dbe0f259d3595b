"""python -m benchmarks.response_cache: Triton's response cache on a stream of texts that repeat.

Real streams repeat texts (retweets, the same query). The stream here draws 20,000 requests of one
tweet each from 100,000 distinct tweets with Zipf weights (the k-th most common drawn with weight
1/k), so some texts come back often and most never; its repeat share is the fraction of requests
whose text came earlier in it. Each reading starts a fresh server on the pipeline alone, without and
with `--response-cache-mb`, and runs perf_analyzer at one concurrency from the stream's start: texts/s,
p50, and the cache's hit rate and memory from Triton's statistics and metrics. The hit path alone is
the same with every request a text already answered. Writes benchmarks/results/response-cache/.
"""

import argparse
import json
import logging
import random
import sys
import tempfile
import urllib.request
from pathlib import Path

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator

from . import corpus, perf_analyzer, repositories, server_stats

log = logging.getLogger("benchmarks.response_cache")

STREAM_REQUESTS = 20_000
DISTINCT_TEXTS = 100_000
CACHE_MB = 64
LEVELS = (1, 64)
METRICS = ("nv_cache_num_entries", "nv_cache_util")


def zipf_stream(seed: int = 0) -> list[str]:
    """STREAM_REQUESTS texts drawn from DISTINCT_TEXTS tweets, the k-th with weight 1/k."""
    texts = corpus.generate(DISTINCT_TEXTS, seed=seed, corpus="tweets")
    weights = [1 / rank for rank in range(1, len(texts) + 1)]
    return random.Random(seed).choices(texts, weights=weights, k=STREAM_REQUESTS)


def repeat_share(stream: list[str]) -> float:
    """The fraction of requests whose text came earlier in the stream: the most any cache can hit."""
    seen: set[str] = set()
    repeats = 0
    for text in stream:
        repeats += text in seen
        seen.add(text)
    return repeats / len(stream)


def cache_metrics(metrics_url: str) -> dict[str, float]:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        lines = response.read().decode().splitlines()
    found = {}
    for line in lines:
        name = line.split("{")[0].split(" ")[0]
        if name in METRICS:
            found[name] = float(line.rsplit(" ", 1)[1])
    return found


def one_reading(pipeline: Pipeline, stream: list[str], level: int, cache_mb: int, workdir: Path) -> dict:
    server = start_on_free_ports(pipeline.root, workdir / "tritonserver.log", response_cache_mb=cache_mb)
    try:
        row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, level, perf_analyzer.text_input_data(stream), workdir, **perf_analyzer.FULL)
        ensemble = server_stats.snapshot(server.endpoints.http)[pipeline.name]["inference_stats"]
        hits = int(ensemble.get("cache_hit", {}).get("count", 0))
        misses = int(ensemble.get("cache_miss", {}).get("count", 0))
        row["hit_rate"] = hits / (hits + misses) if hits + misses else 0.0
        row["cache"] = cache_metrics(server.endpoints.metrics) if cache_mb else {}
    finally:
        server.stop(drain_timeout=5)
    log.info("  cache %d MiB, c=%d: %.0f texts/s, p50 %.1f ms, hit rate %.2f", cache_mb, level, row["throughput"], row["p50_ms"], row["hit_rate"])
    return row


def measure(pipeline: Pipeline, workdir: Path) -> dict:
    stream = zipf_stream()
    hit_path = corpus.generate(10, corpus="tweets") * 100
    results = {"repeat_share": repeat_share(stream), "stream_requests": len(stream), "distinct_texts": len(set(stream)), "readings": []}
    for level in LEVELS:
        for cache_mb in (0, CACHE_MB):
            results["readings"].append({"stream": "zipf", "cache_mb": cache_mb, **one_reading(pipeline, stream, level, cache_mb, workdir)})
    for cache_mb in (0, CACHE_MB):
        results["readings"].append({"stream": "hit path", "cache_mb": cache_mb, **one_reading(pipeline, hit_path, 1, cache_mb, workdir)})
    return results


def report(results: dict) -> str:
    lines = [
        "## The response cache on texts that repeat",
        "",
        f"A stream of {results['stream_requests']:,} tweets drawn with Zipf weights from {DISTINCT_TEXTS:,} ({results['distinct_texts']:,} "
        f"distinct in it): {results['repeat_share']:.0%} of its requests repeat an earlier text. Fresh server per reading, "
        f"perf_analyzer from the stream's start, gRPC; the hit path: 10 tweets over and over, all answered before.",
        "",
        "| stream | cache | concurrency | texts/s | p50 ms | hit rate | entries | cache used |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["readings"]:
        cache = f"{row['cache_mb']} MiB" if row["cache_mb"] else "off"
        entries = row["cache"].get("nv_cache_num_entries")
        used = row["cache"].get("nv_cache_util")
        lines.append(
            f"| {row['stream']} | {cache} | {row['concurrency']} | {row['throughput']:.0f} | {row['p50_ms']:.2f} | "
            f"{row['hit_rate']:.0%} | {'' if entries is None else f'{entries:.0f}'} | {'' if used is None else f'{used:.2%}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.response_cache", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/response-cache"))
    args = parser.parse_args(argv)
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    with tempfile.TemporaryDirectory(prefix="response-cache-") as workdir:
        served = repositories.alone(pipeline, Path(workdir) / "served")
        results = measure(served, Path(workdir))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "report.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.response_cache", sys.argv[1:])
    sys.exit(main())
