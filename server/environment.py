"""The environment tritonserver and its Python stubs start with, locally and in the image: this machine's
allocator (allocator.py) and the thread counts and wait policy of the CPU the server may use (threads.py)."""

from collections.abc import Callable

from .allocator import server_environment
from .threads import cpu_share, thread_settings, with_thread_settings


def serving_environment(
    env: dict[str, str], report: Callable[[str], None], warn: Callable[[str], None] | None = None
) -> dict[str, str]:
    """`env` with the allocator and the thread settings; `report` gets a line on what was chosen, `warn`
    (`report` by default) the line that says tcmalloc is missing."""
    share = cpu_share(env)
    env = with_thread_settings(server_environment(env, warn or report), share)
    report(f"threads: {thread_settings(env)} ({share.describe()})")
    return env
