"""A tiny randomly initialised RoBERTa classifier with a byte-level BPE tokenizer trained on shipped text.

It covers the RoBERTa path (padding index 1, <s>/</s>, position ids after the padding index) in seconds.
"""

from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from tokenizers.processors import RobertaProcessing
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

CORPUS = Path(__file__).resolve().parent / "data" / "corpus.txt"
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in RoBERTa
MAX_LENGTH = 64
LABELS = ["negative", "neutral", "positive"]


def build(folder: Path) -> Path:
    """Save the tokenizer and model into `folder` as a Hugging Face checkpoint; returns the folder."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS.read_text(encoding="utf-8").splitlines(), vocab_size=600, special_tokens=SPECIAL_TOKENS)
    bpe._tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=MAX_LENGTH,
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        # Large initial weights so that logits differ clearly from text to text.
        initializer_range=0.5,
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
    )
    model = RobertaForSequenceClassification(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
