"""Start a peer's HTTP server as a subprocess, wait until it answers, and stop it afterwards."""

from contextlib import contextmanager
from pathlib import Path

from server import processes
from server.http_calls import http_get


@contextmanager
def running(command: list[str], env: dict, ready_url: str, log_file: Path, timeout: float = 300):
    """The server runs inside the block; its output goes to `log_file`."""
    process = processes.start(command, log_file, env)
    try:
        try:
            processes.wait_until_ready(process, lambda: http_get(ready_url)[0] == 200, timeout, command[0])
        except processes.ProcessFailed as failure:
            raise RuntimeError(f"{failure}; see {log_file}") from None
        yield process
    finally:
        processes.stop(process, 30, command[0])
