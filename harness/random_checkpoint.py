"""Randomly initialised RoBERTa sequence classifiers with a byte-level BPE tokenizer trained on given text.

For tests and benchmarks that need a real RoBERTa checkpoint (padding index 1, <s>/</s>, position ids
after the padding index) without downloading one.
"""

from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from tokenizers.processors import RobertaProcessing
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in RoBERTa

# The architecture of cardiffnlp/twitter-roberta-base-sentiment (roberta-base, 125M parameters).
ROBERTA_BASE = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_length": 512,
    "initializer_range": 0.02,
}
# Seconds to build and run; large initial weights so that logits differ clearly from text to text.
TINY = {
    "vocab_size": 600,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_length": 64,
    "initializer_range": 0.5,
}


def build(folder: Path, texts: list[str], size: dict, labels: list[str]) -> Path:
    """Save a tokenizer trained on `texts` and a random classifier of `size` into `folder`."""
    size = dict(size)
    max_length, vocab_size = size.pop("max_length"), size.pop("vocab_size")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=min(vocab_size, 600), special_tokens=SPECIAL_TOKENS)
    bpe._tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=max_length,
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=vocab_size,  # the model's embedding size; the trained tokenizer uses the first ids only
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
        **size,
    )
    model = RobertaForSequenceClassification(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
