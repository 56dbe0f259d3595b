"""The server's process tree from /proc: its Python stubs by model instance, and resident memory."""

from pathlib import Path

STUB_BINARY = "triton_python_backend_stub"
_INSTANCE_ARGUMENT = 8  # the stub's argv: binary, model.py, shm region, 2 sizes, parent pid, backend dir, ipc, instance


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


def python_stubs(server_pid: int) -> dict[str, int]:
    """Model instance name (e.g. "tokenizer_0_0") → pid of its stub, for the stubs started by `server_pid`."""
    return {
        argv[_INSTANCE_ARGUMENT]: pid
        for pid, argv in children(server_pid).items()
        if argv and argv[0].endswith(STUB_BINARY) and len(argv) > _INSTANCE_ARGUMENT
    }


def resident_bytes(pid: int) -> int:
    """VmRSS of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")
