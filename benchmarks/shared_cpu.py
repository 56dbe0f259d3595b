"""The served pipeline and the in-process classifier on a CPU they do not have to themselves.

Three conditions, each against the same pipeline and corpora:
- idle: the machine as the rest of the benchmark has it;
- two busy loops: two processes that each want a whole core, as other pods on a shared node;
- a CPU quota of one CPU: tritonserver and its stubs in a cgroup limited to one CPU (a Kubernetes CPU
  limit), the load generator outside it. Needs root and a writable cgroup; skipped, with the reason, otherwise.

The server is started within each condition, so that the launcher sizes its threads to what it sees
(server/threads.py); the in-process reading runs in a fresh process with the same settings. Each
figure is reported against idle and against the fair share: the cores over the cores plus the busy
loops, or the quota over the cores.
"""

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from conversion.repository import Pipeline
from server import start_on_free_ports
from server.threads import cpu_share, thread_settings, with_thread_settings

from . import ceiling, contention, perf_analyzer, repositories

log = logging.getLogger("benchmarks.shared_cpu")

LEVEL = 64
BUSY_LOOPS = 2
QUOTA_CPUS = 1.0


@contextmanager
def condition(name: str):
    """(the cgroup the server and the in-process reading join, or None; the fair share) for a condition."""
    cores = os.cpu_count()
    if name == "idle":
        yield None, 1.0
    elif name == "two busy loops":
        with contention.busy_loops(BUSY_LOOPS):
            yield None, cores / (cores + BUSY_LOOPS)
    else:
        with contention.cpu_quota(QUOTA_CPUS) as cgroup:
            yield cgroup, min(1.0, QUOTA_CPUS / cores)


CONDITIONS = ("idle", "two busy loops", "one-CPU quota")


@contextmanager
def inside(cgroup: contention.Cgroup | None):
    if cgroup is None:
        yield
    else:
        with cgroup.joined():
            yield


def measure_condition(name: str, pipeline: Pipeline, corpora: dict[str, list[str]], workdir: Path, settings: dict, in_process_texts: int) -> dict:
    with condition(name) as (cgroup, fair_share):
        result = {"fair_share": fair_share, "corpora": {}}
        with inside(cgroup):
            server = start_on_free_ports(pipeline.root, workdir / f"tritonserver-{name.replace(' ', '-')}.log")
            env = with_thread_settings(dict(os.environ), cpu_share())
        result["server_threads"] = thread_settings(env)
        try:
            before = cgroup.throttling() if cgroup else None
            for corpus_name, texts in corpora.items():
                row = perf_analyzer.run(pipeline.name, server.endpoints.grpc, LEVEL, perf_analyzer.text_input_data(texts), workdir, **settings)
                result["corpora"][corpus_name] = {"served": row}
                log.info("  %s, %s: served %.1f texts/s, p99 %.0f ms", name, corpus_name, row["throughput"], row["p99_ms"])
            if cgroup:
                after = cgroup.throttling()
                result["throttled_periods"] = {key: after[key] - before[key] for key in after}
        finally:
            server.stop(drain_timeout=5)
        with inside(cgroup):
            for corpus_name in corpora:
                reading = ceiling.in_fresh_process(pipeline, corpus_name, in_process_texts, env)
                result["corpora"][corpus_name]["in_process"] = reading
                log.info("  %s, %s: in process %.1f texts/s at batch 64", name, corpus_name, reading["batch64"])
    return result


def measure(
    pipeline: Pipeline, corpora: dict[str, list[str]], workdir: Path, settings: dict = perf_analyzer.FULL, in_process_texts: int = 256
) -> dict:
    """Every condition; a condition the machine cannot make holds the reason instead."""
    served = repositories.alone(pipeline, workdir / "shared-cpu")
    results = {}
    for name in CONDITIONS:
        log.info("  shared CPU: %s", name)
        try:
            results[name] = measure_condition(name, served, corpora, workdir, settings, in_process_texts)
        except contention.QuotaUnavailable as reason:
            results[name] = f"skipped: {reason}"
    return with_ratios(results)


def with_ratios(results: dict) -> dict:
    """Each measured condition's figures over idle's, and those over the condition's fair share."""
    idle = results["idle"]
    for name, result in results.items():
        if isinstance(result, str):
            continue
        for corpus_name, figures in result["corpora"].items():
            base = idle["corpora"][corpus_name]
            served = figures["served"]["throughput"] / base["served"]["throughput"]
            in_process = figures["in_process"]["batch64"] / base["in_process"]["batch64"]
            figures["of_idle"] = {"served": served, "in_process": in_process}
            figures["of_fair_share"] = {"served": served / result["fair_share"], "in_process": in_process / result["fair_share"]}
    return results
