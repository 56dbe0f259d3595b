"""Competition for the CPU, as a shared node or a CPU limit gives it: busy-loop processes beside the
server, and a cgroup CPU quota (a Kubernetes CPU limit) around it.

A quota needs root and a writable cgroup hierarchy (v1's cpu controller, or v2 with the cpu controller
enabled); `QuotaUnavailable` says why when the machine offers neither.
"""

import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server import processes

BUSY_LOOP = "while True: pass"
CGROUP_ROOT = Path("/sys/fs/cgroup")


class QuotaUnavailable(RuntimeError):
    pass


@contextmanager
def busy_loops(count: int):
    """`count` processes that each keep one core busy, for as long as the block runs."""
    loops = [processes.start([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            processes.stop(loop, grace=1, name="a busy loop")


@dataclass(frozen=True)
class Cgroup:
    """A cgroup of its own with a CPU quota: processes that join it are throttled to `cpus` CPUs."""

    folder: Path

    @classmethod
    def create(cls, cpus: float, period_us: int = 100_000) -> "Cgroup":
        if os.geteuid() != 0:
            raise QuotaUnavailable("a CPU quota needs root, to create a cgroup")
        name = f"benchmark-quota-{uuid.uuid4().hex[:8]}"
        quota = int(cpus * period_us)
        try:
            if (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists():
                folder = CGROUP_ROOT / "cpu" / name
                folder.mkdir()
                (folder / "cpu.cfs_period_us").write_text(str(period_us))
                (folder / "cpu.cfs_quota_us").write_text(str(quota))
                return cls(folder)
            if "cpu" in (CGROUP_ROOT / "cgroup.subtree_control").read_text().split():
                folder = CGROUP_ROOT / name
                folder.mkdir()
                (folder / "cpu.max").write_text(f"{quota} {period_us}")
                return cls(folder)
        except OSError as error:
            raise QuotaUnavailable(f"cannot create a cgroup with a CPU quota: {error}") from error
        raise QuotaUnavailable(f"no cgroup cpu controller to write under {CGROUP_ROOT}")

    @contextmanager
    def joined(self):
        """This process inside the cgroup for the block: what it starts meanwhile stays inside."""
        parent = self.folder.parent / "cgroup.procs"
        (self.folder / "cgroup.procs").write_text(str(os.getpid()))
        try:
            yield self
        finally:
            parent.write_text(str(os.getpid()))

    def throttling(self) -> dict[str, int]:
        """cpu.stat's counters: periods, and the periods in which the cgroup was throttled."""
        counters = dict(line.split() for line in (self.folder / "cpu.stat").read_text().splitlines())
        return {
            "periods": int(counters.get("nr_periods", 0)),
            "throttled": int(counters.get("nr_throttled", 0)),
        }

    def remove(self) -> None:
        """Move what is left to the parent, then remove the folder."""
        parent = self.folder.parent / "cgroup.procs"
        for pid in (self.folder / "cgroup.procs").read_text().split():
            try:
                parent.write_text(pid)
            except OSError:
                pass  # the process has exited meanwhile
        self.folder.rmdir()


@contextmanager
def cpu_quota(cpus: float):
    """A cgroup limited to `cpus` CPUs, removed after the block."""
    cgroup = Cgroup.create(cpus)
    try:
        yield cgroup
    finally:
        cgroup.remove()
