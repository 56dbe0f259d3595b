"""The launcher as users' CI jobs use it: the example test of docs/testing.md, run for real, and the context manager."""

import os
import subprocess
import sys

from server import start_on_free_ports
from server.procfs import children
from tests.documents import PROJECT, blocks

EXAMPLE_FILES = ("pytest.ini", "test_served_model.py")


def documented_example() -> dict[str, str]:
    """The example files of docs/testing.md: the code blocks whose first line is `# <file name>`."""
    named = [block.code.partition("\n") for block in blocks(PROJECT / "docs" / "testing.md") if block.code.startswith("# ")]
    return {first.removeprefix("# "): code for first, _, code in named if first.removeprefix("# ") in EXAMPLE_FILES}


def tritonservers() -> list[int]:
    return [pid for pid, argv in children(os.getpid()).items() if argv and argv[0].endswith("tritonserver")]


def test_the_documented_example_passes_against_a_converted_repository(tiny_roberta_repository, tmp_path):
    example = documented_example()
    assert sorted(example) == sorted(EXAMPLE_FILES)
    for name, code in example.items():
        (tmp_path / name).write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--model-repository={tiny_roberta_repository}"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_server_from_start_on_free_ports_runs_once_in_a_with_block_and_stops_after(tiny_roberta_repository, tmp_path):
    before = tritonservers()
    with start_on_free_ports(tiny_roberta_repository, tmp_path / "server.log") as server:
        assert [pid for pid in tritonservers() if pid not in before] == [server.process.pid]
    assert server.process.returncode == 0
    assert [pid for pid in tritonservers() if pid not in before] == []
