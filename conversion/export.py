"""Trace a (input_ids, attention_mask[, token_type_ids]) → logits module and prove that it matches eager PyTorch."""

import logging
import warnings

import torch
from tokenizers import Tokenizer

from . import length_grouping

log = logging.getLogger(__name__)

# Verification texts: several scripts, emoji, the empty string, and one longer than any
# model's maximum length, so truncation is exercised too.
VERIFICATION_TEXTS = [
    "",
    "ok",
    "I love this!",
    "Worst service ever. Never again 😡",
    "The meeting has been moved to 3pm on Thursday.",
    "Das Essen war hervorragend, aber der Service war langsam.",
    "今日はとても良い天気ですね。",
    "هذا المنتج رائع جدا",
    "Just landed in Lisbon 🇵🇹✈️ #travel @friend https://example.com/x?y=1",
    "not bad... not great either ¯\\_(ツ)_/¯",
    " ".join(["A long review that keeps going well past the maximum input length of the model."] * 80),
]
# For pair pipelines: pairs of mixed lengths, empty and over-length sides included.
VERIFICATION_PAIRS = [
    ("", ""),
    ("A man is eating pasta.", "Someone eats food."),
    ("A man is eating pasta.", ""),
    ("", "Nobody is eating."),
    ("Das Essen war hervorragend.", "The food was great 😋"),
    ("今日はとても良い天気ですね。", "It rains all day."),
    ("ok", VERIFICATION_TEXTS[-1]),
    (VERIFICATION_TEXTS[-1], "short"),
    (VERIFICATION_TEXTS[-1], VERIFICATION_TEXTS[-1]),
    ("Worst service ever. Never again 😡", "The service was excellent."),
    ("The meeting has been moved to 3pm on Thursday.", "The meeting is on Thursday afternoon."),
]
# Batch sizes and padding lengths other than the traced 2 × 16.
VERIFICATION_BATCHES = [(0, 1), (1, 4), (4, 11), (0, 11)]
# Batch sizes for the length-grouping module: the verification texts drawn in scrambled order
# (with repeats past 11), cut into a few requests of different widths.
GROUPED_VERIFICATION_SIZES = [1, 2, 5, 11, 24]


class LogitsAdapter(torch.nn.Module):
    """A Hugging Face sequence classifier as a plain (input_ids, attention_mask[, token_type_ids]) → logits module."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.model(**inputs, return_dict=True).logits


def serving_tokenizer(tokenizer, max_length: int) -> Tokenizer:
    """The fast tokenizer with the model's truncation and padding baked in, as the tokenizer model loads it."""
    serving = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    serving.enable_truncation(max_length=max_length)
    serving.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    return serving


def verification_items(pairs: bool) -> list:
    """What conversion checks a pipeline on: single texts, and for a pair pipeline pairs too."""
    return VERIFICATION_TEXTS + (VERIFICATION_PAIRS if pairs else [])


def encode(tokenizer: Tokenizer, items: list, token_types: bool = False) -> tuple[torch.Tensor, ...]:
    """Texts or (text, pair) tuples → input_ids, attention_mask (and token_type_ids), as the tokenizer pads them."""
    encodings = tokenizer.encode_batch(items)
    fields = ("ids", "attention_mask", "type_ids")[: 3 if token_types else 2]
    return tuple(torch.tensor([getattr(encoding, name) for encoding in encodings], dtype=torch.int64) for name in fields)


def trace(module: torch.nn.Module, tokenizer: Tokenizer, token_types: bool = False) -> torch.jit.ScriptModule:
    """Trace at batch 2 × length 16 (the example shape only; dynamic shapes are verified after)."""
    truncated = Tokenizer.from_str(tokenizer.to_str())
    truncated.enable_truncation(max_length=16)
    example = [tuple(VERIFICATION_TEXTS[-2:])] * 2 if token_types else VERIFICATION_TEXTS[-2:]
    inputs = encode_padded(truncated, example, 16, token_types)
    # The tracer warns about Python branches it freezes; max_abs_difference checks the result instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), inputs, check_trace=False)
    return traced


def max_abs_difference(
    traced: torch.jit.ScriptModule, eager: torch.nn.Module, tokenizer: Tokenizer, pairs: bool = False, token_types: bool = False
) -> float:
    """Largest |traced − eager| over the verification batches, each padded to its own longest item."""
    worst = 0.0
    batches = [VERIFICATION_TEXTS[start:stop] for start, stop in VERIFICATION_BATCHES]
    batches += [VERIFICATION_PAIRS[start:stop] for start, stop in VERIFICATION_BATCHES] if pairs else []
    with torch.no_grad():
        for items in batches:
            inputs = encode(tokenizer, items, token_types)
            difference = (traced(*inputs) - eager(*inputs)).abs().max().item()
            log.info("  batch %d × length %3d: max |traced − eager| = %.2e", inputs[0].shape[0], inputs[0].shape[1], difference)
            worst = max(worst, difference)
    return worst


def grouped_difference(
    grouped: torch.jit.ScriptModule, eager: torch.nn.Module, tokenizer: Tokenizer, pairs: bool = False, token_types: bool = False
) -> float:
    """Largest |grouped − eager| logit over ragged batches of requests of mixed-length items in scrambled
    order, each request padded to its own longest item (the last one to the maximum length, as a client
    may pad), against eager PyTorch run on one unpadded text (or pair) at a time."""
    items = verification_items(pairs)
    max_length = tokenizer.truncation["max_length"]
    with torch.no_grad():
        expected = [eager(*encode(tokenizer, [item], token_types))[0] for item in items]
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for size in GROUPED_VERIFICATION_SIZES:
        picks = torch.randint(len(items), (size,), generator=generator).tolist()
        ends = sorted(set(torch.randint(1, size + 1, (2,), generator=generator).tolist()) | {size})
        chunks = [[items[pick] for pick in picks[start:end]] for start, end in zip([0, *ends], ends)]
        requests = [encode(tokenizer, chunk, token_types) for chunk in chunks[:-1]]
        requests.append(encode_padded(tokenizer, chunks[-1], max_length, token_types))
        with torch.no_grad():
            logits = grouped(*length_grouping.ragged_batch(requests))
        difference = (logits - torch.stack([expected[pick] for pick in picks])).abs().max().item()
        log.info("  %2d mixed items in %d requests: max |grouped − eager| = %.2e", size, len(requests), difference)
        worst = max(worst, difference)
    return worst


def encode_padded(tokenizer: Tokenizer, items: list, length: int, token_types: bool = False) -> tuple[torch.Tensor, ...]:
    padded = Tokenizer.from_str(tokenizer.to_str())
    padded.enable_padding(pad_id=tokenizer.padding["pad_id"], pad_token=tokenizer.padding["pad_token"], length=length)
    return encode(padded, items, token_types)
