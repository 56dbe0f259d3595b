"""The benchmark against a live server: the quick mode writes the whole report, the soak and the HTTP load generator count what they see, make perf writes perf_analyzer's CSV (smoke tests: no thresholds on the figures)."""

import csv
import json
import os

import benchmarks.__main__ as benchmarks_cli
from benchmarks import http_load, perf, perf_analyzer, pipeline_cost, report, server_stats, shared_cpu, soak, zero_shot
from benchmarks.corpus import generate
from conversion.repository import DEFAULT_PIPELINE, Pipeline


def test_quick_benchmark_writes_the_report(minilm_repository, tmp_path):
    assert benchmarks_cli.main(["--quick", "--model-repository", str(minilm_repository), "--output", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "default" / "varied" / "results.json").read_text())
    for system in ("served", "client_side", "fastapi"):
        assert [row["concurrency"] for row in results[system]] == benchmarks_cli.QUICK_CONCURRENCY
        assert all(row["throughput"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0 for row in results[system])
    assert results["tokenizer_alone"] and results["ceiling"]["best_throughput"] > 0
    by_mode = results["ceiling"]["throughput_by_batch"]
    assert set(by_mode) == {"arrival", "grouped", "module"}
    assert all(value > 0 for values in by_mode.values() for value in values.values())
    assert results["ceiling"]["best_mode"] in ("arrival", "grouped")
    pipeline = Pipeline(minilm_repository)
    assert results["pipeline"] == DEFAULT_PIPELINE and results["models"] == list(pipeline.models)
    assert set(pipeline.models) == set(results["served"][-1]["server"])
    assert {"sentiment.classifier.unbatched"} == set(results["client_side"][-1]["server"])
    assert {"sentiment.tokenizer"} == set(results["tokenizer_alone"][-1]["server"])
    for plot in ("throughput.png", "latency.png", "breakdown.png"):
        assert (tmp_path / "default" / "varied" / plot).read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "varied-throughput.png").read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "report.md").read_text()
    assert "served / better ceiling" in report and "| concurrency |" in report
    assert "| 8 | sentiment.classifier |" in report


def test_quick_benchmark_measures_a_named_pipeline_and_refuses_a_pair_pipeline(several_pipelines_repository, tmp_path):
    argv = ["--quick", "--model-repository", str(several_pipelines_repository), "--output", str(tmp_path)]
    assert benchmarks_cli.main([*argv, "--pipeline", "nli"]) == 2  # pairs: refused before anything starts
    assert not (tmp_path / "report.md").exists()
    assert benchmarks_cli.main([*argv, "--pipeline", "toxicity"]) == 0

    results = json.loads((tmp_path / "default" / "varied" / "results.json").read_text())
    toxicity = Pipeline(several_pipelines_repository, "toxicity")
    assert results["pipeline"] == "toxicity" and results["model"]["function"] == "sigmoid"
    assert set(results["served"][-1]["server"]) == set(toxicity.models)  # no other pipeline was served
    assert {"toxicity.classifier.unbatched"} == set(results["client_side"][-1]["server"])
    assert all(row["failed"] == 0 for row in results["served"]) and results["fastapi"] and results["served_http"]
    report = (tmp_path / "report.md").read_text()
    assert "Pipeline `toxicity`" in report and "| toxicity.classifier |" in report and "sentiment." not in report


def test_short_soak_reports_failures_and_memory(minilm_repository, tmp_path):
    argv = ["--model-repository", str(minilm_repository), "--output", str(tmp_path), "--concurrency", "8"]
    assert soak.main([*argv, "--minutes", "0.5", "--step-seconds", "15", "--judge-minutes", "0.5"]) == 0

    result = json.loads((tmp_path / "soak.json").read_text())
    assert result["failed"] == 0 and len(result["steps"]) == 2 and result["corpus"] == "varied"
    assert result["pipeline"] == DEFAULT_PIPELINE
    pipeline = Pipeline(minilm_repository)
    # The classifier runs inside tritonserver; the Python steps in stubs of their own.
    processes = {"tritonserver", *(f"{pipeline.model(step)}_0_0" for step in ("tokenizer", "postprocess"))}
    assert set(result["memory_growth_percent"]) == processes == set(result["judged"])
    assert all(size > 10 * soak.MIB for size in result["steps"][0]["memory"].values())
    report = (tmp_path / "soak.md").read_text()
    assert "| 2 |" in report and "slope MiB/min" in report and (tmp_path / "memory.png").stat().st_size > 10_000


