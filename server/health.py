"""python3 -m server.health: exits 0 when every ensemble the container serves is ready, 1 otherwise.

The server image's HEALTHCHECK and the Kubernetes probes run it. It asks Triton for
/v2/models/<ensemble>/ready of each ensemble the image's entry (container.py) found in the served folder:
one per pipeline, so a pipeline whose models did not load, or whose ensemble is unloaded, makes the
container not ready. The drain unloads every ensemble, so traffic stops while it runs. /v2/health/ready
is no substitute: it can stay 200 while a model is broken.

The names come from $SERVED_ENSEMBLES_FILE (default /tmp/served-ensembles), which the entry writes
once it knows the served folder: only after fetching an s3:// version, and compose sets
MODEL_REPOSITORY inside its entrypoint's shell, out of a health check's reach. Triton's URL is
$TRITON_HTTP_URL, as for the drain. One line on stdout says what was found (Docker keeps it with the
health status). Standard library only: the NGC image's python3 has nothing else.
"""

import sys
from pathlib import Path

from .config import ConfigError, ServingConfig
from .http_calls import http_get

TIMEOUT_SECONDS = 2.0  # per call; the probes allow 5 s in all


def served_ensembles(path: Path) -> list[str] | None:
    """The names the entry recorded; None before it has recorded any."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]


def not_ready(http_url: str, ensembles: list[str]) -> dict[str, str]:
    """Ensemble → why it is not ready, for each that is not; {} when all are.
    Raises ConnectionError when nothing answers at `http_url`."""
    reasons = {}
    for name in ensembles:
        status, _ = http_get(f"{http_url.rstrip('/')}/v2/models/{name}/ready", timeout=TIMEOUT_SECONDS)
        if status == 0:
            raise ConnectionError(f"no answer from Triton at {http_url}")
        if status != 200:
            reasons[name] = f"HTTP {status}"
    return reasons


def check() -> tuple[bool, str]:
    """(healthy, the line that says why)."""
    try:
        config = ServingConfig.from_environment()
    except ConfigError as error:
        return False, f"not ready: {error}"
    ensembles = served_ensembles(config.served_ensembles_file)
    if ensembles is None:
        return False, f"not ready: {config.served_ensembles_file} is not written yet (the entry writes it at start)"
    if not ensembles:
        return False, "not ready: the served repository holds no ensemble"
    try:
        reasons = not_ready(config.endpoints.http, ensembles)
    except ConnectionError as error:
        return False, f"not ready: {error}"
    if reasons:
        return False, "not ready: " + ", ".join(f"{name} ({reason})" for name, reason in reasons.items())
    return True, f"ready: {', '.join(ensembles)}"


def main() -> int:
    healthy, line = check()
    print(line, flush=True)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
