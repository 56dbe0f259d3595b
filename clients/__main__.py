"""python -m clients: classify texts with the served `sentiment` model.

  python -m clients "I love this" "I hate mondays"
  python -m clients --protocol http --json --file texts.txt
  cat texts.txt | python -m clients -
"""

import argparse
import json
import os
import sys
from dataclasses import asdict

from .classify import DEFAULT_URLS, MODEL, ClientError, classify


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m clients", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify; '-' reads one per line from stdin")
    parser.add_argument("--file", type=argparse.FileType("rb"), help="read one text per line")
    parser.add_argument("--url", help=f"server address (default: gRPC {DEFAULT_URLS['grpc']}, HTTP {DEFAULT_URLS['http']})")
    parser.add_argument("--protocol", choices=sorted(DEFAULT_URLS), default="grpc")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--json", action="store_true", help="print a JSON list with the probabilities")
    return parser.parse_args(argv)


def read_texts(args: argparse.Namespace) -> list[bytes]:
    """Every text as the bytes given, so that text which is not UTF-8 reaches the server, which names it."""
    texts = []
    for text in args.texts:
        texts += sys.stdin.buffer.read().splitlines() if text == "-" else [os.fsencode(text)]
    if args.file:
        texts += args.file.read().splitlines()
    return texts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    texts = read_texts(args)
    if not texts:
        print("nothing to classify: give texts, --file F, or - for stdin", file=sys.stderr)
        return 2
    try:
        predictions = classify(texts, url=args.url, protocol=args.protocol, model=args.model)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(prediction) for prediction in predictions], ensure_ascii=False, indent=2))
    else:
        for prediction in predictions:
            print(f"{prediction.label:<10} {prediction.score:.3f}  {prediction.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