def test_http_load_generator_counts_answers_and_failures(served):
    texts = generate(50, corpus="varied")
    row = http_load.run(http_load.triton(served.server.endpoints.http, DEFAULT_PIPELINE), texts, concurrency=4, requests=24)
    assert row["concurrency"] == 4 and row["failed"] == 0
    assert row["throughput"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0

    missing = http_load.run(http_load.triton(served.server.endpoints.http, model="no_such_model"), texts, 2, 10)
    assert missing["failed"] == 10




def test_shared_cpu_conditions_and_the_pipelines_own_cost(minilm_repository, tmp_path):
    pipeline = Pipeline(minilm_repository)
    corpora = {"varied": generate(128, corpus="varied")}
    results = shared_cpu.measure(pipeline, corpora, tmp_path, perf_analyzer.QUICK, in_process_texts=64)

    idle, busy = results["idle"], results["two busy loops"]
    assert idle["fair_share"] == 1 and idle["corpora"]["varied"]["of_idle"] == {"served": 1, "in_process": 1}
    assert busy["fair_share"] == 0.5 and busy["corpora"]["varied"]["served"]["throughput"] > 0
    assert busy["corpora"]["varied"]["of_fair_share"]["served"] == busy["corpora"]["varied"]["of_idle"]["served"] / 0.5
    quota = results["one-CPU quota"]
    if os.geteuid() == 0:  # root can make the cgroup: the launcher inside it sizes its threads to one CPU
        assert "OMP_NUM_THREADS=1 " in quota["server_threads"] and quota["throttled_periods"]["throttled"] > 0
        assert quota["corpora"]["varied"]["in_process"]["torch_threads"] == 1
    else:
        assert quota.startswith("skipped: a CPU quota needs root")
    section = report.write_shared_cpu(results, tmp_path / "shared-cpu")
    assert "| two busy loops | varied |" in section
    assert (tmp_path / "shared-cpu" / "shared-cpu.png").read_bytes().startswith(b"\x89PNG")

    cost = pipeline_cost.run(pipeline, tmp_path / "cost", quick=True)
    zero, real = cost["zero_cost"][0], cost["real"][0]
    processes = {"tritonserver", "perf_analyzer", *(f"{pipeline.model(step)}_0_0" for step in ("tokenizer", "postprocess"))}
    assert set(zero["cpu_ms_per_text"]) == processes == set(real["cpu_ms_per_text"])
    assert zero["texts"] > 0 and all(value >= 0 for value in zero["cpu_ms_per_text"].values())
    assert zero["throughput"] > real["throughput"], "a model that costs nothing carries more than the real one"
    # The classifier runs inside tritonserver, on Triton's pytorch backend.
    assert real["cpu_ms_per_text"]["tritonserver"] > zero["cpu_ms_per_text"]["tritonserver"]
    assert "| model.pt that costs nothing | 64 |" in pipeline_cost.write(cost, tmp_path / "cost-report")


def test_perf_loads_a_pair_pipeline_over_http_with_the_users_file(several_served, tmp_path):
    """make perf's entry against a live server: perf_analyzer's CSV, one row per concurrency (not its speed)."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("A man is eating pasta.\tSomeone eats food.\nIt rains.\tThe street is wet.\nok\t\n", encoding="utf-8")
    before = server_stats.snapshot(several_served.endpoints.http)
    argv = ["--url", several_served.endpoints.http, "--model", "nli", "--file", str(pairs), "--concurrency", "1,3"]
    argv += ["--output", str(tmp_path / "out"), "--", "--measurement-interval=1000", "--stability-percentage=100"]
    assert perf.main(argv) == 0

    rows = list(csv.DictReader((tmp_path / "out" / "nli" / "perf_analyzer.csv").open()))
    assert [int(row["Concurrency"]) for row in rows] == [1, 3] and all(float(row["Inferences/Second"]) > 0 for row in rows)
    sent = json.loads((tmp_path / "out" / "nli" / "input-data.json").read_text())
    assert sent == perf_analyzer.text_input_data(["A man is eating pasta.", "It rains.", "ok"], ["Someone eats food.", "The street is wet.", ""])
    answered = server_stats.breakdown(before, server_stats.snapshot(several_served.endpoints.http))
    assert answered["nli"]["requests"] > 0 and answered["nli"]["failed"] == 0
    assert set(answered) == {"nli", "nli.tokenizer", "nli.classifier", "nli.postprocess"}


def test_quick_zero_shot_benchmark_measures_pairs_three_ways(several_pipelines_repository, tmp_path):
    argv = ["--quick", "--model-repository", str(several_pipelines_repository), "--pipeline", "topics", "--output", str(tmp_path)]
    assert zero_shot.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    served = results["served"]["2"]
    assert sorted(served) == ["1", "2"] and all(reading["pairs_per_second"] == 2 * reading["throughput"] > 0 for reading in served.values())
    assert all(value > 0 for way in ("in_process", "transformers") for value in results[way]["2"].values())
    assert "| 2 |" in (tmp_path / "report.md").read_text()
