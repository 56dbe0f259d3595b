"""What the tests share: the project's paths, the admin key the served fixture uses,
`python -m server` run as a user runs it, a wait for requests to be in flight, and a start that must fail."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import server_stats
from conversion.repository import Pipeline
from server import ServerFailed, free_endpoints, start_on_free_ports
from server.procfs import children

PROJECT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "key-the-tests-know"
READY_MARKER = "Ctrl-C stops it"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def tokenizer_requests(http_url: str, pipeline: str) -> int:
    """Requests the pipeline's tokenizer has finished, its warm-up runs included."""
    return int(server_stats.snapshot(http_url)[f"{pipeline}.tokenizer"]["inference_stats"]["success"]["count"])


def wait_until_in_flight(http_url: str, pipeline: str, requests: int, since: int, timeout: float = 60) -> None:
    """Until the pipeline's tokenizer has finished `requests` more requests than `since` (its count before
    the clients sent any: tokenizer_requests): each is then inside the ensemble, between two steps, where
    a stop must let it finish. A fixed delay after the clients started left a request still unsent on a
    loaded machine, and a stopping server rightly refuses it at the door."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tokenizer_requests(http_url, pipeline) - since >= requests:
            return
        time.sleep(0.01)
    raise TimeoutError(f"{pipeline}.tokenizer did not see {requests} requests within {timeout:.0f} s")


def start_failure(repository: Path, workdir: Path, spoil: Callable[[Pipeline], None]) -> str:
    """The launcher's report on a copy of `repository` whose default pipeline `spoil` broke: the start
    must fail, and the report must name the server log."""
    broken = workdir / "broken"
    shutil.copytree(repository, broken)
    spoil(Pipeline(broken))
    with pytest.raises(ServerFailed) as failure:
        start_on_free_ports(broken, workdir / "server.log")
    message = str(failure.value)
    assert str(workdir / "server.log") in message
    return message


class Launcher:
    """`python -m server` as a subprocess whose output the tests read."""

    def __init__(self, repository: Path, workdir: Path, *arguments: str, **environment: str):
        self.endpoints = free_endpoints()
        self.output_file = workdir / "launcher.out"
        command = [
            sys.executable, "-m", "server",
            "--model-repository", str(repository),
            "--http-port", str(self.endpoints.http_port),
            "--grpc-port", str(self.endpoints.grpc_port),
            "--metrics-port", str(self.endpoints.metrics_port),
            "--log-file", str(workdir / "tritonserver.log"),
            *arguments,
        ]  # fmt: skip
        with open(self.output_file, "w") as output:
            self.process = subprocess.Popen(
                command, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **environment}
            )

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float, after: int = 0) -> None:
        """Until `text` appears in the output past character `after`."""
        deadline = time.monotonic() + timeout
        while text not in self.output()[after:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the launcher said:\n{self.output()}")
            time.sleep(0.2)

    def server_pid(self) -> int:
        return next(pid for pid, argv in children(self.process.pid).items() if argv and argv[0].endswith("tritonserver"))

    def __enter__(self) -> "Launcher":
        self.wait_for(READY_MARKER, timeout=120)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=90)
