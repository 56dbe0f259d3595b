"""Start a peer's HTTP server as a subprocess, wait until it answers, and stop it afterwards."""

import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from server.http_calls import http_get


@contextmanager
def running(command: list[str], env: dict, ready_url: str, log_file: Path, timeout: float = 300):
    """The server runs inside the block; its output goes to `log_file`."""
    with open(log_file, "wb") as log_stream:
        process = subprocess.Popen(command, env=env, stdout=log_stream, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while http_get(ready_url)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start; see {log_file}")
            time.sleep(0.5)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
