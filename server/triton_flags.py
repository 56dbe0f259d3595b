"""The one definition of the flags Triton serves with, locally (triton_server.py) and in the server image (container.py).

Explicit model control lets the drain unload the ensembles on stop (drain.py); every model still loads at
start. The logging, trace and shared-memory APIs answer only requests carrying the operator's admin key;
load and unload (the model-repository API) answer only a key made for each start, which only the process
that stops the server holds. Inference, health, metadata, statistics and metrics stay open.
Standard library only: the image's entry imports it with the NGC image's python3.
"""

import secrets

RESTRICTED_APIS = ("logging", "trace", "shared-memory")
ADMIN_KEY_HEADER = "admin-key"
REPOSITORY_KEY_HEADER = "repository-key"  # what the drain (drain.py) sends with its load and unload calls
REPOSITORY_API = "model-repository"


def new_key() -> str:
    """A random key (64 hex digits), for the repository API at each start or an admin key nobody knows."""
    return secrets.token_hex(32)


def restricted_api_flags(admin_key: str, repository_key: str | None) -> list[str]:
    """The restricted APIs and their keys, over HTTP and gRPC; without a repository key, load and
    unload are open to every client (`python -m server --open-model-control`)."""
    restricted = f"{','.join(RESTRICTED_APIS)}:{ADMIN_KEY_HEADER}={admin_key}"
    flags = [f"--http-restricted-api={restricted}", f"--grpc-restricted-protocol={restricted}"]
    if repository_key is not None:
        repository_api = f"{REPOSITORY_API}:{REPOSITORY_KEY_HEADER}={repository_key}"
        flags += [f"--http-restricted-api={repository_api}", f"--grpc-restricted-protocol={repository_api}"]
    return flags


def response_cache_flags(megabytes: int) -> list[str]:
    """Triton's local response cache of `megabytes` MiB, which the ensembles' configs opt into; none at 0.
    Its library is found in Triton's cache directory (the image's default; the launcher names the wheel's)."""
    return [f"--cache-config=local,size={megabytes * 2**20}"] if megabytes > 0 else []


def serving_flags(
    repository: str, admin_key: str, repository_key: str | None, exit_timeout: int | str, response_cache_mb: int = 0
) -> list[str]:
    """tritonserver's flags wherever it runs; addresses, ports and backends are the caller's to add."""
    return [
        f"--model-repository={repository}",
        "--model-control-mode=explicit",
        "--load-model=*",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--exit-timeout-secs={exit_timeout}",
        *restricted_api_flags(admin_key, repository_key),
        *response_cache_flags(response_cache_mb),
    ]
