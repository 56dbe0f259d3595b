"""Raw UTF-8 text → token ids and attention masks, for many requests at once.

Plain functions with no Triton import, so unit tests call them directly.
"""

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class InvalidText(ValueError):
    """A request's text cannot be tokenized; the message is safe to send to the client."""


def load_tokenizer(path: Path) -> Tokenizer:
    """Load a tokenizer.json that has truncation and padding set (conversion writes it that way)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the repository with `python -m conversion`")
    tokenizer = Tokenizer.from_file(str(path))
    if tokenizer.truncation is None or tokenizer.padding is None:
        raise ValueError(f"{path} sets no truncation or padding: rebuild it with `python -m conversion`")
    return tokenizer


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


def tokenize_requests(tokenizer: Tokenizer, requests: list[np.ndarray]) -> list:
    """Tokenize the TEXT tensors of many requests in one call.

    Returns one entry per request: (input_ids, attention_mask), each int64 [n, length], or the
    InvalidText that request alone fails with. All requests share the padded length.
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

    encodings = tokenizer.encode_batch(texts) if texts else []
    ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
    mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)

    start = 0
    for index, result in enumerate(results):
        if isinstance(result, int):
            results[index] = (ids[start : start + result], mask[start : start + result])
            start += result
    return results
