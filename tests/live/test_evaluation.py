"""The evaluator against a live server: scores, agreement with eager PyTorch, one-line errors, a server of its own."""

import json
import socket

import pytest

import evaluation.__main__ as evaluation_cli
from conversion.repository import Repository
from tests.support import write
from tests.texts import PARITY_TEXTS

def labelled_file(served, path, wrong: int):
    """PARITY_TEXTS labelled with the eager model's own labels, except `wrong` of them; and a rejected text."""
    labels = Repository(served.server.repository).labels()
    eager = served.reference.logits(PARITY_TEXTS).argmax(axis=1)
    rows = []
    for index, (text, label) in enumerate(zip(PARITY_TEXTS, eager)):
        label = (label + 1) % len(labels) if index < wrong else label
        rows.append({"text": text, "label": labels[label]})
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    lines.insert(3, '{"text": "broken \\ud800 surrogate", "label": "%s"}' % labels[0])  # not valid UTF-8 once encoded
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def grpc_url(served) -> str:
    return f"127.0.0.1:{served.server.endpoints.grpc_port}"


def test_scores_the_served_model_and_agrees_with_eager(served, tmp_path, capsys):
    path = labelled_file(served, tmp_path / "texts.jsonl", wrong=5)
    argv = [str(path), "--url", grpc_url(served), "--model-repository", str(served.server.repository), "--output", str(tmp_path / "out")]
    assert evaluation_cli.main([*argv, "--min-accuracy", "0.7"]) == 0
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    count = len(PARITY_TEXTS)
    assert result["scores"]["count"] == count
    assert result["scores"]["accuracy"] == pytest.approx((count - 5) / count)
    assert list(result["rejected"]) == ["3"] and "not valid UTF-8" in result["rejected"]["3"]
    assert result["agreement"]["count"] == count and result["agreement"]["same_label"] == count
    assert result["agreement"]["max_abs_difference"] <= 1e-4
    assert sum(map(sum, result["scores"]["confusion"])) == count
    for name in ("report.md", "confusion.png", "reliability.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    capsys.readouterr()
    assert evaluation_cli.main([*argv, "--no-eager", "--min-accuracy", "0.9"]) == 1
    assert "threshold missed: accuracy 0.783 < 0.9" in capsys.readouterr().err


def test_a_down_server_and_a_bad_file_exit_2_with_one_line(served, tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    path = labelled_file(served, tmp_path / "texts.jsonl", wrong=0)
    repository = ["--model-repository", str(served.server.repository), "--output", str(tmp_path / "out")]
    assert evaluation_cli.main([str(path), "--url", f"127.0.0.1:{closed_port}", *repository]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("evaluation: cannot reach the Triton server") and "\n" not in error
    bad = write(tmp_path / "bad.csv", "text,label\nfine,glorious\n")
    assert evaluation_cli.main([str(bad), "--url", grpc_url(served), *repository]) == 2
    assert "label 'glorious' is not one of the model's labels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "no report for a run that could not score"


def test_starts_its_own_server_when_no_url_is_given(tiny_roberta_repository, tmp_path):
    labels = Repository(tiny_roberta_repository).labels()
    path = write(tmp_path / "few.csv", "text,label\n" + "".join(f"text number {i},{labels[i % len(labels)]}\n" for i in range(6)))
    output = tmp_path / "out"
    assert evaluation_cli.main([str(path), "--model-repository", str(tiny_roberta_repository), "--output", str(output), "--protocol", "http"]) == 0
    result = json.loads((output / "results.json").read_text())
    assert result["scores"]["count"] == 6 and result["agreement"]["same_label"] == 6
