"""The head decided once: a pipeline's manifest gives back the options that converted it, and the
eager reference built from them computes what conversion traced."""

import numpy as np
import pytest
import torch

from conversion import export, zero_shot
from conversion.convert import ConversionOptions, convert
from conversion.length_grouping import ragged
from conversion.repository import Pipeline
from harness.eager import EagerClassifier
from harness.model_code import tokenization
from tests.unit.test_adapter import trained_adapter

# Pipeline name → what its conversion is given besides the model: every option a manifest records,
# so that the manifest can give all of them back.
HEADS = {
    "sentiment": {"labels": ["sad", "meh", "glad"], "max_length": 48},
    "nli": {"pairs": True, "labels": ["yes", "maybe", "no"], "max_length": 40},
    "toxicity": {"problem_type": "multi_label_classification", "labels": ["t", "i", "th", "o"], "max_length": 32},
    "prototypes": {"prototypes": zero_shot.DEFAULT_PROTOTYPES, "max_length": 32},
    "adapter": {"max_length": 32},  # the adapter file is the test's own
    "int8": {"quantize": "int8", "labels": ["sad", "meh", "glad"], "max_length": 32},
}


@pytest.fixture
def head_options(request, tiny_checkpoint, kind_checkpoints, tmp_path) -> ConversionOptions:
    name = request.param
    model = kind_checkpoints.get(name, tiny_checkpoint)
    options = {**HEADS[name], "name": name, "token_budget": 64}
    if name == "adapter":
        options["adapter"] = tmp_path / "adapter.safetensors"
        trained_adapter(tiny_checkpoint, options["adapter"])
    return ConversionOptions(str(model), tmp_path / "model_repository", **options)


@pytest.mark.parametrize("head_options", list(HEADS), indirect=True)
def test_a_manifest_gives_back_the_options_that_converted_it(head_options):
    manifest = convert(head_options)
    recorded = ConversionOptions.from_manifest(manifest, head_options.model_repository, name=head_options.name, token_budget=64)
    assert recorded == head_options


@pytest.mark.parametrize("head_options", [name for name in HEADS if name != "int8"], indirect=True)
def test_the_eager_reference_computes_what_conversion_traced(head_options):
    manifest = convert(head_options)
    pipeline = Pipeline(head_options.model_repository, head_options.name)
    eager = EagerClassifier.from_repository(pipeline.root, pipeline.name)
    assert (eager.labels, eager.function, eager.max_length) == (manifest.labels, manifest.function, manifest.max_length)

    # Encoded as the tokenizer model serves them: an empty second text is a single text, as in Hugging Face's pipeline.
    items = export.verification_items(manifest.pairs)
    inputs = tokenization.TextEncoder.load(pipeline.tokenizer_file).encode(items, manifest.token_types)
    with torch.no_grad():
        traced = torch.jit.load(str(pipeline.model_file))(*ragged(*map(torch.from_numpy, inputs))).numpy()
    np.testing.assert_allclose(eager.logits(items), traced, atol=1e-4, rtol=0)
