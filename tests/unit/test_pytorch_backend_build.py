"""How `make setup` decides, finds sources for and reports the build of Triton's pytorch backend
(server/pytorch_backend.py), without compiling it."""

import dataclasses
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

from server import pytorch_backend
from server.pytorch_backend import LIBRARY, SOURCES, BackendNotBuilt, BuildFailed, BuildInputs


def inputs(**changes) -> BuildInputs:
    base = BuildInputs("r24.10", "e97a900 bfec7c6", "abc", "2.13.0+cpu", "/usr/include/python3.11", "c++ 12.2.0", ("-DTRITON_ENABLE_GPU=OFF",))
    return dataclasses.replace(base, **changes)


def recorded(root: Path, build_inputs: BuildInputs, library: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "build.json").write_text(json.dumps({"inputs": build_inputs.record(), "seconds": 30.0}))
    if library:
        (root / LIBRARY).write_bytes(b"\x7fELF")
    return root


def source_trees(folder: Path, leave_out: str | None = None) -> Path:
    for name in SOURCES:
        if name != leave_out:
            (folder / name).mkdir(parents=True)
            (folder / name / "CMakeLists.txt").write_text(f"# {name}\n")
    return folder


@pytest.mark.parametrize(
    "change",
    [
        {"torch": "2.14.0+cpu"},
        {"sources": "def"},
        {"sources": "github", "commits": "0000000 bfec7c6"},
        {"compiler": "c++ 13.1.0"},
        {"cmake_options": ("-DTRITON_ENABLE_GPU=ON",)},
        {"release": "r25.01"},
    ],
    ids=["torch", "sources", "commits", "compiler", "flags", "release"],
)
def test_any_changed_input_means_a_new_build(tmp_path, change):
    root = recorded(tmp_path, inputs())
    assert pytorch_backend.up_to_date(root, inputs())
    assert not pytorch_backend.up_to_date(root, inputs(**change))


def test_without_sources_given_a_build_of_the_pinned_commits_from_a_tarball_is_reused(tmp_path):
    root = recorded(tmp_path, inputs(sources="sha256-of-the-tarball"))
    assert pytorch_backend.up_to_date(root, inputs(sources="github"))
    assert not pytorch_backend.up_to_date(root, inputs(sources="sha256-of-another-tarball"))


def test_a_record_without_its_library_is_no_build(tmp_path):
    assert not pytorch_backend.up_to_date(recorded(tmp_path, inputs(), library=False), inputs())
    assert not pytorch_backend.up_to_date(tmp_path / "never-built", inputs())


def test_the_launcher_is_told_to_run_make_setup_when_nothing_was_built(tmp_path):
    with pytest.raises(BackendNotBuilt, match=r"is not built .*: run `make setup`"):
        pytorch_backend.built_library(tmp_path)


def test_the_launcher_refuses_a_build_for_another_torch(tmp_path):
    root = recorded(tmp_path, inputs(torch="1.0.0"))
    with pytest.raises(BackendNotBuilt, match=r"built for torch 1.0.0, .venv has .*: run `make setup`"):
        pytorch_backend.built_library(root)


def test_the_launcher_takes_a_build_for_the_installed_torch(tmp_path):
    root = recorded(tmp_path, inputs(torch=pytorch_backend.Torch.find().version))
    assert pytorch_backend.built_library(root) == root / LIBRARY


def test_the_digest_of_a_folder_follows_its_contents(tmp_path):
    trees = source_trees(tmp_path / "sources")
    first = pytorch_backend.digest(trees)
    assert pytorch_backend.digest(trees) == first
    (trees / "core" / "CMakeLists.txt").write_text("# changed\n")
    assert pytorch_backend.digest(trees) != first


def test_sources_unpack_from_a_folder_and_from_a_tarball(tmp_path):
    trees = source_trees(tmp_path / "sources")
    tarball = tmp_path / "sources.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(trees, arcname=".")
    for given in (trees, tarball):
        destination = tmp_path / f"unpacked-{given.name}"
        pytorch_backend.unpack_sources(given, destination)
        assert sorted(path.name for path in destination.iterdir()) == sorted(SOURCES)
        assert (destination / "pytorch_backend" / "CMakeLists.txt").read_text() == "# pytorch_backend\n"


def test_sources_lacking_a_tree_are_refused_by_name(tmp_path):
    trees = source_trees(tmp_path / "sources", leave_out="googletest")
    with pytest.raises(BuildFailed, match="lacks the source folder\\(s\\) googletest"):
        pytorch_backend.unpack_sources(trees, tmp_path / "unpacked")


def github_archive(name: str, commit: str) -> bytes:
    """A tarball laid out as GitHub's archives are: one top folder, <name>-<commit>/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        content = f"# {name} at {commit}\n".encode()
        member = tarfile.TarInfo(f"{name}-{commit}/CMakeLists.txt")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def archive_server(monkeypatch):
    """A loopback HTTP server answering /<repository>/tar.gz/<commit> with a GitHub-style archive."""

    class Archives(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            owner, name, _, commit = self.path.strip("/").split("/")
            body = github_archive(name, commit)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Archives)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(pytorch_backend, "ARCHIVE_URL", f"http://127.0.0.1:{server.server_port}/{{repository}}/tar.gz/{{commit}}")
    yield server
    server.shutdown()


def test_without_sources_given_every_tree_comes_from_its_pinned_commit(archive_server, tmp_path):
    pytorch_backend.unpack_sources(None, tmp_path / "unpacked")
    for folder, (repository, commit) in SOURCES.items():
        text = (tmp_path / "unpacked" / folder / "CMakeLists.txt").read_text()
        assert text == f"# {repository.split('/')[1]} at {commit}\n"


def test_an_unreachable_source_says_how_to_build_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(pytorch_backend, "ARCHIVE_URL", "http://127.0.0.1:9/{repository}/{commit}")
    with pytest.raises(BuildFailed, match="cannot download .*: without internet, set TRITON_BACKEND_SOURCES"):
        pytorch_backend.unpack_sources(None, tmp_path / "unpacked")


def test_the_inputs_name_the_pinned_commits_and_where_the_trees_come_from():
    recorded_inputs = pytorch_backend.build_inputs(None, pytorch_backend.Torch.find())
    assert recorded_inputs.sources == "github"
    assert recorded_inputs.commits.split() == [commit for _, commit in SOURCES.values()]
    assert recorded_inputs.torch == pytorch_backend.Torch.find().version
