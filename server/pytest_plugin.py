"""pytest fixtures that serve a model repository with the real Triton server, for CI jobs' integration tests.

Enable it with `-p server.pytest_plugin` (in pytest's addopts, as this project does) or
`pytest_plugins = ["server.pytest_plugin"]` in the top-level conftest.py, then:

    def test_positive(triton_server):
        with Classifier(triton_server.endpoints.grpc) as classifier:  # model="NAME" for another pipeline
            assert classifier.classify(["I love this"])[0].label == "positive"

- `triton_server`: the repository named by `--model-repository` (default: model_repository), with every
  pipeline in it, started once per test session on free loopback ports and stopped after the last test;
- `start_triton`: `start_triton(repository, **options)` starts another one (options as for
  server.ServingConfig, e.g. admin_key); every server it started is stopped at the end of the session.
Each server's log is written under pytest's temporary folder; a model that fails to load fails the
fixture with Triton's reason.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conversion.repository import DEFAULT_REPOSITORY

from .triton_server import TritonServer, start_on_free_ports


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--model-repository",
        default=str(DEFAULT_REPOSITORY),
        help="the model repository the triton_server fixture serves (default: %(default)s)",
    )


@pytest.fixture(scope="session")
def start_triton(tmp_path_factory) -> Iterator[Callable[..., TritonServer]]:
    started: list[TritonServer] = []

    def start(repository: Path | str, **options) -> TritonServer:
        log_file = tmp_path_factory.mktemp("triton") / f"{Path(repository).name}-{len(started)}.log"
        server = start_on_free_ports(Path(repository), log_file, **options)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def triton_server(request, start_triton) -> TritonServer:
    return start_triton(request.config.getoption("--model-repository"))
