"""Keep the service up: restart tritonserver, on the same ports, when it exits, a Python stub dies
(stub_watch.py says why that needs watching) or a model stays unready.
"""

import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace

from .config import KILL_MARGIN_SECONDS, ServingConfig
from .triton_server import ServerFailed, TritonServer

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
    """Runs a server of `config` and starts a new one when HealthWatch reports a problem."""

    def __init__(self, config: ServingConfig, interval: float = 1.0, budget: RestartBudget | None = None):
        self.config = config
        # Loading a model anew replaces its stubs and leaves it unready for a moment: with model control
        # open to clients, neither is a fault, so only tritonserver's exit is.
        self.watch_models = not config.open_model_control
        self.interval = interval
        self.budget = budget or RestartBudget()
        self.starts = 0
        self.server: TritonServer | None = None

    def start(self) -> TritonServer:
        """A new server, ready; after the first, its log beside the previous one's, which shows why it restarted."""
        config, log_file = self.config, self.config.log_file
        if log_file and self.starts:
            config = replace(config, log_file=log_file.with_name(f"{log_file.stem}-restart{self.starts}{log_file.suffix}"))
        self.starts += 1
        self.server = TritonServer(config).start()
        return self.server

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
        # A server with a dead stub waits its whole exit timeout for it: do not wait that long.
        self.server.stop(drain_timeout=self.config.restart_drain_timeout, kill_after=KILL_MARGIN_SECONDS)
        while not stop_requested.is_set():
            if not self.budget.take(time.monotonic()):
                log.error(
                    "giving up: %d restarts within %.0f s did not keep the models ready",
                    self.budget.limit, self.budget.window_seconds,
                )  # fmt: skip
                return False
            try:
                self.start()
            except ServerFailed as error:
                log.error("restart failed: %s", error)
                stop_requested.wait(timeout=self.interval)
                continue
            log.warning("service restored %.1f s after the restart began", time.monotonic() - began)
            return True
        return True
