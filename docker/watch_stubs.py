"""Exit 1 when one of the server's Python stub processes dies, so entrypoint.sh can stop the container.

Triton does not restart a stub that died, and releases before the Python backend's active health
checks keep reporting its model ready, so no HTTP probe notices; the orchestrator restarts the
container instead. The stubs are recorded once the server is ready; exit 0 when the server is gone.
server/processes.py is copied beside this file in the image.
"""

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

from processes import dead_stubs, python_stubs


def server_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--ready-url", default="http://127.0.0.1:8000/v2/health/ready")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two looks")
    args = parser.parse_args(argv)

    while not server_ready(args.ready_url):
        if not alive(args.server_pid):
            return 0
        time.sleep(args.interval)
    stubs = python_stubs(args.server_pid)
    print(f"watch_stubs: watching {', '.join(sorted(stubs)) or 'no Python stub'}", file=sys.stderr)
    while alive(args.server_pid):
        dead = dead_stubs(args.server_pid, stubs)
        if dead and alive(args.server_pid):
            print(f"watch_stubs: Python stub process(es) gone: {', '.join(dead)}", file=sys.stderr)
            return 1
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
