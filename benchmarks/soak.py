"""python -m benchmarks.soak: constant load on the served pipeline, and whether memory levels off.

  python -m benchmarks.soak --minutes 30 --concurrency 200

perf_analyzer drives a pipeline (`--pipeline`, default `sentiment`) over gRPC on loopback with the
benchmark's varied-length texts, one step (a minute) at a time; the server holds that pipeline alone,
copied out of `--model-repository`; after a warm-up step the resident memory of tritonserver and of
every Python stub is read, then again after each step. Failures come from Triton's statistics API.
Per process, a least-squares line over the last `--judge-minutes` gives the slope, and the spread
(largest minus smallest reading, against the mean) says whether memory is flat. Writes
benchmarks/results/soak/soak.json, soak.md and memory.png.
"""

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from conversion.repository import DEFAULT_PIPELINE, Pipeline, RepositoryError, add_repository_argument
from server import start_on_free_ports
from server.procfs import python_stubs, resident_bytes

from . import corpus, perf_analyzer, repositories, server_stats

log = logging.getLogger("benchmarks.soak")
MIB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE, help="the single-text pipeline to load (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=5, help="minutes of load after the warm-up step")
    parser.add_argument("--step-seconds", type=float, default=60, help="load between two memory readings")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--corpus", default="varied", choices=sorted(corpus.CORPORA))
    parser.add_argument("--judge-minutes", type=float, default=20, help="the final stretch whose flatness is judged")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/soak"))
    return parser.parse_args(argv)


def memory(server_pid: int) -> dict[str, int]:
    """Process name → resident bytes, for tritonserver and each of its Python stubs."""
    processes = {"tritonserver": server_pid, **python_stubs(server_pid)}
    return {name: resident_bytes(pid) for name, pid in processes.items()}


def growth_percent(start: dict[str, int], end: dict[str, int]) -> dict[str, float]:
    return {name: 100.0 * (end[name] - start[name]) / start[name] for name in start}


def soak(args: argparse.Namespace, pipeline: Pipeline, workdir: Path) -> dict:
    texts = perf_analyzer.text_input_data(corpus.generate(2000, corpus=args.corpus))
    served = repositories.alone(pipeline, workdir / "model_repository")
    server = start_on_free_ports(served.root, workdir / "tritonserver.log")
    try:
        url, stats_url = server.endpoints.grpc, server.endpoints.http

        def step() -> dict:
            before = server_stats.snapshot(stats_url)
            row = perf_analyzer.run_for(pipeline.name, url, args.concurrency, texts, workdir, args.step_seconds)
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
    judged = steps[-max(1, round(args.judge_minutes * 60 / args.step_seconds)) :]
    return {
        "pipeline": pipeline.name,
        "concurrency": args.concurrency,
        "corpus": args.corpus,
        "step_seconds": args.step_seconds,
        "warm_up": warm_up,
        "steps": steps,
        "failed": sum(row["failed"] for row in [warm_up, *steps]),
        "memory_growth_percent": growth_percent(warm_up["memory"], steps[-1]["memory"]),
        "judged_minutes": len(judged) * args.step_seconds / 60,
        "judged": trend(judged, args.step_seconds),
    }


def trend(steps: list[dict], step_seconds: float) -> dict[str, dict[str, float]]:
    """Per process, over `steps`: the fitted slope in MiB per minute, and the spread in percent of the mean."""
    minutes = [(index + 1) * step_seconds / 60 for index in range(len(steps))]
    result = {}
    for name in steps[0]["memory"]:
        mib = [row["memory"][name] / MIB for row in steps]
        mean_minute, mean_mib = sum(minutes) / len(minutes), sum(mib) / len(mib)
        spread = sum((minute - mean_minute) ** 2 for minute in minutes)
        slope = sum((m - mean_minute) * (v - mean_mib) for m, v in zip(minutes, mib)) / spread if spread else 0.0
        result[name] = {"slope_mib_per_minute": slope, "spread_percent": 100 * (max(mib) - min(mib)) / mean_mib}
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [result["warm_up"], *result["steps"]]
    minutes = [index * result["step_seconds"] / 60 for index in range(len(rows))]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name in result["warm_up"]["memory"]:
        axes.plot(minutes, [row["memory"][name] / MIB for row in rows], marker=".", label=name)
    axes.set(xlabel="minutes of load after the warm-up step", ylabel="resident memory (MiB)", yscale="log")
    axes.set_title(f"Resident memory at concurrency {result['concurrency']} ({result['corpus']} texts)")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def markdown(result: dict) -> str:
    names = list(result["warm_up"]["memory"])
    lines = [
        f"# Soak of `{result['pipeline']}`: {len(result['steps'])} x {result['step_seconds']:.0f} s at concurrency "
        f"{result['concurrency']} (after a warm-up step)",
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
    lines += [
        "",
        f"Resident memory, end of the warm-up step to the end of the soak: {growth}",
        "",
        f"Over the last {result['judged_minutes']:.0f} minutes (least-squares slope; spread = largest minus smallest, of the mean):",
        "",
        "| process | slope MiB/min | spread % |",
        "|---|---:|---:|",
        *(
            f"| {name} | {values['slope_mib_per_minute']:+.3f} | {values['spread_percent']:.2f} |"
            for name, values in result["judged"].items()
        ),
        "",
        "Plot: `memory.png`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    try:
        pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
        repositories.measurable(pipeline)
    except RepositoryError as error:
        log.error("%s", error)
        return 2
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        result = soak(args, pipeline, Path(scratch))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "soak.md").write_text(markdown(result))
    plot(result, args.output / "memory.png")
    log.info("failed %d; memory growth %s", result["failed"], result["memory_growth_percent"])
    log.info("report: %s", args.output / "soak.md")
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
