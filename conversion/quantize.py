"""A CPU speed option: dynamic int8 quantisation of the linear layers, with its accuracy cost measured."""

import logging
import warnings

import torch
from tokenizers import Tokenizer

from .export import VERIFICATION_TEXTS, encode

log = logging.getLogger(__name__)


def dynamic_int8(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` whose nn.Linear layers run in int8 with per-batch activation scales (CPU only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8).eval()


def accuracy_change(fp32: torch.nn.Module, int8: torch.nn.Module, tokenizer: Tokenizer) -> dict:
    """Largest probability difference and label agreement between the two, one verification text at a time."""
    worst, agree = 0.0, 0
    with torch.no_grad():
        for text in VERIFICATION_TEXTS:
            ids, mask = encode(tokenizer, [text])
            expected, got = fp32(ids, mask).softmax(-1), int8(ids, mask).softmax(-1)
            worst = max(worst, (expected - got).abs().max().item())
            agree += int(expected.argmax() == got.argmax())
    change = {"max_probability_difference": worst, "label_agreement": f"{agree}/{len(VERIFICATION_TEXTS)}"}
    log.info("int8 against fp32: max probability difference %.4f, labels agree on %s texts", worst, change["label_agreement"])
    return change
