"""Raw UTF-8 text → token ids and attention masks, for many requests at once.

Plain functions with no Triton import, so unit tests call them directly.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class InvalidText(ValueError):
    """A request's text cannot be tokenized; the message is safe to send to the client."""


def decode_texts(raw: np.ndarray) -> list[str]:
    """A TEXT tensor of UTF-8 bytes, shape [n, 1] → n strings. Raises InvalidText naming the bad item."""
    texts = []
    for index, item in enumerate(raw.reshape(-1)):
        try:
            texts.append(item.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidText(
                f"TEXT[{index}] is not valid UTF-8: {error.reason} at byte {error.start}"
            ) from None
    return texts


def text_limit(tokenizer: Tokenizer, max_length: int) -> int:
    """Characters that hold more than `max_length` tokens of any text but a pathological one.

    The tokenizer works through a whole text before truncating it: a 1 MB text would hold the
    tokenizer instance for about half a second. No token spans more characters than the longest
    vocabulary entry, so a text cut to (max_length + 2) x that length keeps its first max_length
    tokens; only runs of characters the tokenizer drops (long whitespace or control runs) break this.
    """
    longest_token = max(len(token) for token in tokenizer.get_vocab())
    return (max_length + 2) * longest_token


@dataclass
class TextEncoder:
    """A fast tokenizer that pads every text to the model's maximum length.

    Triton batches only requests of the same shape, so one shape for every request lets the
    classifier's dynamic batcher join everything queued; the classifier's TorchScript module
    groups rows by length and trims the padding per group (conversion/length_grouping.py).
    """

    tokenizer: Tokenizer  # truncation set, padding off
    pad_id: int
    max_length: int
    max_chars: int  # longer texts are cut first: see text_limit

    @classmethod
    def load(cls, path: Path) -> "TextEncoder":
        """Load a tokenizer.json that has truncation and padding set (conversion writes it that way)."""
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: build the repository with `python -m conversion`")
        tokenizer = Tokenizer.from_file(str(path))
        if tokenizer.truncation is None or tokenizer.padding is None:
            raise ValueError(f"{path} sets no truncation or padding: rebuild it with `python -m conversion`")
        pad_id, max_length = tokenizer.padding["pad_id"], tokenizer.truncation["max_length"]
        tokenizer.no_padding()
        return cls(tokenizer, pad_id, max_length, text_limit(tokenizer, max_length))

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Texts → their token ids, truncated to the maximum length, unpadded."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch([text[: self.max_chars] for text in texts])]

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Texts → input_ids and attention_mask, int64 [n, maximum length], right-padded."""
        return pad(self.token_ids(texts), self.pad_id, self.max_length)

    def tokenize_requests(self, requests: list[np.ndarray]) -> list:
        """Tokenize the TEXT tensors of many requests in one call.

        Returns one entry per request: (input_ids, attention_mask), each int64 [n, length], or the
        InvalidText that request alone fails with. Every request has the same padded length.
        """
        results: list = []
        texts: list[str] = []
        for raw in requests:
            try:
                decoded = decode_texts(raw)
            except InvalidText as error:
                results.append(error)
                continue
            results.append(len(decoded))
            texts.extend(decoded)

        ids, mask = self.encode(texts) if texts else (None, None)
        start = 0
        for index, result in enumerate(results):
            if isinstance(result, int):
                results[index] = (ids[start : start + result], mask[start : start + result])
                start += result
        return results


def pad(rows: list[list[int]], pad_id: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows → input_ids and attention_mask, int64 [len(rows), length], right-padded."""
    ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask
