"""Fixtures: tiny and default checkpoints converted into temporary repositories, served by a real Triton."""

from dataclasses import dataclass
from pathlib import Path

import pytest

import conversion.__main__ as conversion_cli
from conversion import export
from conversion.eager import EagerClassifier
from server import TritonServer, start_on_free_ports
from tests import tiny_roberta

PROJECT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "key-the-tests-know"


def repository_skeleton(destination: Path) -> Path:
    """The committed model repository (configs and model.py files) without conversion output."""
    return export.copy_skeleton(PROJECT / "model_repository", destination)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return tiny_roberta.build(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def tiny_roberta_repository(tmp_path_factory, tiny_checkpoint) -> Path:
    repository = repository_skeleton(tmp_path_factory.mktemp("tiny") / "model_repository")
    assert conversion_cli.main(["--model", str(tiny_checkpoint), "--repository", str(repository)]) == 0
    return repository


@pytest.fixture(scope="session")
def minilm_repository(tmp_path_factory) -> Path:
    repository = repository_skeleton(tmp_path_factory.mktemp("minilm") / "model_repository")
    assert conversion_cli.main(["--default", "--repository", str(repository)]) == 0
    return repository


@dataclass
class Served:
    name: str
    server: TritonServer
    reference: EagerClassifier


@pytest.fixture(scope="session", params=["tiny_roberta", "minilm"])
def served(request, tmp_path_factory) -> Served:
    """A running server per model, with the in-process reference it must match."""
    repository = request.getfixturevalue(f"{request.param}_repository")
    reference = EagerClassifier.from_repository(repository)
    log_file = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    server = start_on_free_ports(repository, log_file, admin_key=ADMIN_KEY)
    yield Served(request.param, server, reference)
    server.stop()
