"""python3 -m server.container [tritonserver flags]: the entry of the server image (docker/server.Dockerfile).

It starts the `tritonserver` on PATH (the NGC image's) with the serving flags of triton_flags.py, the
container's arguments appended (e.g. --model-config-name=gpu), in the environment of environment.py. Its
settings come from the environment (ServingConfig.from_environment, config.py, names each variable and
its default). It serves $MODEL_REPOSITORY: a folder (default /models) or a version published to an S3-compatible store
(s3://...), downloaded into $STORE_CACHE (default /tmp/model-store) and checked against its manifest first,
so that Triton serves exactly the published bytes and goes on serving if the store goes away. It writes
the served folder's ensembles (one per pipeline), one name a line, to $SERVED_ENSEMBLES_FILE (default
/tmp/served-ensembles) for the health check (`python3 -m server.health`, health.py), which cannot
learn the folder itself: an s3:// version's is known only after the fetch.

On SIGTERM or SIGINT it closes every ensemble and waits until none of their requests is in flight (drain.py,
up to $DRAIN_TIMEOUT_SECS) before signalling Triton, which otherwise fails ensemble requests caught between
two steps. When a Python stub dies (stub_watch.py says why that needs watching), a watcher kills
tritonserver (SIGKILL: Triton would wait its exit timeout): the container ends and the orchestrator
restarts it. Exits with tritonserver's status (128 + N after signal N); 64 without $TRITON_ADMIN_KEY or
with a variable that cannot be read; 1 when the published version cannot be fetched or the ensembles'
file cannot be written.

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

from . import processes
from .config import ConfigError, ServingConfig
from .drain import drain
from .environment import serving_environment
from .http_calls import http_get
from .procfs import alive
from .stub_watch import CHECK_SECONDS, StubWatch
from .triton_flags import new_key, serving_flags

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


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def image_config() -> ServingConfig:
    """The configuration the environment gives (ServingConfig.from_environment); it must hold the admin key."""
    try:
        config = ServingConfig.from_environment()
    except ConfigError as error:
        raise StartRefused(f"entrypoint: {error}", 64) from error
    if not config.admin_key:
        raise StartRefused(MISSING_ADMIN_KEY, 64)
    return config


def served_repository(config: ServingConfig) -> str:
    """The configured repository as it is, or the verified local copy of a published s3:// version."""
    if not config.repository.startswith("s3://"):
        return config.repository
    say(f"entrypoint: fetching {config.repository}")
    from store import StoreError, fetch  # needs boto3: imported only for a published version

    try:
        return str(fetch(config.repository, config.store_cache))
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


def record_ensembles(repository: str, path: Path) -> list[str]:
    """Write the served ensembles to `path`, one name a line, replacing the file at once."""
    names = served_ensembles(Path(repository))
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


def start_triton(config: ServingConfig, extra_args: list[str]) -> tuple[subprocess.Popen, str]:
    """tritonserver started (in its own session: a terminal's Ctrl-C reaches only this process, which drains
    first), and the key of its repository API, made for this start and given only to the drain."""
    repository_key = new_key()
    env = serving_environment(dict(os.environ), lambda line: say(f"entrypoint: {line}"))
    repository = served_repository(config)
    record_ensembles(repository, config.served_ensembles_file)
    flags = serving_flags(repository, config.admin_key, repository_key, config.exit_timeout, config.response_cache_mb)
    try:
        server = processes.start(["tritonserver", *flags, *extra_args], env=env, own_session=True)
    except FileNotFoundError as error:
        raise StartRefused("entrypoint: tritonserver: command not found", 127) from error
    return server, repository_key


def stubs_once_ready(server_pid: int, ready_url: str) -> StubWatch | None:
    """The watch of the server's Python stubs once it answers ready; None when it exits before."""
    while http_get(ready_url)[0] != 200:
        if not alive(server_pid):
            return None
        time.sleep(CHECK_SECONDS)
    return StubWatch(server_pid)


def watch_stubs(server: subprocess.Popen, ready_url: str, stopping: threading.Event) -> None:
    """SIGKILL tritonserver when one of its Python stubs dies, unless the container is stopping."""
    watch = stubs_once_ready(server.pid, ready_url)
    if watch is None:
        return
    say(f"watch_stubs: watching {', '.join(sorted(watch.stubs)) or 'no Python stub'}")
    while alive(server.pid) and not stopping.wait(CHECK_SECONDS):
        dead = watch.dead()
        if dead and alive(server.pid) and not stopping.is_set():
            say(f"watch_stubs: Python stub process(es) gone: {', '.join(dead)}")
            say("entrypoint: a Python stub died; killing tritonserver so that the container is restarted")
            server.kill()
            return


def wait_idle(config: ServingConfig, repository_key: str) -> None:
    """Close every ensemble and wait until none of their requests is in flight, or the drain timeout."""
    timeout = config.drain_timeout
    say(f"wait_idle: closing the ensembles, waiting up to {timeout:.0f} s for their requests to finish")
    if not drain(config.endpoints.http, repository_key, timeout):
        say("wait_idle: ensemble requests still in flight at the timeout; stopping anyway")


def drain_then_terminate(config: ServingConfig, server: subprocess.Popen, repository_key: str) -> None:
    try:
        wait_idle(config, repository_key)
    finally:
        server.terminate()


def stop_on_signals(config: ServingConfig, server: subprocess.Popen, repository_key: str, stopping: threading.Event) -> None:
    """On the first SIGTERM or SIGINT, drain and then SIGTERM tritonserver, beside the main thread's wait."""

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=drain_then_terminate, args=(config, server, repository_key), daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def main(argv: list[str] | None = None) -> int:
    try:
        config = image_config()
        server, repository_key = start_triton(config, sys.argv[1:] if argv is None else argv)
    except StartRefused as refusal:
        say(str(refusal))
        return refusal.status
    stopping = threading.Event()
    stop_on_signals(config, server, repository_key, stopping)
    threading.Thread(target=watch_stubs, args=(server, config.readiness_url, stopping), daemon=True).start()
    return processes.exit_status(server.wait())


if __name__ == "__main__":
    sys.exit(main())
