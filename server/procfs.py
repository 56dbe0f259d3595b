"""The server's process tree from /proc: its Python stubs by model instance, and resident memory."""

import os
from pathlib import Path

STUB_BINARY = "triton_python_backend_stub"
SHARED_MEMORY = Path("/dev/shm")
# The stub's argv: binary, model.py, shared-memory region, two sizes, parent pid, backend dir, ipc, instance name
_REGION_ARGUMENT, _INSTANCE_ARGUMENT = 2, 8


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # the process ended meanwhile
        return []


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces


def children(pid: int) -> dict[int, list[str]]:
    """The live child processes of `pid`: pid → command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            found[int(entry.name)] = _command_line(int(entry.name))
    return found


def _stub_command_lines(server_pid: int) -> dict[int, list[str]]:
    return {
        pid: argv
        for pid, argv in children(server_pid).items()
        if argv and argv[0].endswith(STUB_BINARY) and len(argv) > _INSTANCE_ARGUMENT
    }


def python_stubs(server_pid: int) -> dict[str, int]:
    """Model instance name (e.g. "tokenizer_0_0") → pid of its stub, for the stubs started by `server_pid`."""
    return {argv[_INSTANCE_ARGUMENT]: pid for pid, argv in _stub_command_lines(server_pid).items()}


def dead_stubs(server_pid: int, recorded: dict[str, int]) -> list[str]:
    """The instances of `recorded` (instance → pid, from python_stubs) whose stub is no longer running."""
    running = python_stubs(server_pid)
    return sorted(instance for instance, pid in recorded.items() if running.get(instance) != pid)


def stub_shared_memory(server_pid: int) -> list[Path]:
    """The /dev/shm regions of the server's stubs. A stub that dies leaves its region behind."""
    return [SHARED_MEMORY / argv[_REGION_ARGUMENT] for argv in _stub_command_lines(server_pid).values()]


def resident_bytes(pid: int) -> int:
    """VmRSS of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time a live process has used so far, user and system (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
