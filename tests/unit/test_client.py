"""The client CLI's reading of texts and pairs, without a server: usage errors exit 2 before any connection."""

import io
import sys

import pytest

from clients import __main__ as cli

# Nothing listens here; a test that reached the network would fail with "cannot reach" and exit 1.
NOWHERE = ["--url", "127.0.0.1:9"]


def read(argv: list[str], monkeypatch, stdin: bytes = b"") -> list:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    return cli.read_texts(cli.parse_args(argv))


def test_texts_are_read_as_given_in_order(monkeypatch, tmp_path):
    (tmp_path / "texts.txt").write_bytes(b"from a file\n")
    argv = ["first", "-", "last", "--file", str(tmp_path / "texts.txt")]
    assert read(argv, monkeypatch, stdin=b"line 1\nline \xff2\n") == [b"first", b"line 1", b"line \xff2", b"last", b"from a file"]


def test_pairs_alternate_in_arguments_and_are_tab_separated_in_lines(monkeypatch, tmp_path):
    (tmp_path / "pairs.tsv").write_bytes(b"file text\tfile pair\twith a tab\n\tan empty text's pair\n")
    argv = ["--pairs", "text 1", "pair 1", "-", "text 2", "", "--file", str(tmp_path / "pairs.tsv")]
    assert read(argv, monkeypatch, stdin=b"stdin text\tstdin pair\n") == [
        (b"text 1", b"pair 1"),
        (b"stdin text", b"stdin pair"),
        (b"text 2", b""),
        (b"file text", b"file pair\twith a tab"),  # the first tab separates
        (b"", b"an empty text's pair"),
    ]


@pytest.mark.parametrize(
    "argv, stdin, message",
    [
        (["--pairs", "a", "b", "c"], b"", "error: the text 'c' has no pair: with --pairs, arguments alternate TEXT and PAIR"),
        (["--pairs", "a", "-", "b"], b"x\ty\n", "error: '-' comes between the text 'a' and its pair"),
        (["--pairs", "-"], b"one\ttwo\nno tab here\n", "error: stdin:2: no tab between the text and its pair (--pairs reads TEXT<TAB>PAIR lines)"),
        ([], b"", "nothing to classify: give texts, --file F, or - for stdin"),
        (["--pairs", "-"], b"", "nothing to classify: give texts, --file F, or - for stdin"),
    ],
)
def test_unreadable_pairs_are_a_usage_error_in_one_line(monkeypatch, capsys, argv, stdin, message):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert cli.main([*NOWHERE, *argv]) == 2
    assert capsys.readouterr().err == message + "\n"
