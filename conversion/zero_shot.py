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

DEFAULT_PROTOTYPES = Path(__file__).resolve().parent / "prototypes" / "sentiment.json"
SIMILARITY_SCALE = 20.0


class PrototypeClassifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, prototypes: torch.Tensor, scale: float = SIMILARITY_SCALE):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("prototypes", prototypes)
        self.scale = scale

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.scale * self.embed(input_ids, attention_mask) @ self.prototypes.T


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


def build(encoder: torch.nn.Module, tokenizer, examples: dict[str, list[str]]) -> tuple[list[str], PrototypeClassifier]:
    """Label names and the classifier whose prototypes come from the examples."""
    head = PrototypeClassifier(encoder, torch.zeros(len(examples), encoder.config.hidden_size))
    prototypes = []
    with torch.no_grad():
        for sentences in examples.values():
            ids, mask = encode(tokenizer, sentences)
            prototypes.append(F.normalize(head.embed(ids, mask).mean(dim=0), dim=-1))
    head.prototypes.copy_(torch.stack(prototypes))
    return list(examples), head.eval()
