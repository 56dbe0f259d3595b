"""python -m benchmarks.first_request: how long the first request after ready takes, with and without warm-up.

Each run starts a server on one pipeline (`--pipeline`, default `sentiment`) alone, as `make serve`
starts one, and as soon as it reports ready sends one text over gRPC from a client whose channel is
already open, then the steady c=1 latency: the median of the next requests. Two copies of the
pipeline take turns: its configs as conversion writes them (every model runs its `model_warmup`
before it reports ready) and the same configs without `model_warmup`. Writes
benchmarks/results/first-request/ (results.json, report.md).
"""

import argparse
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator

from . import corpus, repositories

log = logging.getLogger("benchmarks.first_request")

STEADY_REQUESTS = 50
WARMUP_BLOCK = re.compile(r"^model_warmup \[\n.*?^\]\n", re.MULTILINE | re.DOTALL)
WAYS = ("with warm-up", "without warm-up")


def without_warmup(pipeline: Pipeline) -> Pipeline:
    """`pipeline` (a copy) with every model's model_warmup removed."""
    for model in pipeline.models:
        config = pipeline.root / model / "config.pbtxt"
        config.write_text(WARMUP_BLOCK.sub("", config.read_text()))
    return pipeline


def _infer_ms(client: grpcclient.InferenceServerClient, model: str, text: str) -> float:
    tensor = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[text.encode()]], dtype=object))
    started = time.perf_counter()
    client.infer(model, [tensor])
    return (time.perf_counter() - started) * 1000


def one_start(pipeline: Pipeline, texts: list[str], workdir: Path) -> dict:
    """First request and steady p50 (ms) of one fresh server."""
    server = start_on_free_ports(pipeline.root, workdir / "tritonserver.log")
    try:
        client = grpcclient.InferenceServerClient(server.endpoints.grpc)
        client.is_server_ready()  # the channel is open: what follows is the server's time
        first = _infer_ms(client, pipeline.name, texts[0])
        steady = statistics.median(_infer_ms(client, pipeline.name, text) for text in texts[1 : 1 + STEADY_REQUESTS])
        client.close()
    finally:
        server.stop(drain_timeout=5)
    return {"first_ms": first, "steady_p50_ms": steady}


def measure(pipeline: Pipeline, runs: int, workdir: Path) -> dict[str, list[dict]]:
    copies = {
        "with warm-up": repositories.alone(pipeline, workdir / "with"),
        "without warm-up": without_warmup(repositories.alone(pipeline, workdir / "without")),
    }
    texts = corpus.generate(1 + STEADY_REQUESTS, corpus="tweets")
    readings: dict[str, list[dict]] = {way: [] for way in WAYS}
    for run in range(runs):
        for way, copy in copies.items():
            readings[way].append(one_start(copy, texts, workdir))
            log.info("run %d, %s: %s", run + 1, way, {key: round(value, 1) for key, value in readings[way][-1].items()})
    return readings


def report(readings: dict[str, list[dict]]) -> str:
    lines = [
        "## The first request after ready",
        "",
        f"One tweet over gRPC as soon as the server reports ready (channel already open), then the median of the next "
        f"{STEADY_REQUESTS} (steady c=1). {len(readings[WAYS[0]])} fresh starts each, taking turns.",
        "",
        "| configs | first request ms: median (runs) | steady c=1 p50 ms | first / steady |",
        "|---|---|---:|---:|",
    ]
    for way, runs in readings.items():
        first = statistics.median(run["first_ms"] for run in runs)
        steady = statistics.median(run["steady_p50_ms"] for run in runs)
        each = ", ".join(f"{run['first_ms']:.0f}" for run in runs)
        lines.append(f"| {way} | {first:.1f} ({each}) | {steady:.1f} | {first / steady:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_request", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/first-request"))
    args = parser.parse_args(argv)
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    with tempfile.TemporaryDirectory(prefix="first-request-") as workdir:
        readings = measure(pipeline, args.runs, Path(workdir))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(readings, indent=2) + "\n")
    (args.output / "report.md").write_text(report(readings))
    print(report(readings))
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.first_request", sys.argv[1:])
    sys.exit(main())
