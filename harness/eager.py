"""The eager PyTorch classifier a repository was converted from, with the Hugging Face tokenizer,
loaded the way conversion loads it (conversion.convert.build_head).

Rebuilt from the repository's manifest; tests and the evaluator compare the server against it and
the benchmark's FastAPI peer serves it.
"""

from pathlib import Path

import numpy as np
import torch

from conversion.convert import ConversionOptions, build_head
from conversion.repository import DEFAULT_PIPELINE, Repository
from harness.model_code import postprocessing


class EagerClassifier:
    def __init__(self, tokenizer, forward, labels: list[str], max_length: int, function: str = "softmax"):
        self.tokenizer = tokenizer  # the Hugging Face tokenizer
        self.forward = forward  # (input_ids, attention_mask) → logits
        self.labels = labels
        self.max_length = max_length
        self.function = function  # softmax, sigmoid or none: the served values' (postprocessing.apply)

    @classmethod
    def from_options(cls, options: ConversionOptions, function: str = "softmax") -> "EagerClassifier":
        """The head conversion builds from `options`, unquantised."""
        head = build_head(options)
        return cls(head.tokenizer, head.module, head.labels, head.max_length, function)

    @classmethod
    def prototype_classifier(cls, folder: Path | str, prototypes: Path, max_length: int) -> "EagerClassifier":
        """A sentence encoder under label prototypes, with no converted repository behind it."""
        return cls.from_options(ConversionOptions(str(folder), prototypes=prototypes, max_length=max_length))

    @classmethod
    def from_repository(cls, repository: Path, pipeline: str = DEFAULT_PIPELINE) -> "EagerClassifier":
        """The model recorded in a pipeline's manifest, with the labels and function conversion wrote."""
        manifest = Repository(repository).pipeline(pipeline).manifest()
        eager = cls.from_options(ConversionOptions.from_manifest(manifest, repository, name=pipeline), manifest.function)
        eager.labels = manifest.labels
        return eager

    def encoded(self, item: str | tuple[str, str]) -> dict:
        """A text, or a (text, pair) tuple, through the Hugging Face tokenizer, truncated as conversion set it."""
        text, pair = item if isinstance(item, tuple) else (item, None)
        return self.tokenizer(text, pair, truncation=True, max_length=self.max_length)

    def token_ids(self, item: str | tuple[str, str]) -> list[int]:
        return self.encoded(item)["input_ids"]

    def logits(self, items: list[str | tuple[str, str]]) -> np.ndarray:
        """One text (or pair) at a time, unpadded, so the result depends on nothing a server batches."""
        rows = []
        with torch.no_grad():
            for item in items:
                encoded = self.encoded(item)
                ids = torch.tensor([encoded["input_ids"]])
                inputs = [ids, torch.ones_like(ids)]
                if isinstance(item, tuple) and "token_type_ids" in encoded:
                    inputs.append(torch.tensor([encoded["token_type_ids"]]))
                rows.append(self.forward(*inputs)[0].numpy())
        return np.stack(rows)

    def probs(self, items: list[str | tuple[str, str]]) -> np.ndarray:
        """Each label's value as the pipeline serves it (PROBS)."""
        return postprocessing.apply(self.function, self.logits(items))
