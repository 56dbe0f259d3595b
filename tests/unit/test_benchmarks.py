"""Benchmark logic without a server: the memory trend and infinity-emb's view of a checkpoint."""

import json


from benchmarks import infinity_peer, soak


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
