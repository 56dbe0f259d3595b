"""The four config.pbtxt files of a pipeline, written by conversion for the pipeline it converts.

Names, the pair input and the token types differ from pipeline to pipeline; everything else (batch
sizes, instances, batching, the classifier's TorchScript settings) is the same for all, and is
explained here once. The committed model_repository/ holds the default pipeline's configs as this
module writes them (a test keeps the two equal).
"""

from dataclasses import dataclass

from .repository import Pipeline

# What every classifier's config asks of Triton's pytorch backend; conversion times the token budget under it.
CLASSIFIER_PARAMETERS = {"INFERENCE_MODE": "true", "ENABLE_JIT_EXECUTOR": "false", "ENABLE_JIT_PROFILING": "false"}

MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str
    dims: str  # as written in the config: "1" or "-1"
    optional: bool = False
    ragged: bool = False

    def __str__(self) -> str:
        optional = ", optional: true" if self.optional else ""
        ragged = ", allow_ragged_batch: true" if self.ragged else ""
        return f'{{ name: "{self.name}", data_type: {self.data_type}, dims: [ {self.dims} ]{optional}{ragged} }}'


def _tensors(kind: str, tensors: list[Tensor]) -> str:
    return f"{kind} [\n" + ",\n".join(f"  {tensor}" for tensor in tensors) + "\n]"


def parameter(key: str, value: str) -> str:
    """One entry of a config's `parameters`, as the backends read them."""
    return f'parameters: {{ key: "{key}", value: {{ string_value: "{value}" }} }}'


# Each model runs a request of zeros (an empty text, zero ids, zero logits) a few times before it reports
# ready, so the first client request does not pay for first-call work: TorchScript's graph optimisation
# (about 80 ms), the stubs' and the allocators' first calls (benchmarks/results/first-request/).
WARMUP_WIDTH = 16  # token columns of the classifier's warm-up request
WARMUP_RUNS = 3


def warmup(inputs: list[tuple[str, str, int]]) -> str:
    """A model_warmup of a request of zeros, run WARMUP_RUNS times: (input name, data type, width) per input."""
    lines = [f'    inputs {{ key: "{name}", value: {{ data_type: {data_type}, dims: [ {width} ], zero_data: true }} }}' for name, data_type, width in inputs]
    header = ["model_warmup [", "  {", '    name: "a request of zeros"', "    batch_size: 1", f"    count: {WARMUP_RUNS}"]
    return "\n".join([*header, *lines, "  }", "]"])


def _header(comment: str, name: str, backend: str) -> str:
    lines = [f"# {line}" if line else "#" for line in comment.strip().splitlines()]
    return "\n".join([*lines, f'name: "{name}"', backend, f"max_batch_size: {MAX_BATCH_SIZE}"])


def _texts(pairs: bool) -> list[Tensor]:
    """TEXT, and for a pair pipeline the optional TEXT_PAIR: requests without it are single texts."""
    return [Tensor("TEXT", "TYPE_STRING", "1")] + ([Tensor("TEXT_PAIR", "TYPE_STRING", "1", optional=True)] if pairs else [])


LABEL_OUTPUTS = [Tensor("LABEL", "TYPE_STRING", "1"), Tensor("SCORE", "TYPE_FP32", "1"), Tensor("PROBS", "TYPE_FP32", "-1")]
TOKEN_OUTPUTS = ("INPUT_IDS", "ATTENTION_MASK", "TOKEN_TYPE_IDS")


def _token_names(token_types: bool) -> tuple[str, ...]:
    """What the tokenizer gives and the classifier takes, in the classifier's input order."""
    return TOKEN_OUTPUTS if token_types else TOKEN_OUTPUTS[:2]


def tokenizer_config(pipeline: Pipeline, pairs: bool, token_types: bool) -> str:
    outputs = [Tensor(name, "TYPE_INT64", "-1") for name in _token_names(token_types)]
    return "\n".join([
        _header(
            """
Raw UTF-8 text → token ids and attention mask (and token type ids where the model has them).
The tokenizer.json beside model.py is written by `python -m conversion` with the model's truncation
length and padding token. Each request's texts are padded to its longest only: the classifier takes
ragged batches, and its TorchScript module trims the padding per group of similar length
(conversion/length_grouping.py says why).
""",
            pipeline.model("tokenizer"),
            'backend: "python"',
        ),
        _tensors("input", _texts(pairs)),
        _tensors("output", outputs),
        "instance_group [ { count: 1, kind: KIND_CPU } ]",
        "dynamic_batching { }",
        warmup([("TEXT", "TYPE_STRING", 1)]),
        "",
    ])  # fmt: skip


