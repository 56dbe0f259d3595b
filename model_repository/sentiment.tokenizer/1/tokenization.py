"""Raw UTF-8 text (and, for pair pipelines, a second text) → token ids, attention masks and token
type ids, for many requests at once.

Plain functions with no Triton import, so unit tests call them directly.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class InvalidText(ValueError):
    """A request's text cannot be tokenized; the message is safe to send to the client."""


def decode_texts(raw: np.ndarray, name: str = "TEXT") -> list[str]:
    """A BYTES tensor of UTF-8, shape [n, 1] → n strings. Raises InvalidText naming the bad item."""
    texts = []
    for index, item in enumerate(raw.reshape(-1)):
        try:
            texts.append(item.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidText(f"{name}[{index}] is not valid UTF-8: {error.reason} at byte {error.start}") from None
    return texts


def decode_request(text: np.ndarray, pair: np.ndarray | None) -> list[str | tuple[str, str]]:
    """One request's TEXT (and TEXT_PAIR, when sent) → its texts, or (text, pair) tuples."""
    texts = decode_texts(text)
    if pair is None:
        return texts
    pairs = decode_texts(pair, "TEXT_PAIR")
    if len(pairs) != len(texts):
        raise InvalidText(f"TEXT_PAIR holds {len(pairs)} texts but TEXT holds {len(texts)}: send one pair per text")
    return list(zip(texts, pairs))


def text_limit(tokenizer: Tokenizer, max_length: int) -> int:
    """Characters that hold more than `max_length` tokens of any text but a pathological one.

    The tokenizer works through a whole text before truncating it: a 1 MB text would hold the
    tokenizer instance for about half a second. No token spans more characters than the longest
    vocabulary entry, so a text cut to (max_length + 2) x that length keeps its first max_length
    tokens; only runs of characters the tokenizer drops (long whitespace or control runs) break this.
    Truncation of a pair depends only on each side's first max_length tokens, so each side is cut alike.
    """
    longest_token = max(len(token) for token in tokenizer.get_vocab())
    return (max_length + 2) * longest_token


@dataclass
class TextEncoder:
    """A fast tokenizer that pads the texts (or pairs) of each request to that request's longest: the
    classifier takes a ragged batch, so requests of any width batch together, and its module trims
    the padding per group of similar length (conversion/length_grouping.py says why).
    Pairs are encoded with the tokenizer's own pair template and truncated longest side first,
    as Hugging Face's tokenizers do by default.
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
        return cls.from_tokenizer(tokenizer)

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> "TextEncoder":
        """From a tokenizer with truncation and padding set (a copy: the given one is not changed)."""
        pad_id, max_length = tokenizer.padding["pad_id"], tokenizer.truncation["max_length"]
        unpadded = Tokenizer.from_str(tokenizer.to_str())
        unpadded.no_padding()
        return cls(unpadded, pad_id, max_length, text_limit(unpadded, max_length))

    def _prepared(self, item: str | tuple[str, str]) -> str | tuple[str, str]:
        """Cut to max_chars; a pair whose second text is empty is a single text, as Hugging Face's
        tokenizers take `text_pair=""`."""
        if isinstance(item, tuple) and item[1]:
            return item[0][: self.max_chars], item[1][: self.max_chars]
        return (item[0] if isinstance(item, tuple) else item)[: self.max_chars]

    def encodings(self, items: list[str | tuple[str, str]]) -> list:
        """Texts or (text, pair) tuples → their encodings, truncated to the maximum length, unpadded.
        Without character offsets, which nothing here reads: a fifth faster on tweets."""
        return self.tokenizer.encode_batch_fast([self._prepared(item) for item in items])

    def token_ids(self, texts: list[str | tuple[str, str]]) -> list[list[int]]:
        """Texts or pairs → their token ids, truncated to the maximum length, unpadded."""
        return [encoding.ids for encoding in self.encodings(texts)]

    def encode(self, items: list[str | tuple[str, str]], token_types: bool = False) -> tuple[np.ndarray, ...]:
        """Texts or pairs → input_ids, attention_mask (and token_type_ids), int64 [n, longest], right-padded."""
        return self._padded(self.encodings(items), token_types)

    def _padded(self, encodings: list, token_types: bool) -> tuple[np.ndarray, ...]:
        # At least one column: a text a tokenizer without special tokens turns into no tokens still has a row.
        longest = max([1, *(len(encoding.ids) for encoding in encodings)])
        ids, mask = pad([encoding.ids for encoding in encodings], self.pad_id, longest)
        if not token_types:
            return ids, mask
        types, _ = pad([encoding.type_ids for encoding in encodings], 0, longest)
        return ids, mask, types

    def tokenize_requests(
        self, requests: list[tuple[np.ndarray, np.ndarray | None]], token_types: bool = False
    ) -> list:
        """Tokenize the TEXT (and TEXT_PAIR) tensors of many requests in one call.

        Returns one entry per request: a tuple of int64 [n, longest of the request] arrays (input_ids,
        attention_mask and, with `token_types`, token_type_ids), or the InvalidText that request
        alone fails with.
        """
        return self.encode_requests([_decoded(decode_request, text, pair) for text, pair in requests], token_types)

    def encode_requests(self, requests: list, token_types: bool = False) -> list:
        """Each request's texts or pairs, already decoded (or the InvalidText it fails with) → its arrays,
        padded to the request's longest row, or its InvalidText. One encoding and padding pass for all."""
        items = [item for request in requests if not isinstance(request, InvalidText) for item in request]
        arrays = self._padded(self.encodings(items), token_types) if items else ()
        widths = arrays[1].sum(axis=1) if items else ()  # right-padded: each row's length
        results, start = [], 0
        for request in requests:
            if isinstance(request, InvalidText):
                results.append(request)
                continue
            rows = slice(start, start + len(request))
            width = max(1, int(widths[rows].max(initial=0)))
            results.append(tuple(np.ascontiguousarray(array[rows, :width]) for array in arrays))
            start += len(request)
        return results


def _decoded(decode, *tensors):
    """decode(*tensors), or the InvalidText it raised: a request that fails fails alone."""
    try:
        return decode(*tensors)
    except InvalidText as error:
        return error


def pad(rows: list[list[int]], pad_id: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows → ids and attention_mask, int64 [len(rows), length], right-padded."""
    ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return ids, mask


# Zero-shot pipelines: each text is paired with a hypothesis per candidate label the request names
# ("This example is {}."), and the NLI classifier scores every pair. The text is truncated, not the
# hypothesis, as Hugging Face's zero-shot pipeline does (the tokenizer.json conversion writes truncates
# only the first text of a pair).

MAX_CANDIDATE_LABELS = 32  # per text: a request of 64 texts then makes at most 2,048 pairs


@dataclass
class ZeroShotEncoder:
    """A TextEncoder that makes the (text, hypothesis) pairs of each request's texts and candidate labels."""

    encoder: TextEncoder
    hypothesis_template: str  # holds "{}" where the label goes
    hypothesis_tokens: dict[str, int] = field(default_factory=dict)  # label → its hypothesis's tokens, as met

    @property
    def max_length(self) -> int:
        return self.encoder.max_length

    @property
    def max_hypothesis_tokens(self) -> int:
        """Half the maximum length: the text keeps at least the other half, so it can always be truncated."""
        return self.max_length // 2

    def pairs(self, text: np.ndarray, labels: np.ndarray) -> list[tuple[str, str]]:
        """One request's TEXT [n, 1] and LABELS [n, K] → its n × K (text, hypothesis) pairs, text by text.
        Raises InvalidText for labels that cannot be classified against."""
        texts = decode_texts(text)
        candidates = decode_labels(labels, len(texts))
        hypotheses = [[self.hypothesis_template.format(label) for label in row] for row in candidates]
        self._check_lengths(candidates, hypotheses)
        return [(text, hypothesis) for text, row in zip(texts, hypotheses) for hypothesis in row]

    def _check_lengths(self, candidates: list[list[str]], hypotheses: list[list[str]]) -> None:
        unseen = {label: hypothesis for labels, row in zip(candidates, hypotheses) for label, hypothesis in zip(labels, row)
                  if label not in self.hypothesis_tokens}  # fmt: skip
        if unseen:
            if len(self.hypothesis_tokens) > 100_000:  # bounded: labels are few, but clients choose them
                self.hypothesis_tokens.clear()
            encodings = self.encoder.tokenizer.encode_batch_fast(list(unseen.values()), add_special_tokens=False)
            self.hypothesis_tokens.update(zip(unseen, (len(encoding.ids) for encoding in encodings)))
        for index, labels in enumerate(candidates):
            for position, label in enumerate(labels):
                if self.hypothesis_tokens[label] > self.max_hypothesis_tokens:
                    raise InvalidText(
                        f"LABELS[{index}][{position}] is too long: its hypothesis takes {self.hypothesis_tokens[label]} "
                        f"tokens, at most {self.max_hypothesis_tokens} (half the model's maximum length)"
                    )

    def tokenize_requests(self, requests: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], token_types: bool = False) -> list:
        """The TEXT, LABELS and MULTI_LABEL (or None) tensors of many requests → per request its token arrays of
        n × K rows (text by text, each text's candidates in order) followed by what the postprocess needs of each
        pair (pair_tensors), or the InvalidText the request alone fails with."""
        encoded = self.encoder.encode_requests([_decoded(self.pairs, text, labels) for text, labels, _ in requests], token_types)
        return [
            result if isinstance(result, InvalidText) else (*result, *pair_tensors(labels, multi_label))
            for (_, labels, multi_label), result in zip(requests, encoded)
        ]


def pair_tensors(labels: np.ndarray, multi_label: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of each (text, hypothesis) pair of a request with LABELS [n, K], all [n × K, 1]: its candidate label (the
    bytes sent), the index of its text in the request, and its text's MULTI_LABEL (false when not sent). The
    postprocess regroups each text's K pairs with them."""
    texts, candidates = labels.shape
    flags = np.zeros(texts, dtype=np.bool_) if multi_label is None else multi_label.astype(np.bool_).reshape(texts)
    return (
        labels.reshape(-1, 1),
        np.repeat(np.arange(texts, dtype=np.int32), candidates).reshape(-1, 1),
        np.repeat(flags, candidates).reshape(-1, 1),
    )


def read_hypothesis_template(manifest: Path) -> str:
    """The hypothesis template of a zero-shot pipeline, from the classifier's conversion.json."""
    try:
        template = json.loads(manifest.read_text(encoding="utf-8"))["zero_shot"]["hypothesis_template"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{manifest} records no zero-shot hypothesis template: convert the model again with --zero-shot") from None
    return template


def decode_labels(raw: np.ndarray, texts: int) -> list[list[str]]:
    """A LABELS tensor of UTF-8, [n, K] → n lists of K candidate labels. Raises InvalidText naming the bad one."""
    if raw.ndim != 2 or raw.shape[0] != texts:
        raise InvalidText(f"LABELS must be [{texts}, K]: K candidate labels for each of the {texts} texts, got {list(raw.shape)}")
    if raw.shape[1] == 0:
        raise InvalidText("LABELS holds no candidate labels: send at least one per text")
    if raw.shape[1] > MAX_CANDIDATE_LABELS:
        raise InvalidText(f"LABELS holds {raw.shape[1]} candidate labels per text: at most {MAX_CANDIDATE_LABELS}")
    rows = [decode_texts(row, f"LABELS[{index}]") for index, row in enumerate(raw)]
    for index, labels in enumerate(rows):
        for position, label in enumerate(labels):
            if not label.strip():
                raise InvalidText(f"LABELS[{index}][{position}] is empty: every candidate label needs a name")
    return rows
