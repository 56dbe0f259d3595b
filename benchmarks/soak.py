"""python -m benchmarks.soak: constant load on the served pipeline, with resident memory before and after.

  python -m benchmarks.soak --minutes 5 --concurrency 200

perf_analyzer drives `sentiment` over gRPC on loopback with the benchmark's generated texts, one
step (a minute) at a time; after a warm-up step the resident memory of tritonserver and of every
Python stub is read, then again after each step. Failures come from Triton's statistics API.
Writes benchmarks/results/soak/soak.json and soak.md.
"""

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from server import start_on_free_ports
from server.processes import python_stubs, resident_bytes

from . import corpus, perf_analyzer, server_stats

log = logging.getLogger("benchmarks.soak")
MIB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--minutes", type=float, default=5, help="minutes of load after the warm-up step")
    parser.add_argument("--step-seconds", type=float, default=60, help="load between two memory readings")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/soak"))
    return parser.parse_args(argv)


def memory(server_pid: int) -> dict[str, int]:
    """Process name → resident bytes, for tritonserver and each of its Python stubs."""
    processes = {"tritonserver": server_pid, **python_stubs(server_pid)}
    return {name: resident_bytes(pid) for name, pid in processes.items()}


def growth_percent(start: dict[str, int], end: dict[str, int]) -> dict[str, float]:
    return {name: 100.0 * (end[name] - start[name]) / start[name] for name in start}


def soak(args: argparse.Namespace, workdir: Path) -> dict:
    texts = perf_analyzer.text_input_data(corpus.generate(2000))
    server = start_on_free_ports(args.repository.resolve(), workdir / "tritonserver.log")
    try:
        url, stats_url = server.endpoints.grpc, server.endpoints.http

        def step() -> dict:
            before = server_stats.snapshot(stats_url)
            row = perf_analyzer.run_for("sentiment", url, args.concurrency, texts, workdir, args.step_seconds)
            row["failed"] = sum(m["failed"] for m in server_stats.breakdown(before, server_stats.snapshot(stats_url)).values())
            row["memory"] = memory(server.process.pid)
            log.info(
                "  %6.1f texts/s  p50 %7.1f ms  p99 %7.1f ms  failed %d  server %s MiB",
                row["throughput"], row["p50_ms"], row["p99_ms"], row["failed"],
                " ".join(f"{name}={size / MIB:.0f}" for name, size in row["memory"].items()),
            )  # fmt: skip
            return row

        log.info("warm-up step of %.0f s at concurrency %d", args.step_seconds, args.concurrency)
        warm_up = step()
        steps, count = [], max(1, round(args.minutes * 60 / args.step_seconds))
        for index in range(count):
            log.info("step %d of %d", index + 1, count)
            steps.append(step())
    finally:
        server.stop(drain_timeout=30)
    return {
        "concurrency": args.concurrency,
        "step_seconds": args.step_seconds,
        "warm_up": warm_up,
        "steps": steps,
        "failed": sum(row["failed"] for row in [warm_up, *steps]),
        "memory_growth_percent": growth_percent(warm_up["memory"], steps[-1]["memory"]),
    }


def markdown(result: dict) -> str:
    names = list(result["warm_up"]["memory"])
    lines = [
        f"# Soak: {len(result['steps'])} x {result['step_seconds']:.0f} s at concurrency {result['concurrency']}"
        " (after a warm-up step)",
        "",
        f"Failed requests: {result['failed']}",
        "",
        "| step | texts/s | p50 ms | p99 ms | failed | " + " | ".join(f"{name} MiB" for name in names) + " |",
        "|---" * (5 + len(names)) + "|",
    ]
    for label, row in [("warm-up", result["warm_up"]), *enumerate(result["steps"], start=1)]:
        sizes = " | ".join(f"{row['memory'][name] / MIB:.1f}" for name in names)
        lines.append(
            f"| {label} | {row['throughput']:.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['failed']} | {sizes} |"
        )
    growth = ", ".join(f"{name} {percent:+.2f} %" for name, percent in result["memory_growth_percent"].items())
    lines += ["", f"Resident memory, end of the warm-up step to the end of the soak: {growth}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        result = soak(args, Path(scratch))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "soak.md").write_text(markdown(result))
    log.info("failed %d; memory growth %s", result["failed"], result["memory_growth_percent"])
    log.info("report: %s", args.output / "soak.md")
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
