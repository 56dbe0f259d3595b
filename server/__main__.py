"""python -m server: serve a model repository with Triton in the foreground until SIGINT/SIGTERM."""

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .installation import TritonNotInstalled
from .process import Endpoints, ServerFailed, TritonServer

log = logging.getLogger("server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log-file", type=Path, help="server log (default: logs/tritonserver-<time>.log)")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds for every model to load")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to let requests finish on stop")
    return parser.parse_args(argv)


def banner(server: TritonServer) -> str:
    endpoints = server.endpoints
    return "\n".join(
        [
            f"Triton is serving {', '.join(server.models)} from {server.repository}",
            f"  HTTP     {endpoints.http}",
            f"  gRPC     {endpoints.grpc}",
            f"  metrics  {endpoints.metrics}",
            f"  log      {server.log_file}",
            "Query it:",
            f'  .venv/bin/python -m clients --url {endpoints.grpc} "I love this" "I hate mondays"',
            f"  curl -s {endpoints.http}/v2/models/sentiment/infer -d "
            """'{"inputs":[{"name":"TEXT","shape":[1,1],"datatype":"BYTES","data":["I love this"]}]}'""",
            "Ctrl-C stops it after in-flight requests finish.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    endpoints = Endpoints(args.host, args.http_port, args.grpc_port, args.metrics_port)
    server = TritonServer(args.model_repository, endpoints, log_file=args.log_file)

    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop_requested.set())

    try:
        server.start(timeout=args.ready_timeout)
    except (ServerFailed, TritonNotInstalled) as error:
        log.error("%s", error)
        return 1
    log.info("%s", banner(server))

    while not stop_requested.wait(timeout=1.0):
        if server.process.poll() is not None:
            log.error("tritonserver exited unexpectedly with code %d; see %s", server.process.returncode, server.log_file)
            return 1
    log.info("stopping: letting in-flight requests finish")
    server.stop(drain_timeout=args.drain_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
