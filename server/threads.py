"""How many threads Triton's processes run, and how their idle threads wait: sized to the CPU this
process may use, not to the machine's cores.

torch 2.13 sizes its intra-op pool from the machine's physical cores and ignores a cgroup CPU quota
(a Kubernetes CPU limit, docker's --cpus), and its OpenMP threads spin about 3 ms at every barrier
before they sleep. When another process holds a core, every parallel region waits for a thread that
is not running, and the served pipeline collapses beside busy processes (benchmarks/results/settings.md).
So tritonserver starts with the thread counts of the CPU it may use (affinity,
then the cgroup quota, then the limit Kubernetes passes down) and a short spin (WAIT_POLICY). Its
Python stubs and the native libtorch backend inherit that environment; libgomp reads it once, when
it loads, so it must be set before the server starts, which is why it is set here.

A setting the operator made always wins: OMP_NUM_THREADS or MKL_NUM_THREADS (then none of the
counts is set), RAYON_NUM_THREADS, OMP_WAIT_POLICY or GOMP_SPINCOUNT (then neither spin setting is),
and a model's INTRA_OP_THREAD_COUNT in config.pbtxt, which the backend applies over all of these.

Standard library only: the server image's entry (container.py) uses it too.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

# Idle OpenMP threads spin about 30 µs, not libgomp's 3 ms, then sleep: chosen by measurement
# (python -m benchmarks.wait_policy; the figures in benchmarks/results/settings.md).
WAIT_POLICY = {"GOMP_SPINCOUNT": "3000"}
# The thread counts torch (OpenMP and MKL) and HF tokenizers (rayon) read at start.
THREAD_COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
TORCH_COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Kubernetes' downward API can pass the container's CPU limit in millicores (deploy/k8s-cpu/).
LIMIT_VARIABLE = "CPU_LIMIT_MILLICORES"


@dataclass(frozen=True)
class CpuShare:
    """The CPU a process may use: the cores of its affinity mask, and the caps on them."""

    cores: int  # distinct physical cores in the affinity mask
    quota: float | None = None  # CPUs per period the cgroup allows, None without a quota
    limit: float | None = None  # the limit passed in $CPU_LIMIT_MILLICORES, in CPUs

    @property
    def threads(self) -> int:
        """Threads that can all run at once: the cores, capped by the quota and the limit rounded down,
        at least one. Down, because a parallel region waits for its last thread, and a thread the
        quota cannot run holds up every other."""
        caps = [math.floor(cap) for cap in (self.quota, self.limit) if cap is not None]
        return max(1, min([self.cores, *caps]))

    def describe(self) -> str:
        parts = [f"{self.cores} core{'s' if self.cores != 1 else ''}"]
        parts.append(f"cgroup quota {self.quota:g} CPUs" if self.quota is not None else "no cgroup quota")
        if self.limit is not None:
            parts.append(f"limit {self.limit:g} CPUs")
        return ", ".join(parts)


def cpu_share(env: dict[str, str] | None = None, root: Path = Path("/")) -> CpuShare:
    """This process's CPU share; `root` is where /proc and /sys are found (tests give a fake tree)."""
    env = os.environ if env is None else env
    limit = env.get(LIMIT_VARIABLE, "").strip()
    return CpuShare(
        cores=physical_cores(os.sched_getaffinity(0), root),
        quota=cgroup_quota(root),
        limit=int(limit) / 1000 if limit.isdigit() and int(limit) > 0 else None,
    )


def physical_cores(cpus: set[int], root: Path = Path("/")) -> int:
    """Distinct cores among `cpus`: hyperthreads of one core count once, as torch counts them."""
    siblings = set()
    for cpu in cpus:
        topology = root / f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        siblings.add(_read(topology) or str(cpu))
    return max(1, len(siblings))


def cgroup_quota(root: Path = Path("/")) -> float | None:
    """The smallest CPU quota of this process's cgroup and its ancestors, in CPUs; None without one.

    cgroup v1 (cpu.cfs_quota_us over cpu.cfs_period_us, -1 meaning none) where the cpu controller is
    mounted as v1, else v2 (cpu.max, "max 100000" meaning none).
    """
    cgroups = _cgroup_paths(_read(root / "proc/self/cgroup") or "")
    mounts = _cgroup_mounts(_read(root / "proc/self/mountinfo") or "")
    if "cpu" in cgroups and "cpu" in mounts:
        return _smallest_quota(root, mounts["cpu"], cgroups["cpu"], _v1_quota)
    if "" in cgroups and "" in mounts:
        return _smallest_quota(root, mounts[""], cgroups[""], _v2_quota)
    return None


def _cgroup_paths(text: str) -> dict[str, str]:
    """/proc/self/cgroup → controller → cgroup path; "" for the v2 hierarchy ("0::/path")."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _cgroup_mounts(text: str) -> dict[str, tuple[str, str]]:
    """/proc/self/mountinfo → controller → (the mount's root within the hierarchy, its mount point)."""
    mounts = {}
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        fstype, *rest = line.split(" - ", 1)[1].split()
        if fstype == "cgroup2":
            mounts.setdefault("", (fields[3], fields[4]))
        elif fstype == "cgroup" and len(rest) >= 2:
            for option in rest[1].split(","):
                if option == "cpu":
                    mounts["cpu"] = (fields[3], fields[4])
    return mounts


def _smallest_quota(root: Path, mount: tuple[str, str], cgroup: str, read_quota) -> float | None:
    """The smallest quota from the process's cgroup folder up to the mount point."""
    mount_root, mount_point = mount
    relative = os.path.relpath(cgroup, mount_root) if cgroup.startswith(mount_root) else "."
    folder = root / mount_point.lstrip("/") / ("" if relative == "." else relative)
    top = root / mount_point.lstrip("/")
    quotas = []
    while True:
        quota = read_quota(folder)
        if quota is not None:
            quotas.append(quota)
        if folder == top or top not in folder.parents:
            break
        folder = folder.parent
    return min(quotas, default=None)


def _v1_quota(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if quota is None or period is None or int(quota) <= 0 or int(period) <= 0:
        return None
    return int(quota) / int(period)


def _v2_quota(folder: Path) -> float | None:
    fields = (_read(folder / "cpu.max") or "").split()
    if not fields or fields[0] == "max":
        return None
    period = int(fields[1]) if len(fields) > 1 else 100_000
    return int(fields[0]) / period if period > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def with_thread_settings(env: dict[str, str], share: CpuShare) -> dict[str, str]:
    """`env` with thread counts for `share` and WAIT_POLICY, each unless the operator set its own."""
    env = dict(env)
    threads = str(share.threads)
    if not any(env.get(name) for name in TORCH_COUNTS):
        env.update({name: threads for name in TORCH_COUNTS})
    if not env.get("RAYON_NUM_THREADS"):
        env["RAYON_NUM_THREADS"] = threads
    if not any(env.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")):
        env.update(WAIT_POLICY)
    return env


def thread_settings(env: dict[str, str]) -> str:
    """The settings a process started with `env` runs on, in words (for logs and reports)."""
    names = [*THREAD_COUNTS, "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"]
    return " ".join(f"{name}={env[name]}" for name in names if env.get(name)) or "torch's defaults"
