"""Keep the service up: restart tritonserver when it exits, a Python stub dies, or a model stays unready.

Triton 2.51 does not restart a Python stub that died (the Python backend dropped automatic restart
in 2024) and still reports its model ready (`/v2/models/<name>/ready` follows stub health only in
later releases), and model control mode none forbids reloading a single model. So the launcher
watches the stub processes as well as per-model readiness, and restarts the server on the same ports.
"""

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .process import ServerFailed, TritonServer

log = logging.getLogger(__name__)


@dataclass
class RestartBudget:
    """At most `limit` restarts in any `window_seconds`: past that, something a restart cannot fix is wrong."""

    limit: int = 5
    window_seconds: float = 600.0
    times: deque = field(default_factory=deque)

    def take(self, now: float) -> bool:
        while self.times and now - self.times[0] > self.window_seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


@dataclass
class HealthWatch:
    """Says what is wrong: the server exited, a stub died, or a model was unready on `grace` checks in a row."""

    grace: int = 2
    unready_checks: int = 0

    def problem(self, exit_code: int | None, dead_stubs: list[str], unready: list[str]) -> str | None:
        if exit_code is not None:
            return f"tritonserver exited with code {exit_code}"
        if dead_stubs:
            return f"Python stub process(es) gone: {', '.join(dead_stubs)}"
        self.unready_checks = self.unready_checks + 1 if unready else 0
        if self.unready_checks >= self.grace:
            return f"model(s) not ready: {', '.join(unready)}"
        return None


class Supervisor:
    """Runs a server from `start` and restarts it when HealthWatch reports a problem."""

    def __init__(
        self,
        start: Callable[[], TritonServer],
        interval: float = 1.0,
        budget: RestartBudget | None = None,
        restart_drain_seconds: float = 5.0,
        restart_kill_after: float = 5.0,
        watch_models: bool = True,
    ):
        self.start = start
        self.watch_models = watch_models  # stubs and readiness; without, only the server's exit
        self.interval = interval
        self.budget = budget or RestartBudget()
        self.restart_drain_seconds = restart_drain_seconds
        # A server with a dead stub waits its whole exit timeout for it: do not wait that long.
        self.restart_kill_after = restart_kill_after
        self.server: TritonServer | None = None

    def run(self, stop_requested) -> bool:
        """Serve until `stop_requested` (a threading.Event) is set: True, or False once restarts stop helping."""
        watch = HealthWatch()
        while not stop_requested.wait(timeout=self.interval):
            if self.server.process.poll() is not None:
                problem = watch.problem(self.server.process.returncode, [], [])
            elif self.watch_models:
                problem = watch.problem(None, self.server.dead_stubs(), self.server.unready_models())
            else:
                problem = None
            if problem is None:
                continue
            log.error("%s; restarting tritonserver (log: %s)", problem, self.server.log_file)
            if not self.restart(stop_requested):
                return False
            watch = HealthWatch()
        return True

    def restart(self, stop_requested) -> bool:
        began = time.monotonic()
        self.server.stop(drain_timeout=self.restart_drain_seconds, kill_after=self.restart_kill_after)
        while not stop_requested.is_set():
            if not self.budget.take(time.monotonic()):
                log.error(
                    "giving up: %d restarts within %.0f s did not keep the models ready",
                    self.budget.limit, self.budget.window_seconds,
                )  # fmt: skip
                return False
            try:
                self.server = self.start()
            except ServerFailed as error:
                log.error("restart failed: %s", error)
                stop_requested.wait(timeout=self.interval)
                continue
            log.warning("service restored %.1f s after the restart began", time.monotonic() - began)
            return True
        return True
