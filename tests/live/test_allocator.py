"""The served processes run on the allocator the launcher chose (a real server)."""

from pathlib import Path

from server.allocator import GLIBC_MMAP_THRESHOLD, find_tcmalloc
from server.procfs import python_stubs


def mapped_libraries(pid: int) -> set[str]:
    return {Path(line.split()[-1]).name for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/" in line}


def test_the_served_processes_run_on_the_allocator_the_launcher_chose(served):
    server_pid = served.server.process.pid
    pids = [server_pid, *python_stubs(server_pid).values()]
    assert len(pids) == 3, "tritonserver (with the classifier, on the pytorch backend) and the tokenizer and postprocess stubs"
    tcmalloc = find_tcmalloc()
    for pid in pids:
        if tcmalloc is not None:
            assert tcmalloc.resolve().name in mapped_libraries(pid), f"process {pid} does not run on {tcmalloc}"
        else:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"MALLOC_MMAP_THRESHOLD_={GLIBC_MMAP_THRESHOLD}".encode() in environ, pid
