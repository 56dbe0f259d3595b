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
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from conversion.repository import Repository
from store import StoreError, fetch

from .config import ServingConfig, add_arguments
from .installation import TritonNotInstalled
from .supervisor import Supervisor
from .triton_flags import ADMIN_KEY_HEADER, RESTRICTED_APIS
from .triton_server import ServerFailed, TritonServer

log = logging.getLogger("server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser, ServingConfig())
    return parser.parse_args(argv)


def local_repository(repository: str, store_cache: Path) -> Path:
    """A folder as it is; a published version fetched into the cache and verified first."""
    if not repository.startswith("s3://"):
        return Path(repository)
    log.info("fetching %s", repository)
    return fetch(repository, store_cache)


def banner(server: TritonServer, source: str) -> str:
    endpoints = server.endpoints
    admin_access = f"need the header {ADMIN_KEY_HEADER}: $TRITON_ADMIN_KEY" if _operator_key() else "closed"
    model_control = "open to every client (--open-model-control)" if server.config.open_model_control else "the launcher's own, to drain"
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
    config = ServingConfig(admin_key=_operator_key()).with_arguments(parse_args(argv))
    try:
        folder = local_repository(config.repository, config.store_cache)
    except StoreError as error:
        log.error("%s", error)
        return 1

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop_requested.set())

    supervisor = Supervisor(replace(config, repository=str(folder)))
    try:
        supervisor.start()
    except (ServerFailed, TritonNotInstalled) as error:
        log.error("%s", error)
        return 1
    log.info("%s", banner(supervisor.server, config.repository))

    served = supervisor.run(stop_requested)
    if served:
        log.info("stopping: letting in-flight requests finish")
    supervisor.server.stop(drain_timeout=config.drain_timeout if served else 0)
    return 0 if served else 1


if __name__ == "__main__":
    sys.exit(main())
