"""Hugging Face's `pipeline("zero-shot-classification")` on the checkpoint a zero-shot pipeline was converted
from: what the tests hold the served pipeline to. It truncates at the pipeline's maximum length, as the
served tokenizer does, and answers each candidate's score in the order the labels were given."""

from pathlib import Path

import numpy as np
import transformers

from conversion.repository import Repository
from conversion.served import zero_shot_pipeline_values


class ZeroShotReference:
    def __init__(self, checkpoint: str, max_length: int, hypothesis_template: str):
        tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
        tokenizer.model_max_length = max_length
        model = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
        self.model, self.tokenizer = model, tokenizer
        self.pipeline = transformers.pipeline("zero-shot-classification", model=model, tokenizer=tokenizer, device=-1)
        self.template = hypothesis_template

    @classmethod
    def from_repository(cls, repository: Path, pipeline: str) -> "ZeroShotReference":
        manifest = Repository(repository).pipeline(pipeline).manifest()
        return cls(manifest.source, manifest.max_length, manifest.zero_shot["hypothesis_template"])

    def probs(self, texts: list[str], labels: list[str], multi_label: bool = False) -> np.ndarray:
        """[n, K]: each text's score for each label, in the order of `labels`."""
        return zero_shot_pipeline_values(self.pipeline, texts, labels, multi_label, self.template)

    def logits(self, text: str, labels: list[str]) -> np.ndarray:
        """The model's logits for each (text, hypothesis) pair, tokenized as the pipeline tokenizes them (for
        texts the pipeline itself refuses, such as the empty one)."""
        pairs = [[text, self.template.format(label)] for label in labels]
        encoded = self.tokenizer(pairs, padding=True, truncation="only_first", return_tensors="pt")
        return self.model(**encoded).logits.detach().numpy()
