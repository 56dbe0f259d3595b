"""Fixtures: tiny and default checkpoints converted into temporary repositories, served by a real
Triton through the project's own pytest plugin (server/pytest_plugin.py)."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conversion.convert import ConversionOptions, convert
from conversion.repository import Pipeline
from harness import tiny_roberta
from harness.checkpoint_kinds import KINDS, ZERO_SHOT_KINDS
from harness.eager import EagerClassifier
from server import TritonServer
from tests.support import ADMIN_KEY


TEST_KINDS = ("unit", "live", "deployment")


def pytest_collection_modifyitems(items) -> None:
    """Mark each test with its kind, the folder it lives in."""
    for item in items:
        kind = item.path.parent.name
        if kind in TEST_KINDS:
            item.add_marker(kind)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return tiny_roberta.build(tmp_path_factory.mktemp("tiny-roberta"))


@pytest.fixture(scope="session")
def tiny_roberta_repository(tmp_path_factory, tiny_checkpoint) -> Path:
    repository = tmp_path_factory.mktemp("tiny") / "model_repository"
    convert(ConversionOptions(str(tiny_checkpoint), repository))
    return repository


@pytest.fixture(scope="session")
def minilm_repository(tmp_path_factory) -> Path:
    repository = tmp_path_factory.mktemp("minilm") / "model_repository"
    convert(ConversionOptions.default(model_repository=repository))
    return repository


@pytest.fixture(scope="session")
def kind_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Pipeline name → a tiny random checkpoint of each kind of head, and the NLI ones (harness/checkpoint_kinds.py)."""
    folder = tmp_path_factory.mktemp("kinds")
    return {kind.name: kind.build(folder / kind.name) for kind in (*KINDS, *ZERO_SHOT_KINDS)}


@pytest.fixture(scope="session")
def several_pipelines_repository(tmp_path_factory, minilm_repository, kind_checkpoints) -> Path:
    """One repository: the default pipeline `sentiment`, one pipeline of each kind beside it, and the zero-shot ones."""
    repository = tmp_path_factory.mktemp("several") / "model_repository"
    for model in Pipeline(minilm_repository).models:
        shutil.copytree(minilm_repository / model, repository / model)
    for kind in KINDS:
        convert(ConversionOptions(str(kind_checkpoints[kind.name]), repository, name=kind.name, pairs=kind.pairs, token_budget=256))
    for kind in ZERO_SHOT_KINDS:
        convert(ConversionOptions(str(kind_checkpoints[kind.name]), repository, name=kind.name, zero_shot=True, token_budget=256))
    return repository


@dataclass
class Served:
    name: str
    server: TritonServer
    reference: EagerClassifier


@pytest.fixture(scope="session", params=["tiny_roberta", "minilm"])
def served(request, start_triton) -> Served:
    """A running server per model, with the in-process reference it must match."""
    repository = request.getfixturevalue(f"{request.param}_repository")
    reference = EagerClassifier.from_repository(repository)
    server = start_triton(repository, admin_key=ADMIN_KEY)
    yield Served(request.param, server, reference)
    server.stop()  # before the next model's server starts


@pytest.fixture(scope="session")
def several_served(several_pipelines_repository, start_triton) -> TritonServer:
    """One server for the whole session holding every pipeline of several_pipelines_repository."""
    return start_triton(several_pipelines_repository)
