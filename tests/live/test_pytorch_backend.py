"""Triton's own pytorch backend as `make setup` builds it and the launcher serves with it: built once,
its failures reported with their log, loaded inside tritonserver, and a model.pt it cannot load named
with the backend's reason."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from server.procfs import python_stubs
from server.pytorch_backend import BUILD_ROOT, LIBRARY, PROJECT, SOURCES
from tests.support import start_failure


def test_a_second_make_setup_rebuilds_nothing():
    library = BUILD_ROOT / LIBRARY
    before = library.stat().st_mtime_ns
    result = subprocess.run(["make", "--no-print-directory", "pytorch-backend"], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Triton's pytorch backend is up to date" in result.stdout + result.stderr
    assert library.stat().st_mtime_ns == before


def build(sources: Path, output: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server.pytorch_backend", "--sources", str(sources), "--output", str(output)]
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=120, env=env)


def broken_sources(folder: Path) -> Path:
    """Source trees that CMake reads: an empty RapidJSON project, and a backend project that stops with an error."""
    for name in SOURCES:
        (folder / name).mkdir(parents=True)
    (folder / "rapidjson" / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.18)\nproject(RapidJSON NONE)\n")
    (folder / "pytorch_backend" / "CMakeLists.txt").write_text(
        'cmake_minimum_required(VERSION 3.18)\nproject(tritonpytorchbackend NONE)\nmessage(FATAL_ERROR "this tree cannot build")\n'
    )
    return folder


def test_a_failed_build_says_where_its_log_is(tmp_path):
    result = build(broken_sources(tmp_path / "sources"), tmp_path / "build")
    log = tmp_path / "build" / "build.log"
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"python -m server.pytorch_backend: building Triton's pytorch backend failed at `cmake -S ...`: see {log}"
    )
    assert "this tree cannot build" in log.read_text()
    assert not (tmp_path / "build" / LIBRARY).exists() and not (tmp_path / "build" / "build.json").exists()


def test_a_failed_build_leaves_the_previous_one_in_place(tmp_path):
    previous = tmp_path / "build"
    shutil.copytree(BUILD_ROOT, previous, ignore=shutil.ignore_patterns("work"))
    record = (previous / "build.json").read_text()
    result = build(broken_sources(tmp_path / "sources"), previous)
    assert result.returncode == 1
    assert (previous / "build.json").read_text() == record
    assert (previous / LIBRARY).read_bytes() == (BUILD_ROOT / LIBRARY).read_bytes()


def test_missing_build_tools_are_named_with_the_packages_to_install(tmp_path):
    empty = tmp_path / "no-tools"
    empty.mkdir()
    result = build(broken_sources(tmp_path / "sources"), tmp_path / "build", env={**os.environ, "PATH": str(empty)})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "python -m server.pytorch_backend: building Triton's pytorch backend needs cmake, c++, make: install cmake g++ make"
    )


def test_the_classifier_runs_inside_tritonserver_on_the_built_backend(served):
    server_pid = served.server.process.pid
    mapped = {Path(line.split()[-1]).name for line in Path(f"/proc/{server_pid}/maps").read_text().splitlines() if "/" in line}
    assert {LIBRARY, "libtorch_cpu.so"} <= mapped
    stubs = python_stubs(server_pid)
    assert sorted(stubs) == ["sentiment.postprocess_0_0", "sentiment.tokenizer_0_0"], "no Python stub serves a classifier"
    log = served.server.log_file.read_text()
    assert "TRITONBACKEND_ModelInstanceInitialize: sentiment.classifier_0_0 (CPU device 0)" in log


def garbage(model_file: Path) -> None:
    model_file.write_bytes(b"not a TorchScript archive")


def saved_by_a_newer_torch(model_file: Path) -> None:
    """The archive as a later torch writes it: a file-format version past what this libtorch reads."""
    original = model_file.with_suffix(".original")
    model_file.rename(original)
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(model_file, "w") as target:
        for item in source.infolist():
            target.writestr(item, b"99\n" if item.filename.endswith(".data/version") else source.read(item))
    original.unlink()


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (garbage, "PytorchStreamReader failed reading zip archive"),
        (saved_by_a_newer_torch, "Attempted to read a PyTorch file with version 99, but the maximum supported version for reading is"),
    ],
    ids=["garbage", "newer-torch"],
)
def test_a_model_pt_the_backend_cannot_load_fails_its_pipeline_at_start(tiny_roberta_repository, tmp_path, corrupt, reason):
    message = start_failure(tiny_roberta_repository, tmp_path, lambda pipeline: corrupt(pipeline.model_file))
    assert "model 'sentiment.classifier' (pipeline 'sentiment') failed to load" in message
    assert reason in message
    assert "Traceback" not in message
