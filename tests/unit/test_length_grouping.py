"""The length-grouping TorchScript module, without Triton: sub-batches, order, exactness."""

import warnings

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from conversion import export, length_grouping
from conversion.length_grouping import ragged, ragged_batch
from conversion.configs import CLASSIFIER_PARAMETERS
from harness import tiny_roberta

PAD = 1  # RoBERTa's padding id


class SubBatchProbe(torch.nn.Module):
    """Per row: the width and row count of the sub-batch it ran in, and a fingerprint of its tokens."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        rows, width = input_ids.shape
        shape = torch.tensor([width, rows], dtype=torch.float32).expand(rows, 2)
        fingerprint = (input_ids * attention_mask).sum(dim=1, keepdim=True).to(torch.float32)
        return torch.cat([shape, fingerprint, attention_mask.sum(dim=1, keepdim=True).to(torch.float32)], dim=1)


def right_padded(lengths: list[int], width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (never the padding id) in rows of the given lengths, right-padded."""
    mask = (torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    ids = torch.randint(3, 200, (len(lengths), width), generator=torch.Generator().manual_seed(seed))
    return torch.where(mask.bool(), ids, PAD), mask


@pytest.mark.parametrize("budget", [1, 40, 100, 10_000])
def test_sub_batches_stay_within_the_budget_and_trim_to_their_longest_row(budget):
    lengths = [3, 30, 7, 64, 7, 12, 1, 30, 45, 5]
    ids, mask = right_padded(lengths, 64)
    out = length_grouping.script(torch.jit.script(SubBatchProbe()), budget, budget)(*ragged(ids, mask))
    widths, rows = out[:, 0].long(), out[:, 1].long()
    assert out[:, 3].long().tolist() == lengths  # every row's full mask reached it
    assert out[:, 2].tolist() == (ids * mask).sum(dim=1).float().tolist()  # and in request order
    for width, count, length in zip(widths.tolist(), rows.tolist(), lengths):
        assert width >= length
        assert count == 1 or count * width <= budget
    # Each sub-batch is as wide as its longest row, so rows sharing a width include one that needs it.
    for width in set(widths.tolist()):
        assert width in lengths


def test_left_padding_and_gaps_keep_every_attended_column():
    ids = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, PAD, PAD, PAD], [4, PAD, 3, PAD, PAD]])
    mask = (ids != PAD).long()
    out = length_grouping.script(torch.jit.script(SubBatchProbe()), 4, 4)(*ragged(ids, mask))
    assert out[:, 3].long().tolist() == [3, 2, 2]
    assert out[:, 0].long().tolist() == [5, 2, 3]  # through the last attended column, no further
    assert out[:, 2].tolist() == [18.0, 17.0, 7.0]


@pytest.fixture(scope="module")
def tiny_classifier(tiny_checkpoint):
    eager = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    ids = torch.randint(3, 100, (2, 16))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it freezes
        traced = torch.jit.trace(export.LogitsAdapter(eager), (ids, torch.ones_like(ids)), check_trace=False)
    return eager, traced


@pytest.mark.parametrize("budget", [1, 50, 256, 100_000])
def test_logits_equal_one_unpadded_row_at_a_time(tiny_classifier, budget):
    eager, traced = tiny_classifier
    lengths = [1, 64, 2, 17, 64, 5, 33, 9, 64, 3, 40, 2]
    ids, mask = right_padded(lengths, 64, seed=budget)
    grouped = length_grouping.script(traced, budget, budget)
    with torch.no_grad():
        got = grouped(*ragged(ids, mask))
        rows = [eager(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits for i, n in enumerate(lengths)]
    expected = torch.cat(rows)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_requests_of_different_widths_batch_together(tiny_classifier):
    """As Triton's backend hands model.pt a ragged batch: each request padded to its own longest, or further."""
    eager, traced = tiny_classifier
    requests = [right_padded([5, 17], 17), right_padded([64], 64, seed=1), right_padded([2, 9, 3], 30, seed=2)]
    with torch.no_grad():
        got = length_grouping.script(traced, 64, 64, pad_id=PAD)(*ragged_batch(requests))
        expected = torch.cat([
            eager(input_ids=ids[row : row + 1, :length], attention_mask=mask[row : row + 1, :length]).logits
            for (ids, mask), lengths in zip(requests, [[5, 17], [64], [2, 9, 3]])
            for row, length in enumerate(lengths)
        ])  # fmt: skip
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_ragged_batch_flattens_each_input_and_gives_every_row_its_width():
    first, second = (torch.arange(6).reshape(2, 3),), (torch.arange(10, 14).reshape(1, 4),)
    flat, widths = ragged_batch([first, second])
    assert flat.tolist() == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13]
    assert widths.dtype == torch.int32 and widths.tolist() == [[3], [3], [4]]


