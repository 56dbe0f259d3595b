"""make perf's arguments and text files, read without a server: addresses, concurrencies, texts and pairs."""

import socket

import pytest

from benchmarks import perf, perf_analyzer


def test_a_bare_address_is_grpc_and_an_http_url_is_http():
    assert perf.endpoint("127.0.0.1:8001") == perf.Endpoint("127.0.0.1:8001", "grpc")
    assert perf.endpoint("http://10.0.0.5:8000") == perf.Endpoint("10.0.0.5:8000", "http")
    with pytest.raises(perf.UsageError, match="host:port"):
        perf.endpoint("https://10.0.0.5:8000")


def test_concurrencies_are_a_comma_separated_list_of_positive_numbers():
    assert perf.concurrencies("1,8,64") == [1, 8, 64]
    for spec in ("1,x", "1:64", "0,8"):
        with pytest.raises(perf.UsageError, match="--concurrency"):
            perf.concurrencies(spec)


def test_single_text_pipelines_take_each_nonblank_line_whole(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("I love this 😍\n\n  \ncolumns\tstay together\n", encoding="utf-8")
    assert perf.read_texts(path, takes_pairs=False) == (["I love this 😍", "columns\tstay together"], None)


def test_pair_pipelines_split_tab_separated_lines_at_the_first_tab(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("A man eats.\tSomeone eats.\nIt rains.\tThe street is wet\tand cold.\n", encoding="utf-8")
    assert perf.read_texts(path, takes_pairs=True) == (["A man eats.", "It rains."], ["Someone eats.", "The street is wet\tand cold."])
    path.write_text("no pairs here\nnor here\n")
    assert perf.read_texts(path, takes_pairs=True) == (["no pairs here", "nor here"], None)


def test_a_file_that_mixes_pairs_and_single_texts_is_refused_with_the_line(tmp_path):
    path = tmp_path / "mixed.tsv"
    path.write_text("a\tb\nc\td\nno tab\n")
    with pytest.raises(perf.UsageError, match="line 3 has no tab"):
        perf.read_texts(path, takes_pairs=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"caf\xe9\n", "is not UTF-8 text"), (b"\n \n", "holds no text"), (None, "cannot read")],
)
def test_unreadable_files_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "texts.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(perf.UsageError, match=message):
        perf.read_texts(path, takes_pairs=False)


def test_pairs_go_into_perf_analyzers_input_data_beside_their_texts():
    data = perf_analyzer.text_input_data(["a", "b"], ["x", "y"])
    assert data == {"data": [{"TEXT": ["a"], "TEXT_PAIR": ["x"]}, {"TEXT": ["b"], "TEXT_PAIR": ["y"]}]}
    assert perf_analyzer.text_input_data(["a"]) == {"data": [{"TEXT": ["a"]}]}
    with pytest.raises(ValueError):
        perf_analyzer.text_input_data(["a", "b"], ["x"])


def test_an_unreachable_server_is_a_one_line_error_and_nothing_is_written(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it
    assert perf.main(["--url", f"127.0.0.1:{port}", "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m benchmarks.perf: cannot reach the Triton server") and error.count("\n") == 1
    assert not (tmp_path / "out").exists()
