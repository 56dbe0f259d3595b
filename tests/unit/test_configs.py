"""The config.pbtxt files conversion writes, read back as Triton reads them."""

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from benchmarks.first_request import without_warmup
from conversion import configs
from conversion.repository import Pipeline


def parsed(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("pairs, token_types", [(False, False), (True, False), (True, True)])
def test_every_model_but_the_ensemble_warms_up_on_each_of_its_inputs(tmp_path, pairs, token_types):
    pipeline = Pipeline(tmp_path, "nli")
    for relative, text in configs.render(pipeline, 3, pairs, token_types).items():
        config = parsed(text)
        if config.platform == "ensemble":
            assert not config.model_warmup
            continue
        [sample] = config.model_warmup
        assert sample.batch_size == 1 and sample.count == configs.WARMUP_RUNS
        required = {tensor.name for tensor in config.input if not tensor.optional}
        assert set(sample.inputs) == required, relative
        assert all(tensor.zero_data and len(tensor.dims) == 1 for tensor in sample.inputs.values())
        if config.name == "nli.postprocess":
            assert list(sample.inputs["LOGITS"].dims) == [3]  # one logit per label


@pytest.mark.parametrize("token_types", [False, True])
def test_the_classifier_takes_ragged_inputs_with_each_one_s_item_shape(tmp_path, token_types):
    config = parsed(configs.classifier_config(Pipeline(tmp_path, "nli"), token_types))
    names = [tensor.name for tensor in config.input]
    assert all(tensor.allow_ragged_batch for tensor in config.input)
    assert [(item.kind, list(item.source_input), list(item.target_name)) for item in config.batch_input] == [
        (model_config_pb2.BatchInput.BATCH_ITEM_SHAPE, [name], [f"INPUT__{len(names) + index}"]) for index, name in enumerate(names)
    ]


def test_the_benchmark_copy_without_warm_up_keeps_every_other_setting(tmp_path):
    pipeline = Pipeline(tmp_path, "sentiment")
    rendered = configs.render(pipeline, 3)
    for relative, text in rendered.items():
        pipeline.write_text(relative, text)
    without_warmup(pipeline)
    for relative, text in rendered.items():
        expected = parsed(text)
        expected.ClearField("model_warmup")
        assert parsed((tmp_path / relative).read_text()) == expected
