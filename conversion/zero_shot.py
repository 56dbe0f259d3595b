"""A zero-shot classifier from a sentence encoder: cosine similarity to label prototypes.

Each label's prototype is the normalised mean of the normalised, mean-pooled embeddings of a few
example sentences. Logits are the text embedding's cosine similarity to each prototype, scaled
so that the softmax gives usable probabilities.
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import ConversionError
from .export import encode
from .sentence_classifier import SentenceClassifier, embed

DEFAULT_PROTOTYPES = Path(__file__).resolve().parent / "prototypes" / "sentiment.json"
SIMILARITY_SCALE = 20.0


def load_examples(path: Path) -> dict[str, list[str]]:
    """A JSON object: label → example sentences, labels in logit order."""
    try:
        examples = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConversionError(f"cannot read prototypes from {path}: {error}") from None
    valid = isinstance(examples, dict) and len(examples) >= 2
    if not valid or not all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in examples.values()):
        raise ConversionError(f"{path} must map at least two labels to non-empty lists of example sentences")
    return examples


def build(encoder: torch.nn.Module, tokenizer, examples: dict[str, list[str]]) -> tuple[list[str], SentenceClassifier]:
    """Label names and the classifier whose weights are the scaled prototypes of the examples."""
    prototypes = []
    with torch.no_grad():
        for sentences in examples.values():
            ids, mask = encode(tokenizer, sentences)
            prototypes.append(F.normalize(embed(encoder, ids, mask).mean(dim=0), dim=-1))
    weight = SIMILARITY_SCALE * torch.stack(prototypes)
    return list(examples), SentenceClassifier(encoder.eval(), weight, torch.zeros(len(examples))).eval()