def classifier_config(pipeline: Pipeline, token_types: bool) -> str:
    count = len(_token_names(token_types))
    inputs = [Tensor(f"INPUT__{index}", "TYPE_INT64", "-1", ragged=True) for index in range(count)]
    item_shapes = [
        f'  {{ kind: BATCH_ITEM_SHAPE, target_name: "INPUT__{count + index}", data_type: TYPE_INT32, source_input: "INPUT__{index}" }}'
        for index in range(count)
    ]
    return "\n".join([
        _header(
            f"""
TorchScript sequence classifier: {", ".join(_token_names(token_types)).lower()} → logits, by position.
Served by Triton's own libtorch backend: the NGC image's in production, one built from the same
release's source by `make setup` locally (server/pytorch_backend.py).
KIND_AUTO puts the instance on a GPU when the server has one, on the CPU otherwise.
Ragged batches: each request pads its rows to its own longest, and the dynamic batcher joins requests
of any width; the backend hands model.pt every input flattened, then each input's BATCH_ITEM_SHAPE
(every row's width). model.pt (conversion/length_grouping.py) unpacks the rows, sorts them, runs
sub-batches of similar length under a token budget, each trimmed to its longest row, and restores
request order. Any right padding gives the right logits.
""",
            pipeline.model("classifier"),
            'backend: "pytorch"',
        ),
        _tensors("input", inputs),
        "batch_input [\n" + ",\n".join(item_shapes) + "\n]",
        _tensors("output", [Tensor("OUTPUT__0", "TYPE_FP32", "-1")]),
        """\
# One instance on the threads the launcher sizes to the CPU it may use (server/threads.py), not
# INTRA_OP_THREAD_COUNT, which libtorch would apply to every model in the server: faster at c=1
# than two instances of one thread each (benchmarks/results/settings.md).
instance_group [ { count: 1, kind: KIND_AUTO } ]
dynamic_batching { }
# Inference mode, and TorchScript's legacy executor with its graph optimisations: the profiling
# executor re-specialises the graph for each new input shape, and sub-batches come in many shapes.
# libtorch holds the executor settings process-wide, for every classifier in the server alike
# (benchmarks/results/settings.md).""",
        *(parameter(key, value) for key, value in CLASSIFIER_PARAMETERS.items()),
        warmup([(tensor.name, tensor.data_type, WARMUP_WIDTH) for tensor in inputs]),
        "",
    ])  # fmt: skip


def postprocess_config(pipeline: Pipeline, labels: int) -> str:
    manifest = f"../{pipeline.manifest_file.relative_to(pipeline.root).as_posix()}"
    return "\n".join([
        _header(
            """
Logits → the top label, its value, and every label's value: softmax, sigmoid or the raw value,
as conversion.json's `function` says (Hugging Face's text-classification pipeline's choice for
the checkpoint's head). labels.json beside model.py is written by `python -m conversion`.
""",
            pipeline.model("postprocess"),
            'backend: "python"',
        ),
        _tensors("input", [Tensor("LOGITS", "TYPE_FP32", "-1")]),
        _tensors("output", LABEL_OUTPUTS),
        "instance_group [ { count: 1, kind: KIND_CPU } ]",
        "dynamic_batching { }",
        "# The classifier's conversion record: the function to apply, and as many labels as it outputs",
        "# logits (checked when the model loads; path relative to this folder).",
        parameter("CLASSIFIER_MANIFEST", manifest),
        warmup([("LOGITS", "TYPE_FP32", labels)]),
        "",
    ])  # fmt: skip


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    maps = [f'      input_map {{ key: "{key}", value: "{value}" }}' for key, value in inputs.items()]
    maps += [f'      output_map {{ key: "{key}", value: "{value}" }}' for key, value in outputs.items()]
    return "\n".join(["    {", f'      model_name: "{model}"', "      model_version: -1", *maps, "    }"])


def ensemble_config(pipeline: Pipeline, pairs: bool, token_types: bool) -> str:
    texts = {tensor.name: tensor.name for tensor in _texts(pairs)}
    tokens = {name: name.lower() for name in _token_names(token_types)}
    steps = [
        _step(pipeline.model("tokenizer"), texts, tokens),
        _step(pipeline.model("classifier"), {f"INPUT__{index}": value for index, value in enumerate(tokens.values())}, {"OUTPUT__0": "logits"}),
        _step(pipeline.model("postprocess"), {"LOGITS": "logits"}, {tensor.name: tensor.name for tensor in LABEL_OUTPUTS}),
    ]
    pair = " (and TEXT_PAIR: a pair)" if pairs else ""
    return "\n".join([
        _header(f"One call: raw text{pair} in, label out. tokenizer → classifier → postprocess.", pipeline.name, 'platform: "ensemble"'),
        _tensors("input", _texts(pairs)),
        _tensors("output", LABEL_OUTPUTS),
        "# Answered from Triton's response cache when the server has one (python -m server --response-cache-mb):",
        "# keyed on this model, its version and the bytes of every input, not on the outputs a request asks for.",
        "response_cache { enable: true }",
        "ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}",
        "",
    ])  # fmt: skip


def render(pipeline: Pipeline, labels: int, pairs: bool = False, token_types: bool = False) -> dict[str, str]:
    """Relative path in the repository → the text of each of the pipeline's config.pbtxt files, for a
    classifier of `labels` logits."""
    texts = {
        pipeline.name: ensemble_config(pipeline, pairs, token_types),
        pipeline.model("tokenizer"): tokenizer_config(pipeline, pairs, token_types),
        pipeline.model("classifier"): classifier_config(pipeline, token_types),
        pipeline.model("postprocess"): postprocess_config(pipeline, labels),
    }
    return {f"{model}/config.pbtxt": text for model, text in texts.items()}
