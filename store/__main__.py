"""python -m store: publish a converted repository to an S3-compatible store, list and fetch versions.

  python -m store publish s3://http://host:8333/models/sentiment [--model-repository DIR] [--name NAME] [--exist-ok]
  python -m store versions s3://http://host:8333/models/sentiment
  python -m store fetch s3://http://host:8333/models/sentiment/<version> DIR

A version holds every pipeline converted into the folder: convert each model into the same folder
(python -m conversion --model-repository DIR --model CKPT --name NAME), then publish it once.

Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or any source boto3 reads).
"""

import argparse
import sys
from pathlib import Path

from conversion.repository import add_repository_argument

from .errors import StoreError
from .fetch import fetch, published_versions
from .location import Location
from .publish import publish
from .s3 import client, user_errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m store", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    publishing = commands.add_parser("publish", help="upload a converted repository (every pipeline in it) as a new version; prints its URL")
    publishing.add_argument("destination", help="s3:// URL the version goes under")
    add_repository_argument(publishing)
    publishing.add_argument("--name", help="prefix for the version, e.g. a release: <name>-<digest>")
    publishing.add_argument("--create-bucket", action="store_true", help="create the bucket when it does not exist")
    publishing.add_argument(
        "--exist-ok", action="store_true", help="succeed when the same files are already published (the same version)"
    )
    versions = commands.add_parser("versions", help="list the versions published under a URL")
    versions.add_argument("location", help="s3:// URL the versions were published under")
    fetching = commands.add_parser("fetch", help="download and verify a version; prints the local repository path")
    fetching.add_argument("version", help="s3:// URL of a published version")
    fetching.add_argument("cache", type=Path, help="folder the verified copy goes under")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "publish":
            print(publish(args.model_repository, args.destination, args.name, args.create_bucket, args.exist_ok))
        elif args.command == "versions":
            location = Location.parse(args.location)
            with user_errors(location):
                print("\n".join(published_versions(client(location), location)))
        else:
            print(fetch(args.version, args.cache))
    except StoreError as error:
        print(f"store: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
