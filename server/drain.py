"""Let every ensemble request in flight finish before the server is signalled, exactly.

Triton 2.51 stops every composing model's scheduler at once on SIGTERM, failing ensemble requests
that are between two steps. Its metrics cannot tell when none is left (they count queued requests,
not executing ones, and the ensemble's own gauge stays at zero), so the drain asks Triton itself:
it unloads each ensemble through the model-repository API. Triton then refuses new requests to the
ensemble at once, lets the ones in flight run through every step, and reports the ensemble
UNAVAILABLE only after the last has finished. The composing models stay loaded; requests sent to
one of them directly are single-model requests, which Triton's own shutdown lets finish.

This needs --model-control-mode=explicit. The model-repository API is restricted to a key that only
the process stopping the server holds (REPOSITORY_KEY_HEADER), so nobody else can load or unload.
The server image's entry (container.py) drains with it too: it imports only the standard library.
"""

import time
import urllib.error
from collections.abc import Callable

from .http_calls import call_json
from .triton_flags import REPOSITORY_KEY_HEADER

POLL_SECONDS = 0.05


class RepositoryApi:
    """The few model-repository and model-config calls the drain makes, over HTTP."""

    def __init__(self, http_url: str, key: str):
        self.http_url = http_url.rstrip("/")
        self.key = key

    def _call(self, path: str, body: dict | None = None) -> object:
        return call_json(f"{self.http_url}{path}", {REPOSITORY_KEY_HEADER: self.key}, body)

    def states(self) -> dict[str, str]:
        """Model name → state (READY, UNLOADING, UNAVAILABLE, ...) of every model in the repository."""
        return {entry["name"]: entry.get("state", "") for entry in self._call("/v2/repository/index", {}) or []}

    def ensembles(self) -> list[str]:
        ready = [name for name, state in self.states().items() if state == "READY"]
        return [name for name in ready if self._call(f"/v2/models/{name}/config").get("platform") == "ensemble"]

    def unload(self, model: str) -> None:
        self._call(f"/v2/repository/models/{model}/unload", {"parameters": {"unload_dependents": False}})


def finished(states: dict[str, str], ensembles: list[str]) -> bool:
    """True once no ensemble is loaded or unloading: Triton has seen its last in-flight request through."""
    return all(states.get(name, "UNAVAILABLE") not in ("READY", "UNLOADING", "LOADING") for name in ensembles)


def drain(http_url: str, key: str, timeout: float, running: Callable[[], bool] = lambda: True) -> bool:
    """Close the ensembles to new requests and wait for those in flight; True once none is left
    (or no server answers any more), False at the timeout or when the server refuses the calls."""
    api = RepositoryApi(http_url, key)
    deadline = time.monotonic() + timeout
    ensembles: list[str] | None = None
    while running():
        try:
            if ensembles is None:
                ensembles = api.ensembles()
                for name in ensembles:
                    api.unload(name)
            if finished(api.states(), ensembles):
                return True
        except urllib.error.HTTPError:
            return False  # the server answered but refused: it cannot be drained this way
        except OSError as error:  # URLError, refused or reset connections, timeouts
            if not _timed_out(error):
                return True  # nothing listens any more: nothing is left in flight
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _timed_out(error: Exception) -> bool:
    return isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError)
