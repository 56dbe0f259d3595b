"""Start the Triton server, wait until every model is ready, and stop it without dropping requests."""

import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from conversion.repository import pipeline_of

from . import processes
from .config import Endpoints, ServingConfig
from .drain import drain
from .http_calls import http_get
from .installation import TritonInstallation
from .procfs import alive, stub_shared_memory
from .stub_watch import StubWatch
from .triton_flags import new_key, serving_flags

log = logging.getLogger(__name__)

BACKENDS_PREFIX = "triton-backends-"  # + the launcher's pid: a folder whose launcher is gone can be removed

_LOAD_FAILURE = re.compile(r"failed to load '(?P<model>[^']+)' version \d+: (?P<reason>.+?)\"?$", re.MULTILINE)


class ServerFailed(RuntimeError):
    """The server exited or a model did not become ready; the message says which and why."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS has just reported free (another process can still take one: retry on conflict)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_endpoints(host: str = "127.0.0.1") -> Endpoints:
    """Endpoints on three free ports (see free_ports)."""
    return Endpoints(host, *free_ports(3, host))


def backends_folder(temporary: Path | None = None) -> Path:
    """A new folder for this launcher's copy of the backends, named by its pid. Copies that killed
    launchers could not remove go first: each holds a few MiB."""
    temporary = Path(temporary or tempfile.gettempdir())
    remove_abandoned_backends(temporary)
    return Path(tempfile.mkdtemp(prefix=f"{BACKENDS_PREFIX}{os.getpid()}-", dir=temporary))


def remove_abandoned_backends(temporary: Path) -> list[Path]:
    """Remove this user's backend copies whose launcher is no longer running; the folders removed."""
    removed = []
    for folder in temporary.glob(f"{BACKENDS_PREFIX}*-*"):
        launcher = folder.name.removeprefix(BACKENDS_PREFIX).split("-")[0]
        if launcher.isdigit() and not alive(int(launcher)) and folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def repository_models(repository: Path) -> list[str]:
    return sorted(config.parent.name for config in repository.glob("*/config.pbtxt"))


def load_failures(log_text: str) -> dict[str, str]:
    """Model name → the reason Triton gave for not loading it (its first line, without the Python stack)."""
    return {match["model"]: match["reason"].split("\\n")[0].strip() for match in _LOAD_FAILURE.finditer(log_text)}


