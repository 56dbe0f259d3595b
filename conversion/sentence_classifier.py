"""A classifier over a sentence encoder: mean-pooled, normalised embedding → linear label head.

The zero-shot head (label prototypes) and the trained default (an adapted encoder with a learned
head) are both this module with different weights.
"""

import torch
import torch.nn.functional as F


def embed(encoder: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The normalised mean of the token embeddings the attention mask covers."""
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled, dim=-1)


class SentenceClassifier(torch.nn.Module):
    """logits = embedding · weightᵀ + bias, with weight [labels, hidden] and bias [labels]."""

    def __init__(self, encoder: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return embed(self.encoder, input_ids, attention_mask) @ self.weight.T + self.bias
