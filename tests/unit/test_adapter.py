"""Low-rank adapters: what conversion merges into plain weights computes what was trained, and a
tiny encoder with an adapter converts and serves like any checkpoint."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from conversion import adapter
from conversion.checkpoint import ConversionError
from conversion.convert import ConversionOptions, convert
from conversion.length_grouping import ragged
from conversion.repository import Pipeline
from conversion.sentence_classifier import SentenceClassifier
from harness.eager import EagerClassifier

LABELS = ["negative", "neutral", "positive"]


def trained_adapter(checkpoint, path, seed: int = 0):
    """An adapter with random (not zero) updates, as training leaves it; returns the model it came from."""
    torch.manual_seed(seed)
    encoder = AutoModel.from_pretrained(checkpoint).eval()
    adapters = adapter.attach(encoder, rank=4, alpha=8.0)
    head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
    with torch.no_grad():
        for layer in adapters.values():
            layer.b.normal_(std=0.05)
        # Stored as float16: round now so that the reference computes with the values the file holds.
        for parameter in [*(p for a in adapters.values() for p in (a.a, a.b)), *head.parameters()]:
            parameter.copy_(parameter.half().float())
    adapter.save(path, adapters, head, LABELS, {"note": "test"})
    return SentenceClassifier(encoder, head.weight.detach(), head.bias.detach())


def test_merged_weights_compute_what_the_adapted_encoder_computed(tiny_checkpoint, tmp_path):
    path = tmp_path / "adapter.safetensors"
    adapted = trained_adapter(tiny_checkpoint, path)
    labels, merged = adapter.build(AutoModel.from_pretrained(tiny_checkpoint), path)
    assert labels == LABELS
    ids = torch.randint(5, 100, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        expected, got = adapted(ids, mask), merged(ids, mask)
        unmerged = SentenceClassifier(AutoModel.from_pretrained(tiny_checkpoint).eval(), merged.weight, merged.bias)(ids, mask)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    assert not torch.allclose(unmerged, expected, atol=1e-3), "the adapter changed nothing: the check proves nothing"


def test_an_adapter_for_another_encoder_or_a_broken_file_is_refused(tiny_checkpoint, tmp_path):
    path = tmp_path / "adapter.safetensors"
    trained_adapter(tiny_checkpoint, path)
    deeper = AutoModel.from_pretrained(tiny_checkpoint)
    deeper.encoder.layer.append(deeper.encoder.layer[-1].__class__(deeper.config))
    with pytest.raises(ConversionError, match="no adapter for encoder.layer"):
        adapter.build(deeper, path)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ConversionError, match="cannot read the adapter"):
        adapter.build(AutoModel.from_pretrained(tiny_checkpoint), broken)


def test_converts_with_an_adapter_and_the_eager_reference_rebuilds_it(tiny_checkpoint, tmp_path):
    path = tmp_path / "adapter.safetensors"
    trained_adapter(tiny_checkpoint, path)
    repository = tmp_path / "model_repository"
    manifest = convert(ConversionOptions(str(tiny_checkpoint), repository, adapter=path, token_budget=64))
    assert manifest.adapter == str(path) and manifest.labels == LABELS
    assert manifest.grouped_max_abs_difference <= 1e-4
    eager = EagerClassifier.from_repository(repository)
    module = torch.jit.load(str(Pipeline(repository).model_file))
    ids = torch.tensor([eager.token_ids("the adapter is merged before tracing")])
    with torch.no_grad():
        assert torch.allclose(module(*ragged(ids, torch.ones_like(ids))), torch.from_numpy(eager.logits(["the adapter is merged before tracing"])), atol=1e-4)


def test_one_head_per_encoder(tiny_checkpoint, tmp_path):
    options = ConversionOptions(str(tiny_checkpoint), tmp_path / "r", adapter=Path("a.safetensors"), prototypes=Path("p.json"))
    with pytest.raises(ConversionError, match="--prototypes and --adapter are two heads for one encoder: choose one"):
        convert(options)
