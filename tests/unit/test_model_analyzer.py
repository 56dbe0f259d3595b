"""make profile without Model Analyzer: the config it hands Model Analyzer, and how it reads back the
committed run's measurements and summary."""

import re
from pathlib import Path

import yaml

from benchmarks import model_analyzer
from conversion.repository import Pipeline
from server import Endpoints
from tests.support import PROJECT

RESULTS = PROJECT / "benchmarks" / "results" / "model-analyzer"


class Server:
    endpoints = Endpoints("127.0.0.1", 18000, 18001, 18002)


def test_the_committed_search_gets_the_server_the_repository_and_cpu_only_steps(tmp_path):
    search = yaml.safe_load(model_analyzer.SEARCH.read_text())
    pipeline = Pipeline(tmp_path / "repository", "nli")
    config = model_analyzer.config(search, pipeline, Server(), tmp_path / "input.json", tmp_path)

    assert config["triton_launch_mode"] == "remote" and config["profile_models"] == ["nli"]
    assert (config["triton_grpc_endpoint"], config["triton_http_endpoint"]) == ("127.0.0.1:18001", "127.0.0.1:18000")
    assert config["triton_metrics_url"] == "http://127.0.0.1:18002/metrics"
    assert config["cpu_only_composing_models"] == ["nli.tokenizer", "nli.classifier", "nli.postprocess"]
    assert config["model_repository"] == str(tmp_path / "repository")
    assert config["perf_analyzer_flags"] == {**search["perf_analyzer_flags"], "input-data": str(tmp_path / "input.json")}
    assert Path(config["perf_analyzer_path"]).name == "perf_analyzer"
    assert {key: config[key] for key in search if key != "perf_analyzer_flags"} == {key: value for key, value in search.items() if key != "perf_analyzer_flags"}


def test_each_configuration_is_reported_at_its_best_throughput_best_first():
    rows = model_analyzer.best_per_configuration(RESULTS / "metrics-model-inference.csv")
    names = [row["configuration"] for row in rows]
    assert len(names) == len(set(names)) and "sentiment_config_default" in names
    assert [row["throughput"] for row in rows] == sorted((row["throughput"] for row in rows), reverse=True)
    default = next(row for row in rows if row["configuration"] == "sentiment_config_default")
    assert default["max_batch_size"] == "64,64,64" and default["instances"] == "1:CPU,1:CPU,1:CPU"


def test_model_analyzers_verdict_is_read_from_its_summary():
    assert re.fullmatch(r"In \d+ measurements across \d+ configurations, sentiment_config_\w+ .+\.", model_analyzer.verdict(RESULTS / "result_summary.html"))
