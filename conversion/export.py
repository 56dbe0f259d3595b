"""Trace a (input_ids, attention_mask) → logits module and prove that it matches eager PyTorch."""

import logging
import warnings

import torch
from tokenizers import Tokenizer

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
# Batch sizes and padding lengths other than the traced 2 × 16.
VERIFICATION_BATCHES = [(0, 1), (1, 4), (4, 11), (0, 11)]
# Batch sizes for the length-grouping module: the verification texts drawn in scrambled order
# (with repeats past 11), each batch padded to the maximum length as the tokenizer model sends it.
GROUPED_VERIFICATION_SIZES = [1, 2, 5, 11, 24]


class LogitsAdapter(torch.nn.Module):
    """A Hugging Face sequence classifier as a plain (input_ids, attention_mask) → logits module."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).logits


def serving_tokenizer(tokenizer, max_length: int) -> Tokenizer:
    """The fast tokenizer with the model's truncation and padding baked in, as the tokenizer model loads it."""
    serving = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    serving.enable_truncation(max_length=max_length)
    serving.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    return serving


def encode(tokenizer: Tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    encodings = tokenizer.encode_batch(texts)
    ids = torch.tensor([encoding.ids for encoding in encodings], dtype=torch.int64)
    mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.int64)
    return ids, mask


def trace(module: torch.nn.Module, tokenizer: Tokenizer) -> torch.jit.ScriptModule:
    """Trace at batch 2 × length 16 (the example shape only; dynamic shapes are verified after)."""
    truncated = Tokenizer.from_str(tokenizer.to_str())
    truncated.enable_truncation(max_length=16)
    ids, mask = encode_padded(truncated, VERIFICATION_TEXTS[-2:], 16)
    # The tracer warns about Python branches it freezes; max_abs_difference checks the result instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module.eval(), (ids, mask), check_trace=False)
    return traced


def max_abs_difference(traced: torch.jit.ScriptModule, eager: torch.nn.Module, tokenizer: Tokenizer) -> float:
    """Largest |traced − eager| over the verification batches, each padded to its own longest text."""
    worst = 0.0
    with torch.no_grad():
        for start, stop in VERIFICATION_BATCHES:
            ids, mask = encode(tokenizer, VERIFICATION_TEXTS[start:stop])
            difference = (traced(ids, mask) - eager(ids, mask)).abs().max().item()
            log.info("  batch %d × length %3d: max |traced − eager| = %.2e", ids.shape[0], ids.shape[1], difference)
            worst = max(worst, difference)
    return worst


def grouped_difference(grouped: torch.jit.ScriptModule, eager: torch.nn.Module, tokenizer: Tokenizer) -> float:
    """Largest |grouped − eager| logit over scrambled mixed-length batches padded to the maximum
    length, against eager PyTorch run on one unpadded text at a time."""
    max_length = tokenizer.truncation["max_length"]
    with torch.no_grad():
        expected = [eager(ids, mask)[0] for ids, mask in (encode(tokenizer, [text]) for text in VERIFICATION_TEXTS)]
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for size in GROUPED_VERIFICATION_SIZES:
        picks = torch.randint(len(VERIFICATION_TEXTS), (size,), generator=generator).tolist()
        ids, mask = encode_padded(tokenizer, [VERIFICATION_TEXTS[pick] for pick in picks], max_length)
        with torch.no_grad():
            logits = grouped(ids, mask)
        difference = (logits - torch.stack([expected[pick] for pick in picks])).abs().max().item()
        log.info("  %2d mixed texts padded to %d: max |grouped − eager| = %.2e", size, max_length, difference)
        worst = max(worst, difference)
    return worst


def encode_padded(tokenizer: Tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    padded = Tokenizer.from_str(tokenizer.to_str())
    padded.enable_padding(pad_id=tokenizer.padding["pad_id"], pad_token=tokenizer.padding["pad_token"], length=length)
    return encode(padded, texts)
