"""python -m server: serve a model repository with Triton in the foreground until SIGINT/SIGTERM.

The logging, trace and shared-memory APIs answer only requests carrying the HTTP header admin-key (gRPC
metadata triton-grpc-protocol-admin-key) set to $TRITON_ADMIN_KEY; without that variable they are closed.
The model-repository API answers only the launcher, which uses it to drain on stop: the ensemble is closed
to new requests and the server is signalled once the last request inside has finished. A server that exits
or a model that stops being ready (a crashed Python stub) is restarted on the same ports.
--open-model-control opens load and unload to every client, for Model Analyzer's remote mode.

--model-repository takes a folder or a version published with `python -m store publish`
(s3://bucket/path/<version>, or s3://http://host:port/bucket/path/<version> for any S3-compatible
store): the version is downloaded and every file checked against its manifest before Triton starts.
"""

import argparse
import itertools
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from conversion.repository import DEFAULT_REPOSITORY, Repository
from store import StoreError, fetch

from .installation import TritonNotInstalled
from .process import Endpoints, ServerFailed, TritonServer
from .supervisor import Supervisor
from .triton_flags import ADMIN_KEY_HEADER, RESTRICTED_APIS

log = logging.getLogger("server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", default=str(DEFAULT_REPOSITORY), help="folder or s3:// version (default: %(default)s)")
    parser.add_argument(
        "--store-cache", type=Path, default=_default_store_cache(), help="where s3:// versions are downloaded (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log-file", type=Path, help="server log (default: logs/tritonserver-<time>.log)")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds for every model to load")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to let requests finish on stop")
    parser.add_argument(
        "--open-model-control", action="store_true",
        help="let every client load and unload models, with config overrides (Model Analyzer's remote mode); "
        "a restart then follows only a tritonserver exit. For a profiling server that carries no traffic",
    )  # fmt: skip
    return parser.parse_args(argv)


def _default_store_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "model-store"


def local_repository(repository: str, store_cache: Path) -> Path:
    """A folder as it is; a published version fetched into the cache and verified first."""
    if not repository.startswith("s3://"):
        return Path(repository)
    log.info("fetching %s", repository)
    return fetch(repository, store_cache)


def banner(server: TritonServer, source: str) -> str:
    endpoints = server.endpoints
    admin_access = f"need the header {ADMIN_KEY_HEADER}: $TRITON_ADMIN_KEY" if _operator_key() else "closed"
    model_control = "open to every client (--open-model-control)" if server.open_model_control else "the launcher's own, to drain"
    fetched = [f"  files    {server.repository} (verified against the version's manifest)"] if source.startswith("s3://") else []
    pipelines = Repository(server.repository).pipelines()
    queries = [f"  .venv/bin/python -m clients --url {endpoints.grpc} --model {name} \"I love this\"" for name in pipelines]
    queries += [
        f"  curl -s {endpoints.http}/v2/models/{name}/infer -d "
        """'{"inputs":[{"name":"TEXT","shape":[1,1],"datatype":"BYTES","data":["I love this"]}]}'"""
        for name in pipelines[:1]
    ]
    return "\n".join(
        [
            f"Triton is serving {', '.join(pipelines) or 'no converted pipeline'} from {source}",
            f"  models   {', '.join(server.models)}",
            *fetched,
            f"  HTTP     {endpoints.http}",
            f"  gRPC     {endpoints.grpc}",
            f"  metrics  {endpoints.metrics}",
            f"  log      {server.log_file}",
            f"  {', '.join(RESTRICTED_APIS)} APIs: {admin_access}",
            f"  load/unload: {model_control}",
            "Query it:",
            *queries,
            "Ctrl-C stops it after in-flight requests finish.",
        ]
    )


def _operator_key() -> str | None:
    return os.environ.get("TRITON_ADMIN_KEY") or None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    endpoints = Endpoints(args.host, args.http_port, args.grpc_port, args.metrics_port)

    try:
        repository = local_repository(args.model_repository, args.store_cache)
    except StoreError as error:
        log.error("%s", error)
        return 1

    starts = itertools.count()

    def start() -> TritonServer:
        log_file = args.log_file
        attempt = next(starts)
        if log_file and attempt:  # keep the log that shows why the previous server was restarted
            log_file = log_file.with_name(f"{log_file.stem}-restart{attempt}{log_file.suffix}")
        server = TritonServer(repository, endpoints, log_file=log_file, admin_key=_operator_key(), open_model_control=args.open_model_control)
        return server.start(timeout=args.ready_timeout)

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop_requested.set())

    # Loading a model anew replaces its stubs and leaves it unready for a moment: with model control
    # open to clients, neither is a fault, so only tritonserver's exit is.
    supervisor = Supervisor(start, watch_models=not args.open_model_control)
    try:
        supervisor.server = start()
    except (ServerFailed, TritonNotInstalled) as error:
        log.error("%s", error)
        return 1
    log.info("%s", banner(supervisor.server, args.model_repository))

    served = supervisor.run(stop_requested)
    if served:
        log.info("stopping: letting in-flight requests finish")
    supervisor.server.stop(drain_timeout=args.drain_timeout if served else 0)
    return 0 if served else 1


if __name__ == "__main__":
    sys.exit(main())
