"""Conversion of Hugging Face checkpoints into the model repository (real tiny checkpoints, no hub)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification

from conversion import checkpoint, zero_shot
from conversion.checkpoint import ConversionError
from conversion.convert import ConversionOptions, convert
from conversion.length_grouping import ragged
from conversion.repository import DEFAULT_PIPELINE, Pipeline, Repository
from harness import tiny_roberta
from tests.support import PROJECT


@pytest.fixture
def repository(tmp_path):
    return tmp_path / "model_repository"


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "conversion", *argv], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def test_converts_a_checkpoint_and_writes_verified_artifacts(tiny_roberta_repository, tiny_checkpoint):
    repository = Repository(tiny_roberta_repository).pipeline()
    manifest = repository.check()
    assert manifest.max_abs_difference <= 1e-4
    assert manifest.max_length == tiny_roberta.MAX_LENGTH
    assert json.loads(repository.labels_file.read_text()) == tiny_roberta.LABELS
    assert Tokenizer.from_file(str(repository.tokenizer_file)).truncation["max_length"] == 64

    traced = torch.jit.load(str(repository.model_file))
    eager = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    ids = torch.tensor([[0, 40, 41, 42, 2, 1, 1], [0, 50, 51, 52, 53, 54, 2]])
    mask = (ids != 1).long()
    with torch.no_grad():
        torch.testing.assert_close(traced(*ragged(ids, mask)), eager(input_ids=ids, attention_mask=mask).logits, atol=1e-5, rtol=0)


def test_the_model_groups_rows_by_length_under_a_recorded_budget(tiny_roberta_repository, tiny_checkpoint):
    manifest = Repository(tiny_roberta_repository).pipeline().manifest()
    budget = manifest.token_budget
    assert budget["chosen_by"] == "fastest on this CPU"
    assert str(budget["cpu"]) in budget["seconds_by_cpu_budget"]
    assert budget["seconds_by_cpu_budget"][str(budget["cpu"])] == min(budget["seconds_by_cpu_budget"].values())
    assert manifest.grouped_max_abs_difference <= 1e-4

    module = torch.jit.load(str(Pipeline(tiny_roberta_repository).model_file))
    assert (module.cpu_token_budget, module.gpu_token_budget) == (budget["cpu"], budget["gpu"])
    eager = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    lengths = [64, 3, 17, 2, 64, 9, 40]  # scrambled, padded to the maximum length as the tokenizer model sends them
    ids = torch.randint(3, 200, (len(lengths), 64), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(64).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    ids = torch.where(mask.bool(), ids, 1)
    with torch.no_grad():
        rows = [eager(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits for i, n in enumerate(lengths)]
        torch.testing.assert_close(module(*ragged(ids, mask)), torch.cat(rows), atol=1e-4, rtol=0)


def test_a_given_token_budget_is_used_and_a_bad_one_refused(tiny_checkpoint, repository):
    manifest = convert(ConversionOptions(str(tiny_checkpoint), repository, token_budget=96, gpu_token_budget=2048))
    assert manifest.token_budget == {"cpu": 96, "gpu": 2048, "chosen_by": "--token-budget"}
    assert Pipeline(repository).manifest() == manifest
    argv = ["--model", str(tiny_checkpoint), "--model-repository", str(repository)]
    for bad in ("0", "-5", "many"):
        result = run_cli(*argv, "--token-budget", bad)
        assert result.returncode == 2 and "must be a positive integer" in result.stderr


def test_artifacts_are_readable_by_other_users(tiny_roberta_repository):
    for path in Pipeline(tiny_roberta_repository).artifacts:
        assert (tiny_roberta_repository / path).stat().st_mode & 0o044 == 0o044, path


def test_int8_quantisation_records_its_accuracy_change(tiny_checkpoint, repository):
    manifest = convert(ConversionOptions(str(tiny_checkpoint), repository, quantize="int8"))
    change = manifest.quantization_accuracy_change
    assert manifest.quantize == "int8" and manifest.max_abs_difference <= 1e-4
    assert 0 < change["max_probability_difference"] < 1
    agreed, total = map(int, change["label_agreement"].split("/"))
    assert 0 <= agreed <= total == 11
    traced = torch.jit.load(str(Pipeline(repository).model_file))
    assert "quantized::linear_dynamic" in str(traced.inlined_graph)


def test_refuses_to_write_above_the_tolerance(tiny_checkpoint, repository):
    with pytest.raises(ConversionError, match="differs from eager PyTorch .* nothing written"):
        convert(ConversionOptions(str(tiny_checkpoint), repository, tolerance=-1))
    assert not Pipeline(repository).model_file.exists()
    assert not Pipeline(repository).tokenizer_file.exists()


def test_labels_and_max_length_flags(tiny_checkpoint, repository):
    argv = ["--model", str(tiny_checkpoint), "--repository", str(repository), "--labels", "bad,meh,good"]  # the older spelling
    assert run_cli(*argv, "--max-length", "16", "--token-budget", "64").returncode == 0
    assert json.loads(Pipeline(repository).labels_file.read_text()) == ["bad", "meh", "good"]
    assert Tokenizer.from_file(str(Pipeline(repository).tokenizer_file)).truncation["max_length"] == 16


def test_labels_flag_must_match_the_model(tiny_checkpoint, repository):
    with pytest.raises(ConversionError, match="--labels names 2 labels but the model has 3 outputs"):
        convert(ConversionOptions(str(tiny_checkpoint), repository, labels=["a", "b"]))


def test_cardiffnlp_labels_are_known(tiny_checkpoint):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint)
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    labels = checkpoint.resolve_labels("cardiffnlp/twitter-roberta-base-sentiment", model, None)
    assert labels == ["negative", "neutral", "positive"]
    assert checkpoint.resolve_labels("someone/else", model, None) == ["LABEL_0", "LABEL_1", "LABEL_2"]


def test_unreachable_hub_gives_a_clear_message(repository):
    result = run_cli("--model", "cardiffnlp/twitter-roberta-base-sentiment", "--model-repository", str(repository))
    assert result.returncode == 1
    assert "cannot load the tokenizer from hub id 'cardiffnlp/twitter-roberta-base-sentiment'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_that_is_not_a_checkpoint_gives_a_clear_message(tmp_path, repository):
    result = run_cli("--model", str(tmp_path), "--model-repository", str(repository))
    assert result.returncode == 1
    assert "is not a Hugging Face checkpoint: it has no config.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["sentiment.tokenizer", "", "-x", "a/b", "x" * 64])
def test_a_pipeline_name_that_could_collide_or_escape_is_refused(tiny_checkpoint, repository, name):
    with pytest.raises(ConversionError, match="pipeline name .* must be 1 to 63 letters"):
        convert(ConversionOptions(str(tiny_checkpoint), repository, name=name))
    assert not repository.exists()


def test_remote_code_runs_only_with_the_flag(tiny_checkpoint, tmp_path, repository):
    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_checkpoint, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "custom_model.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from transformers import RobertaForSequenceClassification\n"
        "class CustomModel(RobertaForSequenceClassification):\n    pass\n"  # registered as remote code, not RoBERTa itself
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "custom_model.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config))

    convert(ConversionOptions(str(folder), repository, token_budget=64))
    assert not marker.exists()
    convert(ConversionOptions(str(folder), repository, token_budget=64, trust_remote_code=True))
    assert marker.exists()


def test_default_max_length_accounts_for_roberta_positions(tiny_checkpoint):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint)
    tokenizer = checkpoint.load_tokenizer(str(tiny_checkpoint))
    tokenizer.model_max_length = int(1e30)  # as checkpoints without a tokenizer limit report it
    assert checkpoint.default_max_length(tokenizer, model) == tiny_roberta.MAX_LENGTH


@pytest.mark.parametrize("content", ['{"only": ["one label"]}', '{"a": [], "b": ["x"]}', "not json"])
def test_prototype_files_are_validated(tmp_path, content):
    path = tmp_path / "prototypes.json"
    path.write_text(content)
    with pytest.raises(ConversionError, match="prototypes|must map"):
        zero_shot.load_examples(path)


def test_the_committed_repository_holds_the_default_pipelines_configs_as_conversion_writes_them():
    from conversion.configs import render

    committed = PROJECT / "model_repository"
    # What git holds: pipelines a user converted into the folder beside the default are theirs, not committed.
    tracked = subprocess.run(["git", "ls-files", "model_repository"], cwd=PROJECT, capture_output=True, text=True, check=True).stdout
    assert {Path(path).parts[1] for path in tracked.split()} == set(Pipeline(committed).models)
    for relative, text in render(Pipeline(committed), len(Pipeline(committed).labels())).items():
        assert (committed / relative).read_text() == text, relative


def file_bytes(repository, pipeline: str) -> dict[str, bytes]:
    return {
        str(path.relative_to(repository)): path.read_bytes()
        for model in Pipeline(repository, pipeline).models
        for path in sorted((repository / model).rglob("*"))
        if path.is_file()
    }


def test_a_second_pipeline_is_written_beside_the_first_without_changing_its_bytes(tiny_checkpoint, kind_checkpoints, repository):
    convert(ConversionOptions(str(tiny_checkpoint), repository, token_budget=64))
    before = file_bytes(repository, DEFAULT_PIPELINE)
    manifest = convert(ConversionOptions(str(kind_checkpoints["nli"]), repository, name="nli", pairs=True, token_budget=64))
    assert file_bytes(repository, DEFAULT_PIPELINE) == before
    assert Repository(repository).pipelines() == ["nli", DEFAULT_PIPELINE]
    assert set(Repository(repository).check()) == {"nli", DEFAULT_PIPELINE}
    assert (manifest.pairs, manifest.token_types, manifest.function) == (True, True, "softmax")
    configs = {model: (repository / model / "config.pbtxt").read_text() for model in Pipeline(repository, "nli").models}
    assert 'name: "TEXT_PAIR", data_type: TYPE_STRING, dims: [ 1 ], optional: true' in configs["nli"]
    assert 'model_name: "nli.classifier"' in configs["nli"] and 'key: "INPUT__2", value: "token_type_ids"' in configs["nli"]
    assert 'name: "INPUT__2"' in configs["nli.classifier"] and 'name: "TOKEN_TYPE_IDS"' in configs["nli.tokenizer"]
    assert "../nli.classifier/1/conversion.json" in configs["nli.postprocess"]


@pytest.mark.parametrize(
    "kind, pairs, function, problem_type, token_types",
    [
        ("nli", True, "softmax", None, True),
        ("rerank", True, "sigmoid", None, False),  # RoBERTa has one token type
        ("toxicity", False, "sigmoid", "multi_label_classification", False),
        ("rating", False, "none", "regression", False),
    ],
)
def test_each_kind_of_head_is_recorded_and_matches_hugging_faces_pipeline(
    kind_checkpoints, repository, kind, pairs, function, problem_type, token_types
):
    manifest = convert(ConversionOptions(str(kind_checkpoints[kind]), repository, name=kind, pairs=pairs, token_budget=64))
    assert (manifest.function, manifest.problem_type, manifest.pairs, manifest.token_types) == (function, problem_type, pairs, token_types)
    assert manifest.pipeline_max_abs_difference <= 1e-4
    assert Pipeline(repository, kind).manifest() == manifest
    assert len(Pipeline(repository, kind).labels()) == len(manifest.labels) >= 1


def test_the_problem_type_flag_overrides_the_checkpoints(kind_checkpoints, repository):
    argv = ["--model", str(kind_checkpoints["toxicity"]), "--model-repository", str(repository), "--name", "tox"]
    result = run_cli(*argv, "--problem-type", "single_label_classification", "--token-budget", "64")
    assert result.returncode == 0, result.stderr
    manifest = Pipeline(repository, "tox").manifest()
    assert (manifest.problem_type, manifest.function) == ("single_label_classification", "softmax")
    assert run_cli(*argv, "--problem-type", "ranking").returncode == 2


def test_a_served_value_unlike_hugging_faces_pipeline_is_refused(kind_checkpoints, repository, monkeypatch):
    from conversion import served

    monkeypatch.setattr(served, "pipeline_values", lambda *args: np.zeros((len(args[2]), 3)))
    with pytest.raises(ConversionError, match="differs from Hugging Face's pipeline .* nothing written"):
        convert(ConversionOptions(str(kind_checkpoints["nli"]), repository, name="nli", pairs=True, token_budget=64))
    assert not Pipeline(repository, "nli").manifest_file.exists()
