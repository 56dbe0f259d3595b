"""The serving configuration: what Triton serves, where, and how long each step of a start and a stop may take.

One set of defaults, here, for both ways the server runs: the local launcher fills the configuration from
its command line (`python -m server`, __main__.py), the image's entry from the environment (container.py).
Deployment files that must agree with it (Kubernetes' and compose's grace periods) are checked against it
by tests/deployment. Standard library only: the image's entry imports it with the NGC image's python3.
"""

import argparse
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from conversion.repository import DEFAULT_REPOSITORY

# Beyond the exit timeout, before whoever stops tritonserver kills it; and beyond the drain and the
# exit timeout, before an orchestrator kills the container (its grace period: the stub watch, the
# store's fetch and the signal's delivery need a few seconds of their own).
KILL_MARGIN_SECONDS = 5
ORCHESTRATOR_MARGIN_SECONDS = 15

# The image's own paths, where it differs from a developer's machine.
IMAGE_DEFAULTS = {
    "repository": "/models",
    "store_cache": Path("/tmp/model-store"),
}


@dataclass(frozen=True)
class Endpoints:
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002

    @classmethod
    def from_http_url(cls, url: str) -> "Endpoints":
        """The endpoints whose HTTP URL is `url` (the others keep their default ports)."""
        parts = urlsplit(url)
        return cls(parts.hostname or cls.host, parts.port or 80)

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


# The image's variables (empty counts as unset, as the shell's ${NAME:-default}): the setting each fills, read how.
ENVIRONMENT = {
    "MODEL_REPOSITORY": ("repository", str),
    "STORE_CACHE": ("store_cache", Path),
    "DRAIN_TIMEOUT_SECS": ("drain_timeout", float),
    "EXIT_TIMEOUT_SECS": ("exit_timeout", int),
    "TRITON_ADMIN_KEY": ("admin_key", str),
    "TRITON_HTTP_URL": ("endpoints", Endpoints.from_http_url),  # for the drain and the health check
    "TRITON_READY_URL": ("ready_url", str),
    "SERVED_ENSEMBLES_FILE": ("served_ensembles_file", Path),
    "RESPONSE_CACHE_MB": ("response_cache_mb", int),
}


class ConfigError(ValueError):
    """A variable whose value cannot be read; the message names it."""


def user_store_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "model-store"


@dataclass(frozen=True)
class ServingConfig:
    repository: str = str(DEFAULT_REPOSITORY)  # a folder, or a version published with `python -m store publish`
    endpoints: Endpoints = Endpoints()
    store_cache: Path = field(default_factory=user_store_cache)  # where s3:// versions are downloaded
    ready_timeout: float = 180.0  # seconds for every model to load
    drain_timeout: float = 30.0  # seconds the drain lets ensemble requests finish on a stop (drain.py)
    exit_timeout: int = 30  # Triton's --exit-timeout-secs: what it then waits for requests outside ensembles
    restart_drain_timeout: float = 5.0  # the drain before a restart: a server with a dead stub answers little
    admin_key: str | None = None  # the logging, trace and shared-memory APIs' key; closed without one
    open_model_control: bool = False  # load and unload open to every client (Model Analyzer's remote mode)
    log_file: Path | None = None  # the launcher's tritonserver log
    ready_url: str | None = None  # what the image's stub watch waits on; Triton's /v2/health/ready by default
    served_ensembles_file: Path = Path("/tmp/served-ensembles")  # the image's record for its health check
    # MiB of Triton's response cache, which answers a repeated ensemble request without running it;
    # none by default: it keys on the texts alone, not on the outputs a request asks for (docs/server.md).
    response_cache_mb: int = 0

    @property
    def kill_after(self) -> float:
        """Seconds from SIGTERM until tritonserver is killed: its exit timeout and a margin."""
        return self.exit_timeout + KILL_MARGIN_SECONDS

    @property
    def termination_grace_period(self) -> int:
        """The seconds an orchestrator must allow a stop: the drain, Triton's exit timeout and a margin."""
        return int(self.drain_timeout) + int(self.exit_timeout) + ORCHESTRATOR_MARGIN_SECONDS

    @property
    def readiness_url(self) -> str:
        return self.ready_url or f"{self.endpoints.http}/v2/health/ready"

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> "ServingConfig":
        """The image's configuration: its paths, then each variable of ENVIRONMENT that is set and not empty."""
        env = os.environ if env is None else env
        values = dict(IMAGE_DEFAULTS)
        for variable, (name, read) in ENVIRONMENT.items():
            if env.get(variable):
                try:
                    values[name] = read(env[variable])
                except ValueError as error:
                    raise ConfigError(f"{variable}={env[variable]!r} cannot be read: {error}") from None
        return cls(**values)

    def with_arguments(self, args: argparse.Namespace) -> "ServingConfig":
        """This configuration with the launcher's options (add_arguments) applied."""
        endpoints = Endpoints(args.host, args.http_port, args.grpc_port, args.metrics_port)
        return replace(
            self,
            repository=args.model_repository,
            endpoints=endpoints,
            store_cache=args.store_cache,
            log_file=args.log_file,
            ready_timeout=args.ready_timeout,
            drain_timeout=args.drain_timeout,
            open_model_control=args.open_model_control,
            response_cache_mb=args.response_cache_mb,
        )


def add_arguments(parser: argparse.ArgumentParser, defaults: ServingConfig) -> None:
    """The launcher's serving options, defaulting to `defaults`."""
    endpoints = defaults.endpoints
    parser.add_argument("--model-repository", default=defaults.repository, help="folder or s3:// version (default: %(default)s)")
    parser.add_argument(
        "--store-cache", type=Path, default=defaults.store_cache, help="where s3:// versions are downloaded (default: %(default)s)"
    )
    parser.add_argument("--host", default=endpoints.host, help="address to bind (default: loopback only)")
    parser.add_argument("--http-port", type=int, default=endpoints.http_port)
    parser.add_argument("--grpc-port", type=int, default=endpoints.grpc_port)
    parser.add_argument("--metrics-port", type=int, default=endpoints.metrics_port)
    parser.add_argument("--log-file", type=Path, help="server log (default: logs/tritonserver-<time>.log)")
    parser.add_argument("--ready-timeout", type=float, default=defaults.ready_timeout, help="seconds for every model to load")
    parser.add_argument(
        "--drain-timeout", type=float, default=defaults.drain_timeout, help="seconds to let requests finish on stop"
    )
    parser.add_argument(
        "--response-cache-mb", type=_not_negative, default=defaults.response_cache_mb, metavar="MB",
        help="answer repeated texts from Triton's response cache of this many MiB (default: %(default)s, none); "
        "it keys on the texts only, so every client must ask for the same outputs (docs/server.md)",
    )  # fmt: skip
    parser.add_argument(
        "--open-model-control", action="store_true",
        help="let every client load and unload models, with config overrides (Model Analyzer's remote mode); "
        "a restart then follows only a tritonserver exit. For a profiling server that carries no traffic",
    )  # fmt: skip


def _not_negative(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number of MiB, 0 or more, not {value!r}")
    return int(value)
