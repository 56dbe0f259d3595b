"""Decide from Triton's metrics when no request is left in flight, so the server can stop safely.

Triton 2.51 stops every composing model's scheduler at once on SIGTERM, failing ensemble requests
that are between steps. Its metrics count queued requests but not executing ones, so the server is
taken as idle once nothing is queued and no request has completed for a quiet period: three times
the slowest model's average batch time, and at least half a second.
"""

import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

_SAMPLE = re.compile(r'^(?P<name>nv_inference_\w+)\{(?:[^}]*,)?model="(?P<model>[^"]+)"[^}]*\} (?P<value>\S+)$', re.MULTILINE)
MIN_QUIET_SECONDS = 0.5


@dataclass(frozen=True)
class Load:
    pending: float  # requests queued in any model
    completed: float  # requests answered (success or failure), over all models
    slowest_batch_seconds: float  # the slowest model's average execution time per batch

    @classmethod
    def from_metrics(cls, text: str) -> "Load":
        values: dict[tuple[str, str], float] = {}
        for match in _SAMPLE.finditer(text):
            key = (match["name"], match["model"])
            values[key] = values.get(key, 0.0) + float(match["value"])

        def total(name: str) -> float:
            return sum(value for (metric, _), value in values.items() if metric == name)

        batch_seconds = [
            values.get(("nv_inference_compute_infer_duration_us", model), 0.0) / count / 1e6
            for (metric, model), count in values.items()
            if metric == "nv_inference_exec_count" and count > 0
        ]
        return cls(
            pending=total("nv_inference_pending_request_count"),
            completed=total("nv_inference_request_success") + total("nv_inference_request_failure"),
            slowest_batch_seconds=max(batch_seconds, default=0.0),
        )

    def quiet_period(self) -> float:
        return max(MIN_QUIET_SECONDS, 3 * self.slowest_batch_seconds)


class DrainWatch:
    """Feed it metrics snapshots over time; idle() says when the server has been quiet long enough."""

    def __init__(self):
        self._last: Load | None = None
        self._quiet_since: float | None = None

    def idle(self, load: Load, now: float) -> bool:
        busy = load.pending > 0 or self._last is None or load.completed != self._last.completed
        self._last = load
        if busy:
            self._quiet_since = now
            return False
        return now - self._quiet_since >= load.quiet_period()


def read_metrics(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode("utf-8", "replace")
    except OSError:  # refused, timed out, or an HTTP error status
        return None


def wait_until_idle(metrics_url: str, timeout: float, running: Callable[[], bool] = lambda: True) -> bool:
    """True once the server is idle, unreachable or no longer `running`; False at the timeout."""
    deadline, watch = time.monotonic() + timeout, DrainWatch()
    while time.monotonic() < deadline and running():
        text = read_metrics(metrics_url)
        if text is None or watch.idle(Load.from_metrics(text), time.monotonic()):
            return True
        time.sleep(0.05)
    return not running()
