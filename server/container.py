"""python3 -m server.container [tritonserver flags]: the entry of the server image (docker/server.Dockerfile).

It starts the `tritonserver` on PATH (the NGC image's) with the serving flags of triton_flags.py, the
container's arguments appended (e.g. --model-config-name=gpu), on tcmalloc (allocator.py says why). It
serves $MODEL_REPOSITORY: a folder (default /models) or a version published to an S3-compatible store
(s3://...), downloaded into $STORE_CACHE (default /tmp/model-store) and checked against its manifest first,
so that Triton serves exactly the published bytes and goes on serving if the store goes away. It writes
the served folder's ensembles (one per pipeline), one name a line, to $SERVED_ENSEMBLES_FILE (default
/tmp/served-ensembles) for the health check (`python3 -m server.health`, health.py), which cannot
learn the folder itself: an s3:// version's is known only after the fetch.

On SIGTERM or SIGINT it closes every ensemble and waits until none of their requests is in flight (drain.py,
up to $DRAIN_TIMEOUT_SECS) before signalling Triton, which otherwise fails ensemble requests caught between
two steps. Triton does not restart a Python stub that died and may still report its model ready, so a
watcher kills tritonserver then (SIGKILL: Triton would wait its exit timeout): the container ends and the
orchestrator restarts it. Exits with tritonserver's status (128 + N after signal N); 64 without
$TRITON_ADMIN_KEY; 1 when the published version cannot be fetched or the ensembles' file cannot be written.

Only the standard library and the server package's standard-library modules are imported (and store, which
needs boto3, only for an s3:// repository): the NGC image's python3 has nothing else.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .allocator import find_tcmalloc, preloads_an_allocator, with_allocator
from .drain import drain
from .http_calls import http_get
from .procfs import alive, dead_stubs, python_stubs
from .threads import cpu_share, thread_settings, with_thread_settings
from .triton_flags import new_key, serving_flags

# Used when the variable is unset or empty, as the shell's ${NAME:-default}.
DEFAULTS = {
    "MODEL_REPOSITORY": "/models",
    "STORE_CACHE": "/tmp/model-store",
    "EXIT_TIMEOUT_SECS": "30",
    "DRAIN_TIMEOUT_SECS": "30",
    "TRITON_HTTP_URL": "http://127.0.0.1:8000",
    "TRITON_READY_URL": "http://127.0.0.1:8000/v2/health/ready",
    "SERVED_ENSEMBLES_FILE": "/tmp/served-ensembles",
}
STUB_CHECK_SECONDS = 2.0
# As Triton reads a model's config.pbtxt: an ensemble declares its platform (a commented-out line does not).
ENSEMBLE_PLATFORM = re.compile(r"""^\s*platform\s*:\s*["']ensemble["']""", re.MULTILINE)
MISSING_ADMIN_KEY = (
    "entrypoint: TRITON_ADMIN_KEY is not set. It is the value of the admin-key header that the logging, trace "
    "and shared-memory APIs require; set it to a secret, e.g. $(openssl rand -hex 32)."
)


class StartRefused(Exception):
    """Why tritonserver was not started: the message goes to stderr, `status` is the exit code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def triton_environment() -> dict[str, str]:
    """This environment with tcmalloc preloaded and bounded (without tcmalloc, glibc's fixed mmap
    threshold), and the thread counts and wait policy of the CPU the container may use (threads.py)."""
    env = dict(os.environ)
    tcmalloc = find_tcmalloc()
    if tcmalloc is None and not preloads_an_allocator(env.get("LD_PRELOAD", "")):
        say("entrypoint: tcmalloc not found; glibc malloc with a fixed mmap threshold")
    share = cpu_share(env)
    env = with_thread_settings(with_allocator(env, tcmalloc), share)
    say(f"entrypoint: threads: {thread_settings(env)} ({share.describe()})")
    return env


def served_repository() -> str:
    """$MODEL_REPOSITORY as it is, or the verified local copy of a published s3:// version."""
    repository = setting("MODEL_REPOSITORY")
    if not repository.startswith("s3://"):
        return repository
    say(f"entrypoint: fetching {repository}")
    from store import StoreError, fetch  # needs boto3: imported only for a published version

    try:
        return str(fetch(repository, Path(setting("STORE_CACHE"))))
    except StoreError as error:
        raise StartRefused(f"store: {error}", 1) from error


def served_ensembles(repository: Path) -> list[str]:
    """The ensembles Triton serves from the folder, sorted: every model whose config.pbtxt declares one,
    so every pipeline's (a pipeline's ensemble bears its name), of any layout a version was published in."""
    return sorted(
        config.parent.name
        for config in repository.glob("*/config.pbtxt")
        if ENSEMBLE_PLATFORM.search(config.read_text(encoding="utf-8", errors="replace"))
    )


def record_ensembles(repository: str) -> list[str]:
    """Write the served ensembles to $SERVED_ENSEMBLES_FILE, one name a line, replacing the file at once."""
    names = served_ensembles(Path(repository))
    path = Path(setting("SERVED_ENSEMBLES_FILE"))
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise StartRefused(
            f"entrypoint: cannot write the served ensembles to {path} ({error.strerror}): "
            "set SERVED_ENSEMBLES_FILE to a writable file",
            1,
        ) from error
    say(f"entrypoint: serving the ensembles {', '.join(names) or '(none)'}; the health check reads them from {path}")
    return names


def start_triton(extra_args: list[str]) -> tuple[subprocess.Popen, str]:
    """tritonserver started (in its own session: a terminal's Ctrl-C reaches only this process, which drains
    first), and the key of its repository API, made for this start and given only to the drain."""
    admin_key = os.environ.get("TRITON_ADMIN_KEY")
    if not admin_key:
        raise StartRefused(MISSING_ADMIN_KEY, 64)
    repository_key = new_key()
    env = triton_environment()
    repository = served_repository()
    record_ensembles(repository)
    flags = serving_flags(repository, admin_key, repository_key, setting("EXIT_TIMEOUT_SECS"))
    try:
        server = subprocess.Popen(["tritonserver", *flags, *extra_args], env=env, start_new_session=True)
    except FileNotFoundError as error:
        raise StartRefused("entrypoint: tritonserver: command not found", 127) from error
    return server, repository_key


def stubs_once_ready(server_pid: int, ready_url: str) -> dict[str, int] | None:
    """The server's Python stubs (instance → pid) once it answers ready; None when it exits before."""
    while http_get(ready_url)[0] != 200:
        if not alive(server_pid):
            return None
        time.sleep(STUB_CHECK_SECONDS)
    return python_stubs(server_pid)


def watch_stubs(server: subprocess.Popen, ready_url: str, stopping: threading.Event) -> None:
    """SIGKILL tritonserver when one of its Python stubs dies, unless the container is stopping."""
    stubs = stubs_once_ready(server.pid, ready_url)
    if stubs is None:
        return
    say(f"watch_stubs: watching {', '.join(sorted(stubs)) or 'no Python stub'}")
    while alive(server.pid) and not stopping.wait(STUB_CHECK_SECONDS):
        dead = dead_stubs(server.pid, stubs)
        if dead and alive(server.pid) and not stopping.is_set():
            say(f"watch_stubs: Python stub process(es) gone: {', '.join(dead)}")
            say("entrypoint: a Python stub died; killing tritonserver so that the container is restarted")
            server.kill()
            return


def wait_idle(repository_key: str) -> None:
    """Close every ensemble and wait until none of their requests is in flight, or $DRAIN_TIMEOUT_SECS."""
    timeout = float(setting("DRAIN_TIMEOUT_SECS"))
    say(f"wait_idle: closing the ensembles, waiting up to {timeout:.0f} s for their requests to finish")
    if not drain(setting("TRITON_HTTP_URL"), repository_key, timeout):
        say("wait_idle: ensemble requests still in flight at the timeout; stopping anyway")


def drain_then_terminate(server: subprocess.Popen, repository_key: str) -> None:
    try:
        wait_idle(repository_key)
    finally:
        server.terminate()


def stop_on_signals(server: subprocess.Popen, repository_key: str, stopping: threading.Event) -> None:
    """On the first SIGTERM or SIGINT, drain and then SIGTERM tritonserver, beside the main thread's wait."""

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=drain_then_terminate, args=(server, repository_key), daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def exit_status(returncode: int) -> int:
    """tritonserver's status as a shell reports it: 128 + N when signal N ended it."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str] | None = None) -> int:
    try:
        server, repository_key = start_triton(sys.argv[1:] if argv is None else argv)
    except StartRefused as refusal:
        say(str(refusal))
        return refusal.status
    stopping = threading.Event()
    stop_on_signals(server, repository_key, stopping)
    threading.Thread(target=watch_stubs, args=(server, setting("TRITON_READY_URL"), stopping), daemon=True).start()
    return exit_status(server.wait())


if __name__ == "__main__":
    sys.exit(main())
