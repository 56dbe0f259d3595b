"""In-process eager PyTorch with the Hugging Face tokenizer: what the served pipeline must reproduce."""

from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from conversion import export, zero_shot


class EagerReference:
    def __init__(self, tokenizer, forward, labels: list[str], max_length: int):
        self.tokenizer = tokenizer
        self.forward = forward  # (input_ids, attention_mask) → logits
        self.labels = labels
        self.max_length = max_length

    @classmethod
    def sequence_classifier(cls, folder: Path, max_length: int) -> "EagerReference":
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]

        def forward(input_ids, attention_mask):
            return model(input_ids=input_ids, attention_mask=attention_mask).logits

        return cls(tokenizer, forward, labels, max_length)

    @classmethod
    def prototype_classifier(cls, folder: Path, prototypes: Path) -> "EagerReference":
        tokenizer = AutoTokenizer.from_pretrained(folder)
        encoder = AutoModel.from_pretrained(folder).eval()
        max_length = tokenizer.model_max_length
        labels, head = zero_shot.build(
            encoder, export.serving_tokenizer(tokenizer, max_length), zero_shot.load_examples(prototypes)
        )
        return cls(tokenizer, head, labels, max_length)

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]

    def logits(self, texts: list[str]) -> np.ndarray:
        """One text at a time, unpadded, so the reference depends on nothing the server batches."""
        rows = []
        with torch.no_grad():
            for text in texts:
                ids = torch.tensor([self.token_ids(text)])
                rows.append(self.forward(ids, torch.ones_like(ids))[0].numpy())
        return np.stack(rows)

    def probs(self, texts: list[str]) -> np.ndarray:
        return torch.from_numpy(self.logits(texts)).softmax(dim=-1).numpy()
