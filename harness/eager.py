"""The eager PyTorch classifier a repository was converted from, with the Hugging Face tokenizer,
loaded the way conversion loads it (conversion/checkpoint.py).

Rebuilt from the repository's manifest; tests and the evaluator compare the server against it and
the benchmark's FastAPI peer serves it.
"""

from pathlib import Path

import numpy as np
import torch

from conversion import adapter, checkpoint, export, zero_shot
from conversion.repository import Repository


class EagerClassifier:
    def __init__(self, tokenizer, forward, labels: list[str], max_length: int):
        self.tokenizer = tokenizer  # the Hugging Face tokenizer
        self.forward = forward  # (input_ids, attention_mask) → logits
        self.labels = labels
        self.max_length = max_length

    @classmethod
    def sequence_classifier(cls, folder: Path | str, max_length: int) -> "EagerClassifier":
        tokenizer = checkpoint.load_tokenizer(str(folder))
        model = checkpoint.load_sequence_classifier(str(folder))
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        return cls(tokenizer, export.LogitsAdapter(model), labels, max_length)

    @classmethod
    def prototype_classifier(cls, folder: Path | str, prototypes: Path, max_length: int) -> "EagerClassifier":
        tokenizer = checkpoint.load_tokenizer(str(folder))
        encoder = checkpoint.load_encoder(str(folder))
        serving = export.serving_tokenizer(tokenizer, max_length)
        labels, head = zero_shot.build(encoder, serving, zero_shot.load_examples(prototypes))
        return cls(tokenizer, head, labels, max_length)

    @classmethod
    def adapted_classifier(cls, folder: Path | str, adapter_file: Path, max_length: int) -> "EagerClassifier":
        tokenizer = checkpoint.load_tokenizer(str(folder))
        labels, head = adapter.build(checkpoint.load_encoder(str(folder)), adapter_file)
        return cls(tokenizer, head, labels, max_length)

    @classmethod
    def from_repository(cls, repository: Path) -> "EagerClassifier":
        """The model recorded in the repository's manifest, with the labels conversion wrote."""
        manifest = Repository(repository).manifest()
        if manifest.adapter:
            eager = cls.adapted_classifier(manifest.source, Path(manifest.adapter), manifest.max_length)
        elif manifest.zero_shot_prototypes:
            eager = cls.prototype_classifier(manifest.source, Path(manifest.zero_shot_prototypes), manifest.max_length)
        else:
            eager = cls.sequence_classifier(manifest.source, manifest.max_length)
        eager.labels = manifest.labels
        return eager

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]

    def logits(self, texts: list[str]) -> np.ndarray:
        """One text at a time, unpadded, so the result depends on nothing a server batches."""
        rows = []
        with torch.no_grad():
            for text in texts:
                ids = torch.tensor([self.token_ids(text)])
                rows.append(self.forward(ids, torch.ones_like(ids))[0].numpy())
        return np.stack(rows)

    def probs(self, texts: list[str]) -> np.ndarray:
        return torch.from_numpy(self.logits(texts)).softmax(dim=-1).numpy()
