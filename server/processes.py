"""Every process the project runs, started, awaited and stopped one way: tritonserver (locally and in the
image), the launcher under test, the benchmarks' peers and the development object store.

Standard library only: the image's entry uses it with the NGC image's python3.
"""

import ctypes
import logging
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class ProcessFailed(RuntimeError):
    """The process exited, or was not ready by its deadline; the message says which."""


def _die_with_parent():
    """Runs in the child before exec: it gets SIGTERM if the process that started it dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(
    command: list[str],
    output: Path | None = None,
    env: dict[str, str] | None = None,
    append: bool = False,
    own_session: bool = False,
    die_with_parent: bool = False,
) -> subprocess.Popen:
    """`command` started with stdin closed and stdout and stderr written to `output` (inherited without one),
    replacing what it held unless `append`.

    `own_session`: a terminal's Ctrl-C then reaches only the caller, which can drain before it stops the
    process. `die_with_parent`: the process gets SIGTERM when the caller dies, so none is left behind.
    """
    options = {"env": env, "stdin": subprocess.DEVNULL, "start_new_session": own_session}
    if die_with_parent:
        options["preexec_fn"] = _die_with_parent
    if output is None:
        return subprocess.Popen(command, **options)
    with open(output, "ab" if append else "wb") as stream:
        return subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, **options)


def wait_until_ready(
    process: subprocess.Popen, ready: Callable[[], bool], timeout: float, name: str, interval: float = 0.5
) -> None:
    """Until `ready()` is true. ProcessFailed when the process exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise ProcessFailed(f"{name} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise ProcessFailed(f"{name} not ready after {timeout:.0f} s")
        time.sleep(interval)


def stop(process: subprocess.Popen, grace: float, name: str) -> int:
    """SIGTERM, then SIGKILL if the process has not exited within `grace` seconds; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("%s did not exit within %.0f s; killing it", name, grace)
            process.kill()
    return process.wait()


def exit_status(returncode: int) -> int:
    """An exit code as a shell reports it: 128 + N when signal N ended the process."""
    return 128 - returncode if returncode < 0 else returncode
