"""Run perf_analyzer (from the tritonclient 2.51 wheel) and read its CSV report."""

import csv
import json
import os
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import numpy as np

# Measurement windows: long enough for a stable figure at 200 concurrent requests on two cores.
FULL = {"measurement_ms": 4000, "max_trials": 6, "stability_percent": 15}
QUICK = {"measurement_ms": 1000, "max_trials": 2, "stability_percent": 50}


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
    env["LD_LIBRARY_PATH"] = os.pathsep.join([str(libraries), str(cuda_runtime), env.get("LD_LIBRARY_PATH", "")])
    return env


def text_input_data(texts: list[str]) -> dict:
    """One request per text: {"data": [{"TEXT": ["..."]}, ...]}."""
    return {"data": [{"TEXT": [text]} for text in texts]}


def token_input_data(ids: list[np.ndarray], masks: list[np.ndarray]) -> dict:
    """One pre-tokenized request per text for the classifier, each at its own length."""
    return {
        "data": [
            {
                "INPUT__0": {"content": row.tolist(), "shape": [len(row)]},
                "INPUT__1": {"content": mask.tolist(), "shape": [len(mask)]},
            }
            for row, mask in zip(ids, masks)
        ]
    }


def run(
    model: str,
    url: str,
    concurrency: int,
    input_data: dict,
    workdir: Path,
    protocol: str = "grpc",
    measurement_ms: int = 4000,
    max_trials: int = 6,
    stability_percent: int = 15,
) -> dict:
    """One perf_analyzer measurement at a fixed concurrency: throughput and client-side latencies."""
    data_file = workdir / f"{model}-input.json"
    if not data_file.exists():
        data_file.write_text(json.dumps(input_data))
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=".csv") as report:
        command = [
            str(Path(sys.executable).parent / "perf_analyzer"),
            "-m", model, "-u", url, "-i", protocol,
            "--input-data", str(data_file),
            "--concurrency-range", f"{concurrency}:{concurrency}",
            "--measurement-interval", str(measurement_ms),
            "--max-trials", str(max_trials),
            "--stability-percentage", str(stability_percent),
            "--max-threads", "16",
            "-f", report.name,
        ]  # fmt: skip
        result = subprocess.run(command, env=environment(workdir), capture_output=True, text=True, timeout=600)
        if result.returncode != 0 and "Failed to obtain stable measurement" not in result.stdout:
            raise PerfAnalyzerFailed(f"perf_analyzer failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr}")
        rows = list(csv.DictReader(open(report.name)))
    if not rows:
        raise PerfAnalyzerFailed(f"perf_analyzer wrote no measurement: {result.stdout[-2000:]}")
    row = rows[-1]
    return {
        "concurrency": concurrency,
        "throughput": float(row["Inferences/Second"]),
        "p50_ms": float(row["p50 latency"]) / 1000,
        "p90_ms": float(row["p90 latency"]) / 1000,
        "p99_ms": float(row["p99 latency"]) / 1000,
        "stable": result.returncode == 0,
    }
