"""python -m clients: classify texts with a served pipeline (`sentiment` unless --model names another).

  python -m clients "I love this" "I hate mondays"
  python -m clients --protocol http --json --file texts.txt
  cat texts.txt | python -m clients -

Pair pipelines (converted with --pairs) take each text with a second one: with --pairs the
arguments alternate text and pair, and the lines of --file or stdin are TEXT<TAB>PAIR.

  python -m clients --model nli --pairs "A man is sleeping." "Nobody is awake." "It rains." "The street is wet."
  printf 'A man is sleeping.\\tNobody is awake.\\n' | python -m clients --model nli --pairs -

Zero-shot pipelines (converted with --zero-shot) classify each text against the labels of --labels.

  python -m clients --model topics --labels sports,politics,cooking "The match ended in a draw"
"""

import argparse
import json
import os
import sys
from dataclasses import asdict

from .classify import DEFAULT_URLS, MODEL, ClientError, classify


class UsageError(Exception):
    """The arguments or input lines cannot be read as texts (or pairs); the message says where."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m clients", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify (with --pairs: TEXT PAIR TEXT PAIR ...); '-' reads one per line from stdin")
    parser.add_argument("--file", type=argparse.FileType("rb"), help="read one text per line")
    parser.add_argument("--url", help=f"server address (default: gRPC {DEFAULT_URLS['grpc']}, HTTP {DEFAULT_URLS['http']})")
    parser.add_argument("--protocol", choices=sorted(DEFAULT_URLS), default="grpc")
    parser.add_argument("--model", default=MODEL, metavar="NAME", help="the pipeline to call (default: %(default)s)")
    parser.add_argument("--pairs", action="store_true",
                        help="send text pairs: arguments alternate TEXT and PAIR; lines are TEXT<TAB>PAIR")  # fmt: skip
    parser.add_argument("--labels", type=lambda text: [label.strip() for label in text.split(",")], metavar="A,B,C",
                        help="a zero-shot pipeline's candidate labels, for every text")  # fmt: skip
    parser.add_argument("--multi-label", action="store_true",
                        help="with --labels: each label's probability on its own, not one over the labels")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print a JSON list with every label's value")
    return parser.parse_args(argv)


def _split_line(line: bytes, source: str, number: int) -> tuple[bytes, bytes]:
    text, tab, pair = line.partition(b"\t")
    if not tab:
        raise UsageError(f"{source}:{number}: no tab between the text and its pair (--pairs reads TEXT<TAB>PAIR lines)")
    return text, pair


def _lines(lines: list[bytes], source: str, pairs: bool) -> list:
    return [_split_line(line, source, number) for number, line in enumerate(lines, 1)] if pairs else lines


def read_texts(args: argparse.Namespace) -> list:
    """Every text as the bytes given, so that text which is not UTF-8 reaches the server, which names it;
    with --pairs, (text, pair) tuples."""
    items, waiting = [], None  # waiting: a text argument whose pair has not come yet
    for argument in args.texts:
        if argument == "-":
            if waiting is not None:
                raise UsageError(f"'-' comes between the text {waiting!r} and its pair")
            items += _lines(sys.stdin.buffer.read().splitlines(), "stdin", args.pairs)
        elif not args.pairs:
            items.append(os.fsencode(argument))
        elif waiting is None:
            waiting = argument
        else:
            items.append((os.fsencode(waiting), os.fsencode(argument)))
            waiting = None
    if waiting is not None:
        raise UsageError(f"the text {waiting!r} has no pair: with --pairs, arguments alternate TEXT and PAIR")
    if args.file:
        items += _lines(args.file.read().splitlines(), args.file.name, args.pairs)
    return items


def show(prediction) -> str:
    text = prediction.text if prediction.pair is None else f"{prediction.text}\t{prediction.pair}"
    return f"{prediction.label:<10} {prediction.score:.3f}  {text}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        items = read_texts(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not items:
        print("nothing to classify: give texts, --file F, or - for stdin", file=sys.stderr)
        return 2
    texts, pairs = (list(column) for column in zip(*items)) if args.pairs else (items, None)
    try:
        predictions = classify(texts, url=args.url, protocol=args.protocol, model=args.model, pairs=pairs,
                               candidate_labels=args.labels, multi_label=args.multi_label)  # fmt: skip
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        answers = [asdict(prediction) for prediction in predictions]
        for answer in answers:  # only what applies: single texts are the objects they have always been
            for key in ("pair", "candidate_labels"):
                if answer[key] is None:
                    del answer[key]
        print(json.dumps(answers, ensure_ascii=False, indent=2))
    else:
        for prediction in predictions:
            print(show(prediction))
    return 0


if __name__ == "__main__":
    sys.exit(main())
