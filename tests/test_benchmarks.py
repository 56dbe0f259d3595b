"""The benchmark's quick mode produces the whole report (a smoke test: no thresholds on the figures)."""

import json

import pytest

import benchmarks.__main__ as benchmarks_cli
from benchmarks import soak

pytestmark = pytest.mark.integration


def test_quick_benchmark_writes_the_report(minilm_repository, tmp_path):
    assert benchmarks_cli.main(["--quick", "--repository", str(minilm_repository), "--output", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "default" / "results.json").read_text())
    for system in ("served", "client_side", "fastapi"):
        assert [row["concurrency"] for row in results[system]] == benchmarks_cli.QUICK_CONCURRENCY
        assert all(row["throughput"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0 for row in results[system])
    assert results["tokenizer_alone"] and results["ceiling"]["best_throughput"] > 0
    assert {"tokenizer", "classifier", "postprocess", "sentiment"} <= set(results["served"][-1]["server"])
    for plot in ("throughput.png", "latency.png", "breakdown.png"):
        assert (tmp_path / "default" / plot).read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "report.md").read_text()
    assert "served / ceiling" in report and "| concurrency |" in report


def test_short_soak_reports_failures_and_memory(minilm_repository, tmp_path):
    argv = ["--repository", str(minilm_repository), "--output", str(tmp_path), "--concurrency", "8"]
    assert soak.main([*argv, "--minutes", "0.25", "--step-seconds", "15"]) == 0

    result = json.loads((tmp_path / "soak.json").read_text())
    assert result["failed"] == 0 and len(result["steps"]) == 1
    assert set(result["memory_growth_percent"]) == {"tritonserver", "tokenizer_0_0", "classifier_0_0", "postprocess_0_0"}
    assert all(size > 10 * soak.MIB for size in result["steps"][0]["memory"].values())
    assert "| 1 |" in (tmp_path / "soak.md").read_text()
