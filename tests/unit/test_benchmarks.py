"""Benchmark logic without a server: the memory trend, infinity-emb's view of a checkpoint, the
folders a benchmark serves, the typed results and the report's per-model rows, and the start-up
benchmark's conversion command."""

import json
from pathlib import Path

import pytest

from benchmarks import infinity_peer, pipeline_cost, report, repositories, served_vs_ceiling, soak, startup, variants
from benchmarks.results import Ceiling, Latency, Row, VariantResults
from conversion.__main__ import options_from, parse_args
from conversion.repository import STEPS, Manifest, Pipeline, RepositoryError


def test_memory_trend_is_a_least_squares_slope_and_a_spread():
    steps = [{"memory": {"stub": (100 + 2 * minute) * soak.MIB}} for minute in range(5)]
    [(name, trend)] = soak.trend(steps, step_seconds=60).items()
    assert name == "stub" and abs(trend["slope_mib_per_minute"] - 2.0) < 1e-9
    assert abs(trend["spread_percent"] - 100 * 8 / 104) < 1e-9


def test_infinity_gets_a_view_of_a_checkpoint_with_a_tokenizer_class_it_knows(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend", "x": 1}))

    view = infinity_peer.readable_checkpoint(checkpoint, tmp_path)
    assert view != checkpoint and (view / "config.json").resolve() == (checkpoint / "config.json").resolve()
    assert json.loads((view / "tokenizer_config.json").read_text()) == {"tokenizer_class": "PreTrainedTokenizerFast", "x": 1}
    assert json.loads((checkpoint / "tokenizer_config.json").read_text())["tokenizer_class"] == "TokenizersBackend"

    (checkpoint / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    assert infinity_peer.readable_checkpoint(checkpoint, tmp_path) == checkpoint


def fake_pipeline(root: Path, name: str, **manifest) -> Pipeline:
    """The files of a converted pipeline, with stand-in contents that Pipeline.check accepts."""
    pipeline = Pipeline(root, name)
    record = Manifest(source=str(root / "checkpoint"), labels=["a", "b"], max_length=8, max_abs_difference=0.0,
                      grouped_max_abs_difference=0.0, token_budget={}, **manifest)  # fmt: skip
    for model in pipeline.models:
        pipeline.write_text(f"{model}/config.pbtxt", f'name: "{model}"\n')
    model_file, tokenizer_file, labels_file, manifest_file = pipeline.artifacts
    pipeline.write_text(model_file, "not TorchScript")
    pipeline.write_text(tokenizer_file, json.dumps({"truncation": {"max_length": 8}}))
    pipeline.write_text(labels_file, json.dumps(record.labels))
    pipeline.write_text(manifest_file, record.to_json())
    return pipeline


def test_a_benchmark_serves_the_measured_pipeline_alone_and_the_unbatched_classifier_beside_it(tmp_path):
    fake_pipeline(tmp_path / "repository", "sentiment")
    toxicity = fake_pipeline(tmp_path / "repository", "toxicity", function="sigmoid")

    served = repositories.with_peer_models(toxicity, tmp_path / "served")
    unbatched = repositories.unbatched_classifier(toxicity)
    assert unbatched == "toxicity.classifier.unbatched"
    assert sorted(path.name for path in served.root.iterdir()) == sorted([*toxicity.models, unbatched])
    assert served.check() == toxicity.manifest() and served.model_file.resolve() == toxicity.model_file.resolve()
    assert (served.root / unbatched / "1" / "model.pt").resolve() == toxicity.model_file.resolve()
    config = (served.root / unbatched / "config.pbtxt").read_text()
    assert f'name: "{unbatched}"' in config and "max_batch_size: 1" in config and "dynamic_batching" not in config

    copied = repositories.alone(toxicity, tmp_path / "copied", link_model=False)
    assert not copied.model_file.is_symlink() and copied.model_file.read_text() == "not TorchScript"
    assert sorted(path.name for path in copied.root.iterdir()) == sorted(toxicity.models)


def test_only_single_text_pipelines_are_measured(tmp_path):
    assert repositories.measurable(fake_pipeline(tmp_path, "rating", function="none")).function == "none"
    with pytest.raises(RepositoryError, match="'nli' .* classifies text pairs"):
        repositories.measurable(fake_pipeline(tmp_path, "nli", pairs=True, token_types=True))
    with pytest.raises(RepositoryError, match="no converted pipeline 'missing'"):
        repositories.measurable(Pipeline(tmp_path, "missing"))


MEASURED = {"concurrency": 8, "throughput": 100.0, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "stable": True}
STATS = {"requests": 8, "failed": 1, "average_batch": 2.0, "queue_ms": 0.5, "compute_ms": 3.0}


def test_the_report_breaks_the_served_runs_down_by_the_pipeline_s_own_models():
    models = list(Pipeline(Path("."), "toxicity").models)
    ceiling = Ceiling(1, {"arrival": {1: 10.0}}, "arrival", 1, 10.0, Latency(1.0, 2.0))
    served = [Row(**MEASURED).with_server({model: STATS for model in models})]
    results = VariantResults("default", "varied", "toxicity", models, {}, ceiling, served)
    rows = report.breakdown_table(results).splitlines()[2:]
    assert [row.split(" | ")[1] for row in rows] == ["toxicity", *(f"toxicity.{step}" for step in STEPS)]


def test_a_row_counts_the_failures_triton_saw_and_keeps_each_measuring_tool_s_order():
    row = Row(**MEASURED).with_server({"a": STATS, "b": STATS})
    assert row.failed == 2 and row.server["a"].queue_ms == 0.5
    assert list(row.to_dict().items()) == [*MEASURED.items(), ("server", {"a": STATS, "b": STATS}), ("failed", 2)]
    http = {**{key: value for key, value in MEASURED.items() if key != "stable"}, "failed": 0, "stable": True}  # http_load's order
    assert list(Row(**http).to_dict().items()) == list(http.items())
    assert Row(**MEASURED).to_dict() == MEASURED


def test_committed_results_read_back_and_write_the_same_results_json():
    committed = sorted((Path(__file__).parents[2] / "benchmarks" / "results").glob("*/*/results.json"))
    assert committed
    for path in committed:
        results = VariantResults.from_dict(json.loads(path.read_text()))
        assert isinstance(results.served[0], Row) and isinstance(results.ceiling.batch1, Latency)
        assert json.dumps(results.to_dict(), indent=2) + "\n" == path.read_text(), path


def test_converting_first_runs_the_conversion_the_manifest_records(tmp_path):
    adapted = fake_pipeline(tmp_path / "repository", "sentiment", adapter=str(tmp_path / "adapter.safetensors"))
    toxicity = fake_pipeline(tmp_path / "repository", "toxicity", function="sigmoid", problem_type="multi_label_classification")
    for pipeline in (adapted, toxicity):
        options = variants.same_conversion(pipeline, tmp_path / "empty")
        command = startup.conversion_command(options)
        assert command[1:3] == ["-m", "conversion"] and options_from(parse_args(command[3:])) == options
    assert "--adapter" in startup.conversion_command(variants.same_conversion(adapted, tmp_path / "empty"))
    toxicity_command = startup.conversion_command(variants.same_conversion(toxicity, tmp_path / "empty"))
    assert toxicity_command[toxicity_command.index("--name") + 1] == "toxicity"
    assert toxicity_command[toxicity_command.index("--labels") + 1] == "a,b"


def test_rounds_read_together_are_summed_up_as_a_median_and_a_range():
    rounds = [{"ratio_c64": ratio, "c1_p50_over_ceiling_ms": gap} for ratio, gap in ((0.8, 1.0), (0.9, -0.5), (0.7, 2.0))]
    assert served_vs_ceiling.summary(rounds) == {
        "ratio_c64": {"median": 0.8, "min": 0.7, "max": 0.9},
        "c1_p50_over_ceiling_ms": {"median": 1.0, "min": -0.5, "max": 2.0},
    }


def test_the_paired_rounds_report_has_a_row_per_round_and_a_plot(tmp_path):
    def reading(ratio: float) -> dict:
        return {"served_c64": 100 * ratio, "served_c64_stable": True, "served_c1_p50_ms": 7.0, "ceiling_grouped": {8: 90.0, 16: 100.0},
                "ceiling_batch1_p50_ms": 5.0, "ratio_c64": ratio, "c1_p50_over_ceiling_ms": 2.0}  # fmt: skip

    results = {name: {"rounds": [reading(r) for r in ratios], **served_vs_ceiling.summary([reading(r) for r in ratios])}
               for name, ratios in (("varied", (0.8, 0.9)), ("tweets", (0.7, 0.75)))}  # fmt: skip
    text = served_vs_ceiling.write(results, 2, tmp_path)
    assert "| varied | 2 | 90.0 | 100.0 | 0.90× |" in text and "| tweets | 0.72× (0.70–0.75) |" in text
    assert (tmp_path / "ratios.png").read_bytes().startswith(b"\x89PNG")


def test_the_pipeline_cost_report_sets_this_run_beside_the_earlier_designs(tmp_path):
    def run(design: str, throughputs: tuple[float, float], cpu: float) -> dict:
        rows = [{"concurrency": level, "throughput": value, "p50_ms": 1.0, "cpu_ms_per_text": {"tritonserver": cpu, "perf_analyzer": 0.1}}
                for level, value in zip(pipeline_cost.LEVELS, throughputs)]  # fmt: skip
        return {"design": design, "corpus": "tweets", "zero_cost": rows, "real": rows[:1]}

    (tmp_path / "earlier").mkdir()
    for number, (commit, throughputs, cpu) in enumerate([("aaa", (900, 1000), 0.5), ("bbb", (1800, 2000), 0.25)], 1):
        (tmp_path / "earlier" / f"{number}-{commit}.json").write_text(json.dumps({**run(commit, throughputs, cpu), "commit": commit}))
    text = pipeline_cost.write(run("ragged", (2600, 3000), 0.2), tmp_path)
    assert "| aaa | aaa | 900 | 1000 | 0.500 | 1.00 |" in text
    assert "| bbb | bbb | 1800 | 2000 | 0.250 | 2.00 |" in text
    assert "| ragged | this run | 2600 | 3000 | 0.200 | 3.00 |" in text
    assert (tmp_path / "capacity.png").read_bytes().startswith(b"\x89PNG")
