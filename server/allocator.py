"""The memory allocator that Triton and its Python stubs run with: tcmalloc where it is installed.

glibc's malloc raises its mmap threshold as large blocks are freed, after which tensors of every
shape come from the heap and fragment it: under load the classifier stub grows. Fixing the threshold
(MALLOC_MMAP_THRESHOLD_) stops the growth but maps and faults in every tensor over 1 MiB afresh,
which slows the classifier. tcmalloc, which Triton's documentation recommends for memory growth and
the NGC image ships, does neither. tcmalloc keeps what is freed in per-thread caches and its page
heap, which tritonserver's many threads multiply: TCMALLOC_SETTINGS bounds the thread caches and
returns freed pages to the system sooner. The measurements: benchmarks/results/settings.md.
"""

import logging
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# The full library first (what the NGC image has), then the minimal one (Debian's
# libtcmalloc-minimal4, what `make setup` installs).
TCMALLOC_NAMES = ("libtcmalloc.so.4", "libtcmalloc_minimal.so.4")
GLIBC_MMAP_THRESHOLD = 1 << 20
TCMALLOC_SETTINGS = {
    "TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES": str(8 << 20),  # tcmalloc's default is 32 MiB
    "TCMALLOC_RELEASE_RATE": "10",  # the top of tcmalloc's range; its default is 1
}


def library_directories() -> list[Path]:
    return [Path(f"/usr/lib/{platform.machine()}-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib")]


def find_tcmalloc(directories: list[Path] | None = None) -> Path | None:
    for directory in directories if directories is not None else library_directories():
        for name in TCMALLOC_NAMES:
            if (directory / name).is_file():
                return directory / name
    return None


def _preloaded_allocators(preload: str) -> list[str]:
    """The file names in an LD_PRELOAD value (colon- or space-separated) that name a malloc."""
    names = [Path(entry).name for entry in preload.replace(" ", ":").split(":") if entry]
    return [name for name in names if "malloc" in name]


def preloads_an_allocator(preload: str) -> bool:
    return bool(_preloaded_allocators(preload))


def with_allocator(env: dict[str, str], tcmalloc: Path | None) -> dict[str, str]:
    """`env` with tcmalloc preloaded and bounded (TCMALLOC_SETTINGS, unless `env` sets them); without
    tcmalloc, with glibc's mmap threshold fixed instead.

    An allocator the caller already preloads (jemalloc, say) is kept as it is.
    """
    env = dict(env)
    preload = env.get("LD_PRELOAD", "")
    if preloads_an_allocator(preload):
        return env
    if tcmalloc is None:
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(GLIBC_MMAP_THRESHOLD))
        return env
    env["LD_PRELOAD"] = ":".join(entry for entry in (str(tcmalloc), preload) if entry)
    for name, value in TCMALLOC_SETTINGS.items():
        env.setdefault(name, value)
    return env


def server_environment(env: dict[str, str], report: Callable[[str], None] = log.warning) -> dict[str, str]:
    """`env` with this machine's best allocator; `report` is told when tcmalloc is missing."""
    tcmalloc = find_tcmalloc()
    if tcmalloc is None and not preloads_an_allocator(env.get("LD_PRELOAD", "")):
        report(
            "tcmalloc not found; glibc malloc with a fixed mmap threshold, which keeps memory flat but slows "
            "the classifier by about 15 % (Debian: apt-get install libtcmalloc-minimal4)"
        )
    return with_allocator(env, tcmalloc)


def in_use(env: dict[str, str]) -> str:
    """The allocator a process started with `env` runs on, in words."""
    allocators = _preloaded_allocators(env.get("LD_PRELOAD", ""))
    if allocators:
        return allocators[0]
    threshold = env.get("MALLOC_MMAP_THRESHOLD_")
    return f"glibc malloc, MALLOC_MMAP_THRESHOLD_={threshold}" if threshold else "glibc malloc"


def rerun_with_allocator(module: str, argv: list[str]) -> None:
    """Start `python -m module argv` afresh under the servers' allocator unless this process already runs on it.

    Benchmarks run their in-process ceiling under it, so that ratios compare pipelines, not allocators.
    """
    env = server_environment(dict(os.environ))
    if env != dict(os.environ):
        os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
