"""Which of a ready server's Python stubs have died: the launcher restarts the server then (supervisor.py),
the image's entry ends the container (container.py).

Triton 2.51 does not restart a Python stub that died (the Python backend dropped automatic restart in
2024) and still reports its model ready (`/v2/models/<name>/ready` follows stub health only in later
releases): requests to it fail with "Stub process '<instance>' is not healthy" until the server restarts,
and model control cannot reload the one model. So the stub processes themselves are watched.
Standard library only: the image's entry uses it with the NGC image's python3.
"""

from .procfs import dead_stubs, python_stubs

CHECK_SECONDS = 2.0  # how often the image's entry looks; the launcher looks at its supervisor's interval


class StubWatch:
    """The stubs of a server that is ready (model instance → pid), recorded once, and which have died since."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.stubs = python_stubs(server_pid)

    def dead(self) -> list[str]:
        return dead_stubs(self.server_pid, self.stubs)
