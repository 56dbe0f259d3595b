"""python -m benchmarks.wait_policy: how the classifier's idle OpenMP threads should wait, measured idle
and beside two busy-loop processes, in process and served. server/threads.py's WAIT_POLICY is its answer.

In process: model.pt with the pipeline's tokenizer and postprocess code, batches of 64 and batch-1
latency, each policy in a fresh process (libgomp reads the settings once, when it loads). Served: the
pipeline under perf_analyzer, each policy in the server's environment: idle on varied and short texts at
c=64 and short texts at c=1, beside the busy loops on varied texts at c=64.
Writes benchmarks/results/wait-policy/ (results.json, report.md); `--parts served` measures the served part
again and keeps the in-process one.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from conversion.repository import DEFAULT_PIPELINE, Pipeline, add_repository_argument
from server import start_on_free_ports
from server.allocator import rerun_with_allocator
from server.threads import cpu_share, with_thread_settings

from . import ceiling, contention, corpus, perf_analyzer, repositories

log = logging.getLogger("benchmarks.wait_policy")

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
POLICIES = {
    "spin 300000 (libgomp's default)": {"GOMP_SPINCOUNT": "300000"},
    "spin 100000": {"GOMP_SPINCOUNT": "100000"},
    "spin 10000": {"GOMP_SPINCOUNT": "10000"},
    "spin 3000": {"GOMP_SPINCOUNT": "3000"},
    "spin 1000": {"GOMP_SPINCOUNT": "1000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one thread, spin 300000": {**ONE_THREAD, "GOMP_SPINCOUNT": "300000"},
    "two classifier instances of one thread": {**ONE_THREAD, "GOMP_SPINCOUNT": "300000"},
}
SERVED_POLICIES = ["spin 300000 (libgomp's default)", "spin 10000", "spin 3000", "spin 1000", "two classifier instances of one thread"]
INSTANCES = {"two classifier instances of one thread": 2}  # the classifier's instance count, where not 1
CONDITIONS = {"idle": 0, "two busy loops": 2}
# Shorter windows than make bench's: under the busy loops the default spin serves a few texts a second.
SERVED_SETTINGS = {"window_requests": 50, "max_trials": 4, "stability_percent": 25}


def policy_environment(policy: str) -> dict[str, str]:
    """This process's environment with the thread counts of its CPU share and `policy`'s settings."""
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {**with_thread_settings(env, cpu_share(env)), **POLICIES[policy]}


def measure_in_process(pipeline: Pipeline) -> dict:
    results = {}
    for condition, loops in CONDITIONS.items():
        with contention.busy_loops(loops):
            for policy in (policy for policy in POLICIES if policy not in INSTANCES):  # one process: one instance
                result = ceiling.in_fresh_process(pipeline, "varied", 256, policy_environment(policy))
                results.setdefault(policy, {})[condition] = result
                log.info("  in process, %s, %s: %s", condition, policy, result)
    return results


def served_copy(pipeline: Pipeline, destination: Path, instances: int) -> Pipeline:
    """`pipeline` alone at `destination`, its classifier with `instances` instances."""
    copy = repositories.alone(pipeline, destination)
    config = copy.root / copy.model("classifier") / "config.pbtxt"
    config.write_text(config.read_text().replace("instance_group [ { count: 1,", f"instance_group [ {{ count: {instances},"))
    return copy


def measure_served(pipeline: Pipeline, workdir: Path, policies: list[str]) -> dict:
    """Per policy: idle, varied and short texts at c=64 and short texts at c=1; beside the busy loops, varied at c=64."""
    data = {name: perf_analyzer.text_input_data(corpus.generate(2000, corpus=name)) for name in ("varied", "tweets")}
    plan = {"idle": [("varied", 64), ("tweets", 64), ("tweets", 1)], "two busy loops": [("varied", 64)]}
    results = {}
    for policy in policies:
        served_folder = served_copy(pipeline, workdir / f"served-{len(results)}", INSTANCES.get(policy, 1))
        saved, env = dict(os.environ), policy_environment(policy)
        os.environ.clear()
        os.environ.update(env)
        try:
            server = start_on_free_ports(served_folder.root, workdir / "tritonserver.log")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        try:
            for condition, runs in plan.items():
                with contention.busy_loops(CONDITIONS[condition]):
                    for corpus_name, level in runs:
                        row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, level, data[corpus_name], workdir, **SERVED_SETTINGS)
                        results.setdefault(policy, {}).setdefault(condition, {})[f"{corpus_name} c={level}"] = row
                        log.info("  served, %s, %s, %s c=%d: %.1f texts/s, p50 %.1f ms", condition, policy, corpus_name, level, row["throughput"], row["p50_ms"])
        finally:
            server.stop(drain_timeout=5)
    return results


def report(results: dict) -> str:
    lines = ["# How idle OpenMP threads wait", "", f"- {results['machine']}", "", "## In process (model.pt, tokenizer and postprocess code)", ""]
    lines += ["| policy | threads | idle batch 64 texts/s | idle batch-1 p50 ms | busy batch 64 texts/s | busy batch-1 p50 ms |", "|---|---:|---:|---:|---:|---:|"]
    for policy, by_condition in results["in_process"].items():
        idle, busy = by_condition["idle"], by_condition["two busy loops"]
        lines.append(
            f"| {policy} | {idle['torch_threads']} | {idle['batch64']:.1f} | {idle['batch1_p50_ms']:.1f} "
            f"| {busy['batch64']:.1f} | {busy['batch1_p50_ms']:.1f} |"
        )
    lines += ["", "## Served (perf_analyzer, gRPC; short windows, so readings spread by ±25 %)", ""]
    lines += ["| policy | idle varied c=64 texts/s | idle tweets c=64 texts/s | idle tweets c=1 p50 ms | busy varied c=64 texts/s | busy varied c=64 p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    for policy, by_condition in results["served"].items():
        idle, busy = by_condition["idle"], by_condition["two busy loops"]["varied c=64"]
        lines.append(
            f"| {policy} | {idle['varied c=64']['throughput']:.1f} | {idle['tweets c=64']['throughput']:.1f} | {idle['tweets c=1']['p50_ms']:.1f} "
            f"| {busy['throughput']:.1f} | {busy['p99_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wait_policy", description=__doc__)
    add_repository_argument(parser)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/wait-policy"))
    parser.add_argument("--parts", default="in_process,served", help="which to measure again; the others are kept from --output")
    parser.add_argument("--served-policies", default=",".join(SERVED_POLICIES), help="the served policies to measure again")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    pipeline = Pipeline(args.model_repository.resolve(), args.pipeline)
    repositories.measurable(pipeline)
    saved = args.output / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    results["machine"] = f"{os.cpu_count()} cores; {cpu_share().describe()}"
    parts = args.parts.split(",")
    if "in_process" in parts:
        results["in_process"] = measure_in_process(pipeline)
    if "served" in parts:
        with tempfile.TemporaryDirectory(prefix="wait-policy-") as workdir:
            measured = measure_served(pipeline, Path(workdir), args.served_policies.split(","))
            results["served"] = measured
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "report.md").write_text(report(results))
    log.info("report: %s", args.output / "report.md")
    return 0


if __name__ == "__main__":
    rerun_with_allocator("benchmarks.wait_policy", sys.argv[1:])
    sys.exit(main())
