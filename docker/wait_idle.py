"""Wait until Triton has no request in flight, so that stopping it fails none.

entrypoint.sh runs it when the container is asked to stop. The rule is server/drain.py's (copied
beside this file in the image): nothing queued and nothing completed for a quiet period. Exit 0
once idle or when the metrics endpoint no longer answers, 1 at the timeout.
"""

import argparse
import os
import sys

from drain import wait_until_idle

DEFAULT_METRICS_URL = "http://127.0.0.1:8002/metrics"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TRITON_METRICS_URL", DEFAULT_METRICS_URL))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    print(f"wait_idle: waiting up to {args.timeout:.0f} s for in-flight requests to finish", file=sys.stderr)
    if wait_until_idle(args.url, args.timeout):
        return 0
    print("wait_idle: requests still in flight at the timeout; stopping anyway", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
