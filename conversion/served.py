"""What the served pipeline answers, computed in process, against Hugging Face's text-classification pipeline.

The served path is the pipeline's own code: the tokenizer model's TextEncoder (one request of all the
items, padded to its longest), the written length-grouping module, and the postprocess model's function, loaded
from the committed repository. Hugging Face's pipeline, with `top_k=None` and truncation at the same
length, is the reference for what each label's value means (softmax, sigmoid or the raw value).
"""

import importlib.util
import logging

import numpy as np
import torch
import transformers

from . import length_grouping
from .export import verification_items
from .repository import TEMPLATE, VERSION, Pipeline

log = logging.getLogger(__name__)


def model_code(module: str, step: str):
    """A step's logic module (tokenization, postprocessing) from the committed repository."""
    path = TEMPLATE / Pipeline(TEMPLATE).model(step) / VERSION / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"served_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def served_values(grouped, serving, items: list, function: str, token_types: bool) -> np.ndarray:
    """PROBS as the pipeline serves them, for texts or (text, pair) tuples."""
    tokenization, postprocessing = model_code("tokenization", "tokenizer"), model_code("postprocessing", "postprocess")
    arrays = tokenization.TextEncoder.from_tokenizer(serving).encode(items, token_types)
    with torch.inference_mode():
        logits = grouped(*length_grouping.ragged(*(torch.from_numpy(array) for array in arrays)))
    return postprocessing.apply(function, logits.numpy())


def pipeline_values(model, tokenizer, items: list, max_length: int) -> np.ndarray:
    """Each label's value in logit order from Hugging Face's pipeline with its default function."""
    classify = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    inputs = [{"text": item[0], "text_pair": item[1]} if isinstance(item, tuple) else item for item in items]
    answers = classify(inputs, top_k=None, truncation=True, max_length=max_length)
    index = {label: position for position, label in model.config.id2label.items()}
    values = np.zeros((len(items), model.config.num_labels), dtype=np.float64)
    for row, answer in enumerate(answers):
        for entry in answer:
            values[row, index[entry["label"]]] = entry["score"]
    return values


def pipeline_difference(model, tokenizer, grouped, serving, function: str, pairs: bool, token_types: bool) -> float:
    """Largest |served − Hugging Face's pipeline| value over the verification texts (and pairs)."""
    items = verification_items(pairs)
    max_length = serving.truncation["max_length"]
    expected = pipeline_values(model, tokenizer, items, max_length)
    difference = float(np.abs(served_values(grouped, serving, items, function, token_types) - expected).max())
    log.info("  %d %s, %s: max |served − pipeline| = %.2e", len(items), "texts and pairs" if pairs else "texts", function, difference)
    return difference