def test_budgets_survive_saving_and_the_inner_classifier_stays_reachable(tiny_classifier, tmp_path):
    torch.jit.save(length_grouping.script(tiny_classifier[1], 64, 4096), str(tmp_path / "model.pt"))
    restored = torch.jit.load(str(tmp_path / "model.pt"))
    assert (restored.cpu_token_budget, restored.gpu_token_budget) == (64, 4096)
    ids, mask = right_padded([5, 9], 9)
    with torch.no_grad():
        torch.testing.assert_close(restored(*ragged(ids, mask)), tiny_classifier[1](ids, mask), atol=1e-5, rtol=0)
        torch.testing.assert_close(restored.classifier(ids, mask), tiny_classifier[1](ids, mask))


def test_timing_batch_spreads_lengths_in_scrambled_order():
    ids, mask = length_grouping.timing_batch(pad_id=PAD, vocab_size=500, longest=256)
    lengths = mask.sum(dim=1)
    assert ids.shape == (64, 256) and lengths.min() == 8 and lengths.max() == 256
    assert not torch.equal(lengths, lengths.sort().values)
    assert (ids[mask == 0] == PAD).all() and (ids[mask == 1] != PAD).all()


def test_measured_budget_is_a_candidate_with_every_timing(tiny_classifier):
    batch = length_grouping.timing_batch(pad_id=PAD, vocab_size=200, longest=tiny_roberta.MAX_LENGTH, rows=16)
    best, seconds = length_grouping.measure_cpu_budget(tiny_classifier[1], batch, CLASSIFIER_PARAMETERS, rounds=1)
    assert set(seconds) == set(length_grouping.CANDIDATE_BUDGETS)
    assert best in seconds and seconds[best] == min(seconds.values()) > 0


class PairProbe(torch.nn.Module):
    """Per row: the width of its sub-batch and a fingerprint of the token types that reached it."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        rows, width = input_ids.shape
        types = (token_type_ids * attention_mask * torch.arange(1, width + 1)).sum(dim=1, keepdim=True)
        return torch.cat([torch.full((rows, 1), width), types], dim=1).to(torch.float32)


def test_token_types_travel_with_their_rows_and_are_trimmed_alike():
    lengths = [5, 60, 2, 33, 17]
    ids, mask = right_padded(lengths, 64)
    types = (torch.arange(64).unsqueeze(0) >= torch.tensor([3, 20, 1, 30, 9]).unsqueeze(1)).long() * mask
    out = length_grouping.script(torch.jit.script(PairProbe()), 64, 64, token_types=True)(*ragged(ids, mask, types))
    assert out[:, 1].tolist() == (types * mask * torch.arange(1, 65)).sum(dim=1).float().tolist()
    assert all(width >= length for width, length in zip(out[:, 0].long().tolist(), lengths))


LIMITS = length_grouping.InputLimits(vocab_size=200, max_length=40, type_vocab_size=2)


def refused_rows(logits: torch.Tensor) -> list[int]:
    return torch.isnan(logits).all(dim=1).nonzero().flatten().tolist()


def test_rows_the_classifier_cannot_take_get_nan_and_the_rest_their_logits(tiny_classifier):
    eager, traced = tiny_classifier
    lengths = [5, 12, 41, 7, 30]
    ids, mask = right_padded(lengths, 48)
    ids[1, 3], ids[3, 0] = 200, -1  # outside the vocabulary; row 2 is longer than the maximum length
    grouped = length_grouping.script(traced, 64, 64, limits=LIMITS)
    with torch.no_grad():
        got = grouped(*ragged(ids, mask))
        expected = torch.cat([eager(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits for i, n in [(0, 5), (4, 30)]])
    assert refused_rows(got) == [1, 2, 3]
    torch.testing.assert_close(got[[0, 4]], expected, atol=1e-4, rtol=0)


def test_a_mask_of_another_width_than_the_ids_refuses_the_rows_of_its_request_alone(tiny_classifier):
    eager, traced = tiny_classifier
    first, second, third = right_padded([3, 9], 10), right_padded([4], 6, seed=1), right_padded([7, 2], 7, seed=2)
    grouped = length_grouping.script(traced, 64, 64, limits=LIMITS)
    with torch.no_grad():
        got = grouped(*ragged_batch([first, (second[0], second[1][:, :5]), third]))
        expected = torch.cat([eager(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits for ids, mask, i, n in
                              [(*first, 0, 3), (*first, 1, 9), (*third, 0, 7), (*third, 1, 2)]])  # fmt: skip
    assert refused_rows(got) == [2]
    torch.testing.assert_close(got[[0, 1, 3, 4]], expected, atol=1e-4, rtol=0)


def test_token_types_past_the_model_s_refuse_their_row_alone():
    ids, mask = right_padded([5, 30, 2], 64)
    types = torch.zeros_like(ids)
    types[1, 4] = 2
    grouped = length_grouping.script(torch.jit.script(PairProbe()), 64, 64, token_types=True, limits=LIMITS)
    assert refused_rows(grouped(*ragged(ids, mask, types))) == [1]
    assert refused_rows(grouped(*ragged(ids, mask, types[:, :10]))) == [0, 1, 2]
