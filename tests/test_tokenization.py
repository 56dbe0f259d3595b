"""Unit tests of the tokenizer model's logic, without Triton."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from conversion.export import serving_tokenizer
from tests import tiny_roberta
from tests.texts import LONG_TEXT, MEGABYTE_TEXT, PARITY_TEXTS
from tokenization import InvalidText, TextEncoder, decode_texts, parse_buckets


@pytest.fixture(scope="module")
def tokenizer_file(tiny_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    serving_tokenizer(AutoTokenizer.from_pretrained(tiny_checkpoint), tiny_roberta.MAX_LENGTH).save(str(path))
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_file):
    return TextEncoder.load(tokenizer_file)


@pytest.fixture(scope="module")
def bucketed(tokenizer_file):
    return TextEncoder.load(tokenizer_file, "16,32,128")


def tokenize_requests(encoder, requests):
    return encoder.tokenize_requests(requests)


def texts(*items: bytes) -> np.ndarray:
    return np.array(items, dtype=object).reshape(-1, 1)


def test_decode_texts_reads_utf8():
    assert decode_texts(texts("héllo 👋".encode(), b"", "日本".encode())) == ["héllo 👋", "", "日本"]


def test_decode_texts_names_the_invalid_item():
    with pytest.raises(InvalidText, match=r"TEXT\[1\] is not valid UTF-8: invalid continuation byte at byte 0"):
        decode_texts(texts(b"ok", b"\xc3\x28"))


def test_requests_share_one_padded_length_and_keep_their_sizes(tokenizer):
    results = tokenize_requests(tokenizer, [texts(b"hi"), texts(b"a much longer text than the first", b"")])
    (ids_a, mask_a), (ids_b, mask_b) = results
    assert ids_a.shape[0] == 1 and ids_b.shape[0] == 2
    assert ids_a.shape[1] == ids_b.shape[1] == mask_b.shape[1]
    assert ids_a.dtype == mask_a.dtype == np.int64
    used = int(mask_a[0].sum())
    assert ids_a[0, 0] == 0 and ids_a[0, used - 1] == 2  # <s> … </s>
    assert ids_a[0, used:].tolist() == [1] * (ids_a.shape[1] - used)  # RoBERTa's padding id
    assert mask_a[0, used:].sum() == 0


def test_empty_text_is_valid(tokenizer):
    [(ids, mask)] = tokenize_requests(tokenizer, [texts(b"")])
    assert ids.tolist() == [[0, 2]] and mask.tolist() == [[1, 1]]


def test_long_text_is_truncated(tokenizer):
    [(ids, mask)] = tokenize_requests(tokenizer, [texts(LONG_TEXT.encode())])
    assert ids.shape == (1, tiny_roberta.MAX_LENGTH)
    assert ids[0, 0] == 0 and ids[0, -1] == 2 and mask.all()


def test_invalid_request_fails_alone(tokenizer):
    reference = tokenize_requests(tokenizer, [texts(b"first"), texts(b"third one")])
    results = tokenize_requests(tokenizer, [texts(b"first"), texts(b"bad \xff"), texts(b"third one")])
    assert isinstance(results[1], InvalidText)
    for expected, got in zip(reference, [results[0], results[2]]):
        np.testing.assert_array_equal(expected[0], got[0])
        np.testing.assert_array_equal(expected[1], got[1])


def test_all_requests_invalid(tokenizer):
    results = tokenize_requests(tokenizer, [texts(b"\xff"), texts(b"\xfe")])
    assert all(isinstance(result, InvalidText) for result in results)


def test_matches_the_hugging_face_tokenizer(tokenizer, tiny_checkpoint):
    hf = AutoTokenizer.from_pretrained(tiny_checkpoint)
    for text in ["", "I love this!", "今日はとても良い天気ですね。", "👍🎉", LONG_TEXT]:
        [(ids, mask)] = tokenize_requests(tokenizer, [texts(text.encode())])
        assert ids[0].tolist() == hf(text, truncation=True, max_length=tiny_roberta.MAX_LENGTH)["input_ids"]


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json is missing.*python -m conversion"):
        TextEncoder.load(tmp_path / "tokenizer.json")


def test_load_refuses_a_file_without_truncation(tiny_checkpoint, tmp_path):
    path = tmp_path / "tokenizer.json"
    AutoTokenizer.from_pretrained(tiny_checkpoint).backend_tokenizer.save(str(path))
    with pytest.raises(ValueError, match="sets no truncation or padding"):
        TextEncoder.load(path)


def test_buckets_are_capped_at_the_maximum_length():
    assert parse_buckets("128, 16,32,16", max_length=64) == [16, 32, 64]
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_buckets("16,abc", 64)
    with pytest.raises(ValueError, match="positive"):
        parse_buckets("0,16", 64)


def test_batches_are_padded_to_the_smallest_bucket_that_fits(bucketed):
    assert bucketed.buckets == [16, 32, tiny_roberta.MAX_LENGTH]
    [(short, _)] = bucketed.tokenize_requests([texts(b"hi")])
    [(medium, mask)] = bucketed.tokenize_requests([texts(b"hi", b" ".join([b"word"] * 8))])
    [(long, _)] = bucketed.tokenize_requests([texts(LONG_TEXT.encode())])
    assert (short.shape[1], medium.shape[1], long.shape[1]) == (16, 32, 64)
    assert mask[0].sum() < 16 and mask[1].sum() > 16


def test_bucketed_padding_keeps_the_tokens(tokenizer, bucketed):
    batch = texts(b"", b"I love this!", "今日は".encode())
    [(plain_ids, plain_mask)] = tokenizer.tokenize_requests([batch])
    [(ids, mask)] = bucketed.tokenize_requests([batch])
    width = plain_ids.shape[1]
    np.testing.assert_array_equal(ids[:, :width], plain_ids)
    np.testing.assert_array_equal(mask[:, :width], plain_mask)
    assert mask[:, width:].sum() == 0 and (ids[:, width:] == 1).all()


def test_texts_are_cut_before_tokenizing_without_changing_their_tokens(tokenizer):
    assert tokenizer.max_chars < len(MEGABYTE_TEXT) // 100
    many_spaces = "word " * 50 + " " * 10 + "end"
    for text in [*PARITY_TEXTS, MEGABYTE_TEXT, many_spaces, "x" * 10_000]:
        ids, mask = tokenizer.encode([text])
        assert ids[0].tolist() == tokenizer.tokenizer.encode(text).ids
