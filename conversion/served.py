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


# Zero-shot pipelines: texts of mixed lengths (Hugging Face's pipeline refuses the empty one) against candidate
# label sets of 1 to 10 labels, with and without multi-label.
ZERO_SHOT_LABEL_SETS = [
    ["positive"],
    ["positive", "negative"],
    ["travel", "food", "weather", "politics", "sports"],
    ["joy", "anger", "sadness", "fear", "surprise", "love", "disgust", "trust", "boredom", "a very long label name 😀"],
]


def zero_shot_request(grouped, encoder, postprocessing, request: tuple, zero_shot: dict, token_types: bool) -> tuple[np.ndarray, ...]:
    """One request (TEXT, LABELS, MULTI_LABEL) through a zero-shot pipeline's own code in process: its tokenizer's
    ZeroShotEncoder, model.pt and its postprocessing module. LABEL, SCORE and PROBS."""
    [(*arrays, pair_label, pair_text, pair_multi_label)] = encoder.tokenize_requests([request], token_types)
    with torch.inference_mode():
        logits = grouped(*length_grouping.ragged(*(torch.from_numpy(array) for array in arrays)))
    entailment, contradiction = zero_shot["entailment"], zero_shot["contradiction"]
    return postprocessing.zero_shot(logits.numpy(), pair_label, pair_text, pair_multi_label, entailment, contradiction)


def zero_shot_served(grouped, serving, texts: list[str], labels: list[str], multi_label: bool, zero_shot: dict, token_types: bool) -> np.ndarray:
    """PROBS [n, K] as the zero-shot pipeline serves them: its tokenizer's pairs, model.pt, its postprocess."""
    tokenization, postprocessing = model_code("tokenization", "tokenizer"), model_code("postprocessing", "postprocess")
    encoder = tokenization.ZeroShotEncoder(tokenization.TextEncoder.from_tokenizer(serving), zero_shot["hypothesis_template"])
    text = np.array([[item.encode()] for item in texts], dtype=np.object_)
    candidates = np.array([[label.encode() for label in labels]] * len(texts), dtype=np.object_)
    request = (text, candidates, np.full((len(texts), 1), multi_label))
    return zero_shot_request(grouped, encoder, postprocessing, request, zero_shot, token_types)[2]


def zero_shot_pipeline_values(classify, texts: list[str], labels: list[str], multi_label: bool, template: str) -> np.ndarray:
    """Each candidate's score from Hugging Face's zero-shot pipeline, in the order of `labels`."""
    values = np.zeros((len(texts), len(labels)), dtype=np.float64)
    for row, text in enumerate(texts):
        answer = classify(text, candidate_labels=labels, multi_label=multi_label, hypothesis_template=template)
        for label, score in zip(answer["labels"], answer["scores"]):
            values[row, labels.index(label)] = score
    return values


def zero_shot_difference(model, tokenizer, grouped, serving, zero_shot: dict, token_types: bool) -> float:
    """Largest |served − Hugging Face's zero-shot pipeline| probability over the verification texts and label sets."""
    texts = [text for text in verification_items(False) if text]
    tokenizer.model_max_length = serving.truncation["max_length"]  # the pipeline truncates there, as the served tokenizer does
    classify = transformers.pipeline("zero-shot-classification", model=model, tokenizer=tokenizer, device=-1)
    worst = 0.0
    for labels in ZERO_SHOT_LABEL_SETS:
        for multi_label in (False, True):
            expected = zero_shot_pipeline_values(classify, texts, labels, multi_label, zero_shot["hypothesis_template"])
            served = zero_shot_served(grouped, serving, texts, labels, multi_label, zero_shot, token_types)
            difference = float(np.abs(served - expected).max())
            log.info("  %d texts × %d labels, multi-label %s: max |served − pipeline| = %.2e", len(texts), len(labels), multi_label, difference)
            worst = max(worst, difference)
    return worst
