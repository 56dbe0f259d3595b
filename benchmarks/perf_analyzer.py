"""Run perf_analyzer (from the tritonclient 2.51 wheel) and read its CSV report."""

import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

# Each window lasts until `window_requests` (at least twice the concurrency) requests complete, so
# slow systems at high concurrency still finish requests in every window. perf_analyzer judges
# stability over the last three windows, so max_trials is at least 3.
FULL = {"window_requests": 200, "max_trials": 6, "stability_percent": 15}
QUICK = {"window_requests": 20, "max_trials": 3, "stability_percent": 50}


class PerfAnalyzerFailed(RuntimeError):
    pass


def _site_packages() -> Path:
    return Path(find_spec("tritonclient").origin).parents[1]


def environment(workdir: Path) -> dict[str, str]:
    """perf_analyzer needs libb64.so.0d (nvidia-pytriton ships a copy under another name) and libcudart.so.12."""
    libraries = workdir / "perf_analyzer_libs"
    libraries.mkdir(exist_ok=True)
    link = libraries / "libb64.so.0d"
    if not link.exists():
        link.symlink_to(next((_site_packages() / "nvidia_pytriton.libs").glob("libb64-*.so.0d")))
    cuda_runtime = _site_packages() / "nvidia" / "cuda_runtime" / "lib"
    env = dict(os.environ)
    # No empty entry: the dynamic loader would read it as the working directory.
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(libraries), str(cuda_runtime), env.get("LD_LIBRARY_PATH")]))
    return env


def text_input_data(texts: list[str], pairs: list[str] | None = None, candidate_labels: list[str] | None = None) -> dict:
    """One request per text: {"data": [{"TEXT": ["..."]}, ...]}; with pairs, each with its TEXT_PAIR; for a
    zero-shot pipeline, each with the candidate labels as LABELS."""
    if candidate_labels is not None:
        labels = {"content": candidate_labels, "shape": [len(candidate_labels)]}
        return {"data": [{"TEXT": [text], "LABELS": labels} for text in texts]}
    if pairs is None:
        return {"data": [{"TEXT": [text]} for text in texts]}
    return {"data": [{"TEXT": [text], "TEXT_PAIR": [pair]} for text, pair in zip(texts, pairs, strict=True)]}


def token_input_data(rows: list[list[int]]) -> dict:
    """One pre-tokenized request per text for the classifier, each at its own length, unpadded."""
    return {
        "data": [
            {
                "INPUT__0": {"content": row, "shape": [len(row)]},
                "INPUT__1": {"content": [1] * len(row), "shape": [len(row)]},
            }
            for row in rows
        ]
    }


def _measure(command: list[str], workdir: Path) -> tuple[dict | None, str]:
    """Run perf_analyzer once; the CSV row, or None when it found no stable window."""
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=".csv") as report:
        result = subprocess.run([*command, "-f", report.name], env=environment(workdir), capture_output=True, text=True, timeout=900)
        output = result.stdout + result.stderr
        if result.returncode != 0:
            if "Failed to obtain stable measurement" in output:
                return None, output
            raise PerfAnalyzerFailed(f"perf_analyzer failed ({result.returncode}): {output[-3000:]}")
        rows = list(csv.DictReader(open(report.name)))
    if not rows:
        raise PerfAnalyzerFailed(f"perf_analyzer wrote no measurement: {output[-3000:]}")
    return rows[-1], output


def command(model: str, url: str, protocol: str, concurrency: int, data_file: Path) -> list[str]:
    """perf_analyzer at one concurrency, every request from `data_file` (perf_analyzer's --input-data)."""
    command = [
        str(Path(sys.executable).parent / "perf_analyzer"),
        "-m", model, "-u", url, "-i", protocol,
        "--input-data", str(data_file),
        "--concurrency-range", f"{concurrency}:{concurrency}",
        "--max-threads", "16",
    ]  # fmt: skip
    if protocol == "http":
        command += ["--input-tensor-format", "json", "--output-tensor-format", "json"]
    return command


def _command(model: str, url: str, protocol: str, concurrency: int, input_data: dict, workdir: Path) -> list[str]:
    content = json.dumps(input_data)
    data_file = workdir / f"input-{hashlib.sha1(content.encode()).hexdigest()[:12]}.json"
    if not data_file.exists():
        data_file.write_text(content)
    return command(model, url, protocol, concurrency, data_file)


def _result(concurrency: int, row: dict, stable: bool) -> dict:
    return {
        "concurrency": concurrency,
        "throughput": float(row["Inferences/Second"]),
        "p50_ms": float(row["p50 latency"]) / 1000,
        "p90_ms": float(row["p90 latency"]) / 1000,
        "p99_ms": float(row["p99 latency"]) / 1000,
        "stable": stable,
    }


def run(
    model: str,
    url: str,
    concurrency: int,
    input_data: dict,
    workdir: Path,
    protocol: str = "grpc",
    window_requests: int = 200,
    max_trials: int = 6,
    stability_percent: int = 15,
) -> dict:
    """One perf_analyzer measurement at a fixed concurrency: throughput and client-side latencies.

    When no three consecutive windows (of `max_trials`) agree within `stability_percent`, one more
    run takes its last window regardless, and the row is marked unstable.
    """
    command = _command(model, url, protocol, concurrency, input_data, workdir) + [
        "--measurement-mode", "count_windows",
        "--measurement-request-count", str(max(window_requests, 2 * concurrency)),
    ]  # fmt: skip
    row, _ = _measure([*command, "--max-trials", str(max_trials), "--stability-percentage", str(stability_percent)], workdir)
    stable = row is not None
    if row is None:
        row, output = _measure([*command, "--max-trials", "3", "--stability-percentage", "999"], workdir)
        if row is None:
            raise PerfAnalyzerFailed(f"no measurement at concurrency {concurrency}: {output[-1500:]}")
    return _result(concurrency, row, stable)


def run_for(model: str, url: str, concurrency: int, input_data: dict, workdir: Path, seconds: float) -> dict:
    """Constant load for about `seconds`: three time windows, whatever their stability (for soaks)."""
    command = _command(model, url, "grpc", concurrency, input_data, workdir) + [
        "--measurement-mode", "time_windows",
        "--measurement-interval", str(int(seconds * 1000 / 3)),
        "--max-trials", "3", "--stability-percentage", "999",
    ]  # fmt: skip
    row, output = _measure(command, workdir)
    if row is None:
        raise PerfAnalyzerFailed(f"no measurement at concurrency {concurrency}: {output[-1500:]}")
    return _result(concurrency, row, stable=True)
