"""python -m benchmarks.startup: how long a new server takes to become ready, three ways.

  python -m benchmarks.startup --runs 3
  python -m benchmarks.startup --model-repository DIR --pipeline toxicity

What starts is one pipeline (`--pipeline`, default `sentiment`) of `--model-repository`, copied out
alone into a repository of its own:
- folder: `python -m server` on that converted repository (the local default);
- store: `python -m server` on a version of it published to a local SeaweedFS store, fetched and
  verified into an empty cache first (what a new pod does now);
- converting first: `python -m conversion` with the options its conversion.json records (for the
  default model, what `--default` does) into an empty repository, then the folder start (what
  every new pod did before versions were published).

Each time runs from the command's start until every model answers ready over HTTP. The store and
the published version are set up once beforehand and not timed. Writes
benchmarks/results/startup/startup.json and startup.md.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conversion.convert import ConversionOptions
from conversion.repository import DEFAULT_PIPELINE, Pipeline, RepositoryError, add_repository_argument
from server.http_calls import http_get
from harness.object_store import LocalObjectStore
from server import free_endpoints, processes
from store import publish

from . import repositories, variants

log = logging.getLogger("benchmarks.startup")
WAYS = ("folder", "store", "converting first")
READY_TIMEOUT_SECONDS = 600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.startup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_repository_argument(parser, help="a converted repository")
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE, help="the pipeline of the repository to start (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="starts of each kind")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/startup"))
    return parser.parse_args(argv)


def seconds_to_ready(repository: str, workdir: Path, environment: dict[str, str], *arguments: str) -> float:
    """Seconds from launching `python -m server` until it reports ready; the server is stopped after."""
    endpoints = free_endpoints()
    command = [
        sys.executable, "-m", "server", "--model-repository", repository,
        "--http-port", str(endpoints.http_port), "--grpc-port", str(endpoints.grpc_port),
        "--metrics-port", str(endpoints.metrics_port), "--log-file", str(workdir / "tritonserver.log"), *arguments,
    ]  # fmt: skip
    started = time.monotonic()
    process = processes.start(command, workdir / "launcher.out", environment, append=True)
    try:
        ready = lambda: http_get(f"{endpoints.http}/v2/health/ready", timeout=1.0)[0] == 200  # noqa: E731
        try:
            processes.wait_until_ready(process, ready, READY_TIMEOUT_SECONDS, "the launcher", interval=0.05)
        except processes.ProcessFailed as failure:
            raise RuntimeError(f"{failure}; see {workdir / 'launcher.out'}") from None
        return time.monotonic() - started
    finally:
        processes.stop(process, 120, "the launcher")


def from_folder(repository: Path, workdir: Path) -> float:
    return seconds_to_ready(str(repository), workdir, dict(os.environ))


def from_store(url: str, store: LocalObjectStore, workdir: Path) -> float:
    cache = Path(tempfile.mkdtemp(dir=workdir, prefix="cache-"))
    return seconds_to_ready(url, workdir, {**os.environ, **store.credentials}, "--store-cache", str(cache))


def conversion_command(options: ConversionOptions) -> list[str]:
    """`python -m conversion` with `options`: each option that differs from its default as the flag of
    the same name (conversion/__main__.py names its flags after ConversionOptions' fields)."""
    command = [sys.executable, "-m", "conversion", "--model", options.model]
    for name, field in ConversionOptions.__dataclass_fields__.items():
        value = getattr(options, name)
        if name == "model" or value == field.default:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            command.append(flag)
        else:
            command += [flag, ",".join(value) if isinstance(value, list) else str(value)]
    return command


def converting_first(pipeline: Pipeline, workdir: Path) -> float:
    """`pipeline` converted again, as its conversion.json records, into an empty folder; then started."""
    repository = Path(tempfile.mkdtemp(dir=workdir)) / "model_repository"
    started = time.monotonic()
    with open(workdir / "conversion.out", "ab") as output:
        command = conversion_command(variants.same_conversion(pipeline, repository))
        subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=True)
    converted = time.monotonic() - started
    return converted + seconds_to_ready(str(repository), workdir, dict(os.environ))


def measure(pipeline: Pipeline, runs: int, workdir: Path) -> dict[str, list[float]]:
    """Seconds to ready per way for `pipeline` (alone in its repository); the ways take turns, so a
    slow moment of the machine hits them alike."""
    timings = {way: [] for way in WAYS}
    repository = pipeline.root
    with LocalObjectStore(workdir / "seaweedfs") as store:
        os.environ.update(store.credentials)  # for publish(), which reads them as any boto3 client does
        url = publish(repository, store.url("models", pipeline.name), create_bucket=True, exist_ok=True)
        from_folder(repository, workdir)  # warm the page cache for every way alike
        for run in range(runs):
            timings["folder"].append(from_folder(repository, workdir))
            timings["store"].append(from_store(url, store, workdir))
            timings["converting first"].append(converting_first(pipeline, workdir))
            log.info("run %d: %s", run + 1, ", ".join(f"{way} {times[-1]:.1f} s" for way, times in timings.items()))
    return timings


def report(timings: dict[str, list[float]], pipeline: Pipeline) -> tuple[dict, str]:
    files = [path for path in pipeline.root.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    size_mib = sum(path.stat().st_size for path in files) / 2**20
    result = {
        "pipeline": pipeline.name,
        "repository_mib": round(size_mib, 1),
        "cpus": os.cpu_count(),
        "seconds": timings,
        "median_seconds": {way: statistics.median(times) for way, times in timings.items()},
    }
    lines = [
        "# Start to ready",
        "",
        f"`python -m server` until every model answers ready, {os.cpu_count()} cores, pipeline `{pipeline.name}` "
        f"alone ({size_mib:.0f} MiB repository); SeaweedFS on loopback. {len(timings['folder'])} runs each, taking turns.",
        "",
        "| start | median s | runs s |",
        "|---|---:|---|",
        *(
            f"| {way} | {statistics.median(times):.1f} | {', '.join(f'{t:.1f}' for t in times)} |"
            for way, times in timings.items()
        ),
        "",
    ]
    return result, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    try:
        source = Pipeline(args.model_repository.resolve(), args.pipeline)
        source.check()
    except RepositoryError as error:
        log.error("%s", error)
        return 2
    with tempfile.TemporaryDirectory(prefix="startup-") as workdir:
        pipeline = repositories.alone(source, Path(workdir) / "model_repository", link_model=False)
        timings = measure(pipeline, args.runs, Path(workdir))
        result, markdown = report(timings, pipeline)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "startup.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "startup.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