class TritonServer:
    """One tritonserver process serving the folder `config.repository` (ServingConfig, config.py).

    Use as a context manager, or call start() and stop(). The server runs in its own session so
    that a terminal's Ctrl-C reaches only the launcher, which drains before stopping it.
    """

    def __init__(self, config: ServingConfig, extra_args: tuple[str, ...] = ()):
        log_file = config.log_file or Path("logs") / time.strftime("tritonserver-%Y%m%d-%H%M%S.log")
        # Without a key from the operator, a random one nobody knows: the restricted APIs are then closed.
        self.config = replace(config, log_file=Path(log_file).resolve(), admin_key=config.admin_key or new_key())
        self.extra_args = extra_args
        self.repository = Path(config.repository).resolve()
        self.repository_key = new_key()
        self.models = repository_models(self.repository)
        self.process: subprocess.Popen | None = None
        self.stub_watch: StubWatch | None = None  # once ready
        self._backends: Path | None = None
        self._shared_memory: list[Path] = []

    @property
    def endpoints(self) -> Endpoints:
        return self.config.endpoints

    @property
    def log_file(self) -> Path:
        return self.config.log_file

    def command(self, installation: TritonInstallation, backends: Path) -> list[str]:
        """The shared serving flags (triton_flags.py), then this launcher's own: loopback, ports, backends."""
        config, host, endpoints = self.config, self.endpoints.host, self.endpoints
        repository_key = None if config.open_model_control else self.repository_key
        return [
            str(installation.binary),
            *serving_flags(str(self.repository), config.admin_key, repository_key, config.exit_timeout, config.response_cache_mb),
            f"--backend-directory={backends}",
            f"--cache-directory={installation.caches}",
            f"--http-address={host}",
            f"--http-port={endpoints.http_port}",
            f"--grpc-address={host}",
            f"--grpc-port={endpoints.grpc_port}",
            f"--metrics-address={host}",
            f"--metrics-port={endpoints.metrics_port}",
            "--allow-gpu-metrics=false",
            *self.extra_args,
        ]

    def start(self) -> "TritonServer":
        """Started, and every model ready within the configured ready timeout (ServerFailed otherwise)."""
        if not self.models:
            raise ServerFailed(f"{self.repository} holds no model (no */config.pbtxt)")
        installation = TritonInstallation.find()
        self._backends = installation.assemble_backends(backends_folder())
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = self.command(installation, self._backends)
        self.process = processes.start(command, self.log_file, installation.environment(), own_session=True, die_with_parent=True)
        log.info("tritonserver started (pid %d), log: %s", self.process.pid, self.log_file)
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop(drain_timeout=0)
            raise
        return self

    def model_ready(self, model: str) -> bool:
        status, _ = http_get(f"{self.endpoints.http}/v2/models/{model}/ready")
        return status == 200

    def unready_models(self) -> list[str]:
        return [model for model in self.models if not self.model_ready(model)]

    @property
    def stubs(self) -> dict[str, int]:
        """Model instance → the pid of its Python stub, recorded when the server became ready."""
        return self.stub_watch.stubs if self.stub_watch else {}

    def dead_stubs(self) -> list[str]:
        """Model instances whose Python stub has died since the server became ready (stub_watch.py)."""
        return self.stub_watch.dead() if self.stub_watch else []

    def wait_until_ready(self) -> None:
        timeout = self.config.ready_timeout
        try:
            processes.wait_until_ready(self.process, lambda: not self.unready_models(), timeout, "tritonserver")
        except processes.ProcessFailed as failure:
            waiting = "" if self.process.poll() is not None else f": {', '.join(self.unready_models())}"
            raise ServerFailed(self._failure_report(f"{failure}{waiting}")) from None
        log.info("all models ready: %s", ", ".join(self.models))
        self.stub_watch = StubWatch(self.process.pid)
        self._shared_memory = stub_shared_memory(self.process.pid)

    def _failure_report(self, summary: str) -> str:
        text = self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""
        failures = load_failures(text)
        lines = [summary]
        lines += [f"  model '{model}' (pipeline '{pipeline_of(model)}') failed to load: {reason}" for model, reason in failures.items()]
        if not failures:
            lines += ["  last lines of the server log:", *("    " + line for line in text.splitlines()[-15:])]
        lines.append(f"  full log: {self.log_file}")
        return "\n".join(lines)

    def drain(self, timeout: float) -> bool:
        """Close the ensembles and wait until none of their requests is in flight (drain.py); False at the timeout."""
        return drain(self.endpoints.http, self.repository_key, timeout, running=lambda: self.process.poll() is None)

    def stop(self, drain_timeout: float | None = None, kill_after: float | None = None) -> int | None:
        """Let in-flight requests finish (up to the configured drain timeout), then SIGTERM, then SIGKILL
        after `kill_after` (by default the exit timeout and a margin, ServingConfig.kill_after)."""
        drain_timeout = self.config.drain_timeout if drain_timeout is None else drain_timeout
        kill_after = self.config.kill_after if kill_after is None else kill_after
        if self.process is not None and self.process.poll() is None:
            if drain_timeout > 0 and not self.drain(drain_timeout):
                log.warning("ensemble requests still in flight after %.0f s; stopping anyway", drain_timeout)
            processes.stop(self.process, kill_after, "tritonserver")
            log.info("tritonserver exited with code %d", self.process.returncode)
        for region in self._shared_memory:
            region.unlink(missing_ok=True)
        if self._backends is not None:
            shutil.rmtree(self._backends, ignore_errors=True)
            self._backends = None
        return None if self.process is None else self.process.returncode

    def __enter__(self) -> "TritonServer":
        """Starts the server unless it is running already (as start_on_free_ports returns it)."""
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_on_free_ports(repository: Path, log_file: Path | None = None, attempts: int = 3, **settings) -> TritonServer:
    """A started server on free loopback ports, retrying when a port was taken in between. `settings` are
    ServingConfig's (admin_key, open_model_control, ready_timeout, drain_timeout, ...)."""
    config = ServingConfig(str(repository), log_file=log_file, **settings)
    for _ in range(attempts - 1):
        try:
            return TritonServer(replace(config, endpoints=free_endpoints())).start()
        except ServerFailed as error:
            if "already in use" not in str(error):
                raise
            log.warning("port conflict, retrying on other ports: %s", error)
    return TritonServer(replace(config, endpoints=free_endpoints())).start()
