"""Unit tests of the tokenizer model's logic, without Triton."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from conversion.export import serving_tokenizer
from harness import tiny_roberta
from tests.texts import LONG_TEXT, MEGABYTE_TEXT, PARITY_TEXTS
from harness.model_code import tokenization


@pytest.fixture(scope="module")
def tokenizer_file(tiny_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    serving_tokenizer(AutoTokenizer.from_pretrained(tiny_checkpoint), tiny_roberta.MAX_LENGTH).save(str(path))
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_file):
    return tokenization.TextEncoder.load(tokenizer_file)


def tokenize_requests(encoder, requests, token_types=False):
    """Requests of TEXT only, or (TEXT, TEXT_PAIR) tuples."""
    return encoder.tokenize_requests([request if isinstance(request, tuple) else (request, None) for request in requests], token_types)


def texts(*items: bytes) -> np.ndarray:
    return np.array(items, dtype=object).reshape(-1, 1)


def test_decode_texts_reads_utf8():
    assert tokenization.decode_texts(texts("héllo 👋".encode(), b"", "日本".encode())) == ["héllo 👋", "", "日本"]


def test_decode_texts_names_the_invalid_item():
    with pytest.raises(tokenization.InvalidText, match=r"TEXT\[1\] is not valid UTF-8: invalid continuation byte at byte 0"):
        tokenization.decode_texts(texts(b"ok", b"\xc3\x28"))


def unpadded(ids: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    return [row[: int(used)].tolist() for row, used in zip(ids, mask.sum(axis=1))]


def test_every_request_is_padded_to_its_own_longest_text_and_keeps_its_size(tokenizer):
    results = tokenize_requests(tokenizer, [texts(b"hi"), texts(b"a much longer text than the first", b"")])
    (ids_a, mask_a), (ids_b, mask_b) = results
    assert ids_a.shape == mask_a.shape == (1, int(mask_a.sum())) and mask_a.all()  # one text: no padding at all
    assert ids_b.shape == mask_b.shape == (2, int(mask_b[0].sum()))
    assert ids_a.dtype == mask_a.dtype == np.int64
    used = int(mask_b[1].sum())
    assert ids_b[1, 0] == 0 and ids_b[1, used - 1] == 2  # <s> </s>
    assert ids_b[1, used:].tolist() == [1] * (ids_b.shape[1] - used)  # RoBERTa's padding id
    assert mask_b[1, used:].sum() == 0


def test_empty_text_is_valid(tokenizer):
    [(ids, mask)] = tokenize_requests(tokenizer, [texts(b"")])
    assert unpadded(ids, mask) == [[0, 2]] and mask.sum() == 2


def test_long_text_is_truncated(tokenizer):
    [(ids, mask)] = tokenize_requests(tokenizer, [texts(LONG_TEXT.encode())])
    assert ids.shape == (1, tiny_roberta.MAX_LENGTH)
    assert ids[0, 0] == 0 and ids[0, -1] == 2 and mask.all()


def test_invalid_request_fails_alone(tokenizer):
    reference = tokenize_requests(tokenizer, [texts(b"first"), texts(b"third one")])
    results = tokenize_requests(tokenizer, [texts(b"first"), texts(b"bad \xff"), texts(b"third one")])
    assert isinstance(results[1], tokenization.InvalidText)
    for expected, got in zip(reference, [results[0], results[2]]):
        np.testing.assert_array_equal(expected[0], got[0])
        np.testing.assert_array_equal(expected[1], got[1])


def test_all_requests_invalid(tokenizer):
    results = tokenize_requests(tokenizer, [texts(b"\xff"), texts(b"\xfe")])
    assert all(isinstance(result, tokenization.InvalidText) for result in results)


def test_matches_the_hugging_face_tokenizer(tokenizer, tiny_checkpoint):
    hf = AutoTokenizer.from_pretrained(tiny_checkpoint)
    for text in ["", "I love this!", "今日はとても良い天気ですね。", "👍🎉", LONG_TEXT]:
        [(ids, mask)] = tokenize_requests(tokenizer, [texts(text.encode())])
        assert unpadded(ids, mask) == [hf(text, truncation=True, max_length=tiny_roberta.MAX_LENGTH)["input_ids"]]


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json is missing.*python -m conversion"):
        tokenization.TextEncoder.load(tmp_path / "tokenizer.json")


def test_load_refuses_a_file_without_truncation(tiny_checkpoint, tmp_path):
    path = tmp_path / "tokenizer.json"
    AutoTokenizer.from_pretrained(tiny_checkpoint).backend_tokenizer.save(str(path))
    with pytest.raises(ValueError, match="sets no truncation or padding"):
        tokenization.TextEncoder.load(path)


def test_pad_right_pads_rows_to_a_length():
    ids, mask = tokenization.pad([[0, 5, 2], [0, 2]], pad_id=1, length=5)
    assert ids.tolist() == [[0, 5, 2, 1, 1], [0, 2, 1, 1, 1]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    assert ids.dtype == mask.dtype == np.int64


def test_texts_are_cut_before_tokenizing_without_changing_their_tokens(tokenizer):
    assert tokenizer.max_chars < len(MEGABYTE_TEXT) // 100
    many_spaces = "word " * 50 + " " * 10 + "end"
    for text in [*PARITY_TEXTS, MEGABYTE_TEXT, many_spaces, "x" * 10_000]:
        ids, mask = tokenizer.encode([text])
        assert unpadded(ids, mask) == [tokenizer.tokenizer.encode(text).ids]


@pytest.fixture(scope="module")
def pair_tokenizers(kind_checkpoints, tmp_path_factory) -> dict:
    """Per pair checkpoint (BERT with token types, RoBERTa): the Hugging Face tokenizer and the served encoder."""
    found = {}
    for kind in ("nli", "rerank"):
        hf = AutoTokenizer.from_pretrained(kind_checkpoints[kind])
        path = tmp_path_factory.mktemp(kind) / "tokenizer.json"
        serving_tokenizer(hf, tiny_roberta.MAX_LENGTH).save(str(path))
        found[kind] = (hf, tokenization.TextEncoder.load(path))
    return found


PAIRS = [("A man is eating.", "Someone eats."), ("", "only the second"), ("only the first", ""), (LONG_TEXT, "short"),
         ("short", LONG_TEXT), (LONG_TEXT, LONG_TEXT), ("日本語の文", "👍🎉")]  # fmt: skip


@pytest.mark.parametrize("kind", ["nli", "rerank"])
def test_pairs_match_the_hugging_face_tokenizer_template_truncation_and_token_types(pair_tokenizers, kind):
    hf, encoder = pair_tokenizers[kind]
    token_types = kind == "nli"
    requests = [(texts(a.encode()), texts(b.encode())) for a, b in PAIRS]
    for (a, b), arrays in zip(PAIRS, tokenize_requests(encoder, requests, token_types)):
        expected = hf(a, b, truncation=True, max_length=tiny_roberta.MAX_LENGTH)
        assert unpadded(arrays[0], arrays[1]) == [expected["input_ids"]], (a[:20], b[:20])
        if token_types:
            assert unpadded(arrays[2], arrays[1]) == [expected["token_type_ids"]]
            assert arrays[2][0, int(arrays[1].sum()) :].sum() == 0  # padding has type 0
        else:
            assert len(arrays) == 2


def test_a_request_without_pairs_beside_one_with_pairs_is_single_texts(pair_tokenizers):
    hf, encoder = pair_tokenizers["nli"]
    single, pair = tokenize_requests(encoder, [texts(b"a text"), (texts(b"a text"), texts(b"its pair"))], token_types=True)
    assert unpadded(single[0], single[1]) == [hf("a text")["input_ids"]] and single[2].sum() == 0
    assert unpadded(pair[0], pair[1]) == [hf("a text", "its pair")["input_ids"]] and pair[2].sum() > 0


def test_a_bad_pair_fails_its_request_alone(pair_tokenizers):
    _, encoder = pair_tokenizers["nli"]
    good = (texts(b"first", b"second"), texts(b"1", b"2"))
    results = tokenize_requests(encoder, [good, (texts(b"ok"), texts(b"\xc3\x28")), (texts(b"a", b"b"), texts(b"c")), good], True)
    assert str(results[1]) == "TEXT_PAIR[0] is not valid UTF-8: invalid continuation byte at byte 0"
    assert str(results[2]) == "TEXT_PAIR holds 1 texts but TEXT holds 2: send one pair per text"
    for array_a, array_b in zip(results[0], results[3]):
        np.testing.assert_array_equal(array_a, array_b)
