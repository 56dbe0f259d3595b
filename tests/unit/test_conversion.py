"""Conversion of Hugging Face checkpoints into the model repository (real tiny checkpoints, no hub)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification

from conversion import checkpoint, zero_shot
from conversion.checkpoint import ConversionError
from conversion.convert import ConversionOptions, convert
from conversion.repository import ARTIFACTS, Repository
from harness import tiny_roberta
from tests.support import PROJECT, repository_skeleton


@pytest.fixture
def repository(tmp_path):
    return repository_skeleton(tmp_path / "model_repository")


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "conversion", *argv], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def test_converts_a_checkpoint_and_writes_verified_artifacts(tiny_roberta_repository, tiny_checkpoint):
    repository = Repository(tiny_roberta_repository)
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
        torch.testing.assert_close(traced(ids, mask), eager(input_ids=ids, attention_mask=mask).logits, atol=1e-5, rtol=0)


def test_the_model_groups_rows_by_length_under_a_recorded_budget(tiny_roberta_repository, tiny_checkpoint):
    manifest = Repository(tiny_roberta_repository).manifest()
    budget = manifest.token_budget
    assert budget["chosen_by"] == "fastest on this CPU"
    assert str(budget["cpu"]) in budget["seconds_by_cpu_budget"]
    assert budget["seconds_by_cpu_budget"][str(budget["cpu"])] == min(budget["seconds_by_cpu_budget"].values())
    assert manifest.grouped_max_abs_difference <= 1e-4

    module = torch.jit.load(str(Repository(tiny_roberta_repository).model_file))
    assert (module.cpu_token_budget, module.gpu_token_budget) == (budget["cpu"], budget["gpu"])
    eager = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    lengths = [64, 3, 17, 2, 64, 9, 40]  # scrambled, padded to the maximum length as the tokenizer model sends them
    ids = torch.randint(3, 200, (len(lengths), 64), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(64).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    ids = torch.where(mask.bool(), ids, 1)
    with torch.no_grad():
        rows = [eager(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits for i, n in enumerate(lengths)]
        torch.testing.assert_close(module(ids, mask), torch.cat(rows), atol=1e-4, rtol=0)


def test_a_given_token_budget_is_used_and_a_bad_one_refused(tiny_checkpoint, repository):
    manifest = convert(ConversionOptions(str(tiny_checkpoint), repository, token_budget=96, gpu_token_budget=2048))
    assert manifest.token_budget == {"cpu": 96, "gpu": 2048, "chosen_by": "--token-budget"}
    assert Repository(repository).manifest() == manifest
    argv = ["--model", str(tiny_checkpoint), "--model-repository", str(repository)]
    for bad in ("0", "-5", "many"):
        result = run_cli(*argv, "--token-budget", bad)
        assert result.returncode == 2 and "must be a positive integer" in result.stderr


def test_artifacts_are_readable_by_other_users(tiny_roberta_repository):
    for path in ARTIFACTS:
        assert (tiny_roberta_repository / path).stat().st_mode & 0o044 == 0o044, path


def test_int8_quantisation_records_its_accuracy_change(tiny_checkpoint, repository):
    manifest = convert(ConversionOptions(str(tiny_checkpoint), repository, quantize="int8"))
    change = manifest.quantization_accuracy_change
    assert manifest.quantize == "int8" and manifest.max_abs_difference <= 1e-4
    assert 0 < change["max_probability_difference"] < 1
    agreed, total = map(int, change["label_agreement"].split("/"))
    assert 0 <= agreed <= total == 11
    traced = torch.jit.load(str(Repository(repository).model_file))
    assert "quantized::linear_dynamic" in str(traced.inlined_graph)


def test_refuses_to_write_above_the_tolerance(tiny_checkpoint, repository):
    with pytest.raises(ConversionError, match="differs from eager PyTorch .* nothing written"):
        convert(ConversionOptions(str(tiny_checkpoint), repository, tolerance=-1))
    assert not Repository(repository).model_file.exists()
    assert not Repository(repository).tokenizer_file.exists()


def test_labels_and_max_length_flags(tiny_checkpoint, repository):
    argv = ["--model", str(tiny_checkpoint), "--repository", str(repository), "--labels", "bad,meh,good"]  # the older spelling
    assert run_cli(*argv, "--max-length", "16", "--token-budget", "64").returncode == 0
    assert json.loads(Repository(repository).labels_file.read_text()) == ["bad", "meh", "good"]
    assert Tokenizer.from_file(str(Repository(repository).tokenizer_file)).truncation["max_length"] == 16


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


def test_a_folder_that_is_not_a_repository_is_refused(tiny_checkpoint, tmp_path):
    with pytest.raises(ConversionError, match="not this project's model repository"):
        convert(ConversionOptions(str(tiny_checkpoint), tmp_path))


def test_remote_code_runs_only_with_the_flag(tiny_checkpoint, tmp_path, repository):
    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_checkpoint, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "custom_model.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from transformers import RobertaForSequenceClassification as CustomModel\n"
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
