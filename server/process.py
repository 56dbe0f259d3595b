"""Start the Triton server, wait until every model is ready, and stop it without dropping requests."""

import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .drain import drain
from .http_calls import http_get
from .installation import TritonInstallation
from .procfs import alive, dead_stubs, python_stubs, stub_shared_memory
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


@dataclass(frozen=True)
class Endpoints:
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002

    @classmethod
    def on_free_ports(cls, host: str = "127.0.0.1") -> "Endpoints":
        """On three free ports (see free_ports)."""
        return cls(host, *free_ports(3, host))

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


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


def _die_with_parent():
    """Runs in the child before exec: the server gets SIGTERM if the launcher dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class TritonServer:
    """One tritonserver process serving a model repository.

    Use as a context manager, or call start() and stop(). The server runs in its own session so
    that a terminal's Ctrl-C reaches only the launcher, which drains before stopping it.
    """

    def __init__(
        self,
        repository: Path,
        endpoints: Endpoints = Endpoints(),
        log_file: Path | None = None,
        exit_timeout: int = 30,
        extra_args: tuple[str, ...] = (),
        admin_key: str | None = None,
        open_model_control: bool = False,
    ):
        self.repository = Path(repository).resolve()
        self.endpoints = endpoints
        self.log_file = Path(log_file or Path("logs") / time.strftime("tritonserver-%Y%m%d-%H%M%S.log")).resolve()
        self.exit_timeout = exit_timeout
        self.extra_args = extra_args
        # Without a key from the operator, a random one nobody knows: the restricted APIs are then closed.
        self.admin_key = admin_key or new_key()
        self.repository_key = new_key()
        # Load and unload open to every client, for tools that load config variants (Model Analyzer's remote mode).
        self.open_model_control = open_model_control
        self.models = repository_models(self.repository)
        self.process: subprocess.Popen | None = None
        self.stubs: dict[str, int] = {}  # model instance → stub pid, once ready
        self._backends: Path | None = None
        self._shared_memory: list[Path] = []

    def command(self, installation: TritonInstallation, backends: Path) -> list[str]:
        """The shared serving flags (triton_flags.py), then this launcher's own: loopback, ports, backends."""
        host, endpoints = self.endpoints.host, self.endpoints
        return [
            str(installation.binary),
            *serving_flags(str(self.repository), self.admin_key, None if self.open_model_control else self.repository_key, self.exit_timeout),
            f"--backend-directory={backends}",
            f"--http-address={host}",
            f"--http-port={endpoints.http_port}",
            f"--grpc-address={host}",
            f"--grpc-port={endpoints.grpc_port}",
            f"--metrics-address={host}",
            f"--metrics-port={endpoints.metrics_port}",
            "--allow-gpu-metrics=false",
            *self.extra_args,
        ]

    def start(self, timeout: float = 180.0) -> "TritonServer":
        if not self.models:
            raise ServerFailed(f"{self.repository} holds no model (no */config.pbtxt)")
        installation = TritonInstallation.find()
        self._backends = installation.assemble_backends(backends_folder())
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = installation.environment()
        with open(self.log_file, "wb") as log_stream:
            self.process = subprocess.Popen(
                self.command(installation, self._backends),
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        log.info("tritonserver started (pid %d), log: %s", self.process.pid, self.log_file)
        try:
            self.wait_until_ready(timeout)
        except BaseException:
            self.stop(drain_timeout=0)
            raise
        return self

    def model_ready(self, model: str) -> bool:
        status, _ = http_get(f"{self.endpoints.http}/v2/models/{model}/ready")
        return status == 200

    def unready_models(self) -> list[str]:
        return [model for model in self.models if not self.model_ready(model)]

    def dead_stubs(self) -> list[str]:
        """Model instances whose Python stub has died since the server became ready.

        Triton 2.51 neither restarts such a stub nor marks its model unready: requests to it fail
        with "Stub process '<instance>' is not healthy" until the server is restarted.
        """
        return dead_stubs(self.process.pid, self.stubs)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(self._failure_report(f"tritonserver exited with code {self.process.returncode}"))
            waiting = self.unready_models()
            if not waiting:
                log.info("all models ready: %s", ", ".join(self.models))
                self.stubs = python_stubs(self.process.pid)
                self._shared_memory = stub_shared_memory(self.process.pid)
                return
            if time.monotonic() > deadline:
                raise ServerFailed(self._failure_report(f"not ready after {timeout:.0f} s: {', '.join(waiting)}"))
            time.sleep(0.5)

    def _failure_report(self, summary: str) -> str:
        text = self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""
        failures = load_failures(text)
        lines = [summary]
        lines += [f"  model '{model}' failed to load: {reason}" for model, reason in failures.items()]
        if not failures:
            lines += ["  last lines of the server log:", *("    " + line for line in text.splitlines()[-15:])]
        lines.append(f"  full log: {self.log_file}")
        return "\n".join(lines)

    def drain(self, timeout: float) -> bool:
        """Close the ensembles and wait until none of their requests is in flight (drain.py); False at the timeout."""
        return drain(self.endpoints.http, self.repository_key, timeout, running=lambda: self.process.poll() is None)

    def stop(self, drain_timeout: float = 10.0, kill_after: float | None = None) -> int | None:
        """Let in-flight requests finish, then SIGTERM, then SIGKILL after `kill_after` (the exit timeout + 5 s)."""
        kill_after = self.exit_timeout + 5 if kill_after is None else kill_after
        if self.process is not None and self.process.poll() is None:
            if drain_timeout > 0 and not self.drain(drain_timeout):
                log.warning("ensemble requests still in flight after %.0f s; stopping anyway", drain_timeout)
            self.process.terminate()
            try:
                self.process.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                log.warning("tritonserver did not exit within %.0f s; killing it", kill_after)
                self.process.kill()
                self.process.wait()
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


def start_on_free_ports(repository: Path, log_file: Path, attempts: int = 3, **options) -> TritonServer:
    """A started server on free loopback ports, retrying when a port was taken in between."""
    for _ in range(attempts - 1):
        try:
            return TritonServer(repository, Endpoints.on_free_ports(), log_file=log_file, **options).start()
        except ServerFailed as error:
            if "already in use" not in str(error):
                raise
            log.warning("port conflict, retrying on other ports: %s", error)
    return TritonServer(repository, Endpoints.on_free_ports(), log_file=log_file, **options).start()
