"""Close the ensembles and wait until none of their requests is in flight, so that stopping Triton fails none.

entrypoint.sh runs it when the container is asked to stop, with the key of the model-repository API
in $TRITON_REPOSITORY_KEY. The logic is server/drain.py's (copied beside this file in the image):
each ensemble is unloaded, and Triton reports it unavailable once its last request has finished.
Exit 0 then, or when the server no longer answers; 1 at the timeout.
"""

import argparse
import os
import sys

from drain import drain

DEFAULT_HTTP_URL = "http://127.0.0.1:8000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TRITON_HTTP_URL", DEFAULT_HTTP_URL), help="Triton's HTTP endpoint")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    key = os.environ.get("TRITON_REPOSITORY_KEY", "")
    print(f"wait_idle: closing the ensembles, waiting up to {args.timeout:.0f} s for their requests to finish", file=sys.stderr)
    if drain(args.url, key, args.timeout):
        return 0
    print("wait_idle: ensemble requests still in flight at the timeout; stopping anyway", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
