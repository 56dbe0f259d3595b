"""The four config.pbtxt files of a pipeline, written by conversion for the pipeline it converts.

Names, the pair input and the token types differ from pipeline to pipeline; everything else (batch
sizes, instances, batching, the classifier's TorchScript settings) is the same for all, and is
explained here once. The committed model_repository/ holds the default pipeline's configs as this
module writes them (a test keeps the two equal).
"""

from dataclasses import dataclass, replace

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


def warmup(inputs: list[tuple[str, str, int | str]], files: dict[str, str] | None = None) -> str:
    """A model_warmup of a request of zeros, run WARMUP_RUNS times: (input name, data type, dims) per input;
    `files` names the inputs read from a file in the model's warmup/ folder instead (input → file)."""
    files = files or {}
    data = {name: f'input_data_file: "{files[name]}"' if name in files else "zero_data: true" for name, _, _ in inputs}
    lines = [f'    inputs {{ key: "{name}", value: {{ data_type: {data_type}, dims: [ {dims} ], {data[name]} }} }}' for name, data_type, dims in inputs]
    header = ["model_warmup [", "  {", '    name: "a request of zeros"', "    batch_size: 1", f"    count: {WARMUP_RUNS}"]
    return "\n".join([*header, *lines, "  }", "]"])


def _header(comment: str, name: str, backend: str, max_batch_size: int = MAX_BATCH_SIZE) -> str:
    lines = [f"# {line}" if line else "#" for line in comment.strip().splitlines()]
    return "\n".join([*lines, f'name: "{name}"', backend, f"max_batch_size: {max_batch_size}"])


TEXT = Tensor("TEXT", "TYPE_STRING", "1")


def _texts(pairs: bool) -> list[Tensor]:
    """TEXT, and for a pair pipeline the optional TEXT_PAIR: requests without it are single texts."""
    return [TEXT] + ([Tensor("TEXT_PAIR", "TYPE_STRING", "1", optional=True)] if pairs else [])


# Zero-shot pipelines: each request names K candidate labels per text (LABELS [n, K]); the tokenizer makes a
# (text, hypothesis) pair of each, so the classifier's requests hold n × K rows. Requests of different K batch
# together in the tokenizer (allow_ragged_batch: each request keeps its own tensors).
MAX_CANDIDATE_LABELS = 32  # per text, as the tokenizer model's tokenization.MAX_CANDIDATE_LABELS refuses more
MAX_PAIRS = MAX_BATCH_SIZE * MAX_CANDIDATE_LABELS  # a request of n texts and K labels is n × K pairs
WARMUP_LABEL_FILE = "candidate_label"  # in NAME.tokenizer/warmup/: the warm-up's label, as Triton reads a string
CANDIDATE_LABELS = Tensor("LABELS", "TYPE_STRING", "-1")
MULTI_LABEL = Tensor("MULTI_LABEL", "TYPE_BOOL", "1", optional=True)
# What the tokenizer says of each pair for the postprocess: its candidate label, its text's index in the
# request, its text's MULTI_LABEL. Each is [n × K, 1], as the logits are, so the postprocess batches too.
PAIR_TENSORS = [Tensor("PAIR_LABEL", "TYPE_STRING", "1"), Tensor("PAIR_TEXT", "TYPE_INT32", "1"), Tensor("PAIR_MULTI_LABEL", "TYPE_BOOL", "1")]


def warmup_label_file(label: str = "warm-up") -> bytes:
    """A string input's data as Triton reads it from a warm-up file: its length (4 bytes, little-endian), then its bytes."""
    data = label.encode("utf-8")
    return len(data).to_bytes(4, "little") + data


def _inputs(pairs: bool, zero_shot: bool) -> list[Tensor]:
    """What the ensemble takes: TEXT, and TEXT_PAIR (pairs) or LABELS and MULTI_LABEL (zero-shot)."""
    return [TEXT, CANDIDATE_LABELS, MULTI_LABEL] if zero_shot else _texts(pairs)


LABEL_OUTPUTS = [Tensor("LABEL", "TYPE_STRING", "1"), Tensor("SCORE", "TYPE_FP32", "1"), Tensor("PROBS", "TYPE_FP32", "-1")]
TOKEN_OUTPUTS = ("INPUT_IDS", "ATTENTION_MASK", "TOKEN_TYPE_IDS")


def _token_names(token_types: bool) -> tuple[str, ...]:
    """What the tokenizer gives and the classifier takes, in the classifier's input order."""
    return TOKEN_OUTPUTS if token_types else TOKEN_OUTPUTS[:2]


def tokenizer_config(pipeline: Pipeline, pairs: bool, token_types: bool, zero_shot: bool = False) -> str:
    outputs = [Tensor(name, "TYPE_INT64", "-1") for name in _token_names(token_types)] + (PAIR_TENSORS if zero_shot else [])
    inputs = [TEXT, replace(CANDIDATE_LABELS, ragged=True), MULTI_LABEL] if zero_shot else _texts(pairs)
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
        _tensors("input", inputs),
        _tensors("output", outputs),
        "instance_group [ { count: 1, kind: KIND_CPU } ]",
        "dynamic_batching { }",
        *(_zero_shot_tokenizer(pipeline) if zero_shot else [warmup([("TEXT", "TYPE_STRING", 1)])]),
        "",
    ])  # fmt: skip


def _zero_shot_tokenizer(pipeline: Pipeline) -> list[str]:
    return [
        "# Zero-shot: each text is paired with the hypothesis of each of its candidate labels, the text truncated",
        f"# (the hypothesis template is in the classifier's conversion.json). At most {MAX_CANDIDATE_LABELS} labels per text.",
        parameter("CLASSIFIER_MANIFEST", _manifest_path(pipeline)),
        warmup([("TEXT", "TYPE_STRING", 1), ("LABELS", "TYPE_STRING", 1)], {"LABELS": WARMUP_LABEL_FILE}),
    ]


def _manifest_path(pipeline: Pipeline) -> str:
    """The classifier's conversion.json, relative to a step's folder."""
    return f"../{pipeline.manifest_file.relative_to(pipeline.root).as_posix()}"


def classifier_config(pipeline: Pipeline, token_types: bool, zero_shot: bool = False) -> str:
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
            MAX_PAIRS if zero_shot else MAX_BATCH_SIZE,
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


def postprocess_config(pipeline: Pipeline, labels: int, zero_shot: bool = False) -> str:
    if zero_shot:
        return _zero_shot_postprocess_config(pipeline, labels)
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
        parameter("CLASSIFIER_MANIFEST", _manifest_path(pipeline)),
        warmup([("LOGITS", "TYPE_FP32", labels)]),
        "",
    ])  # fmt: skip


def _zero_shot_postprocess_config(pipeline: Pipeline, labels: int) -> str:
    return "\n".join([
        _header(
            """
Zero-shot: the NLI logits of every (text, candidate label) pair, with what the tokenizer says of each pair
(its label, its text's index in the request, its text's MULTI_LABEL) → for each text the top candidate, its
probability and every candidate's, in the request's order: a softmax over the candidates' entailment logits,
or with MULTI_LABEL (or one candidate) each one's entailment against contradiction, as Hugging Face's
zero-shot pipeline does.
""",
            pipeline.model("postprocess"),
            'backend: "python"',
            MAX_PAIRS,
        ),
        _tensors("input", [Tensor("LOGITS", "TYPE_FP32", "-1"), *PAIR_TENSORS]),
        _tensors("output", LABEL_OUTPUTS),
        "instance_group [ { count: 1, kind: KIND_CPU } ]",
        "dynamic_batching { }",
        "# The entailment and contradiction logits' indexes are in the classifier's conversion record.",
        parameter("CLASSIFIER_MANIFEST", _manifest_path(pipeline)),
        warmup([("LOGITS", "TYPE_FP32", labels), *((tensor.name, tensor.data_type, 1) for tensor in PAIR_TENSORS)]),
        "",
    ])  # fmt: skip


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    maps = [f'      input_map {{ key: "{key}", value: "{value}" }}' for key, value in inputs.items()]
    maps += [f'      output_map {{ key: "{key}", value: "{value}" }}' for key, value in outputs.items()]
    return "\n".join(["    {", f'      model_name: "{model}"', "      model_version: -1", *maps, "    }"])


def ensemble_config(pipeline: Pipeline, pairs: bool, token_types: bool, zero_shot: bool = False) -> str:
    inputs = _inputs(pairs, zero_shot)
    texts = {tensor.name: tensor.name for tensor in inputs}
    tokens = {name: name.lower() for name in _token_names(token_types)}
    per_pair = {tensor.name: tensor.name.lower() for tensor in PAIR_TENSORS} if zero_shot else {}
    scoring = {"LOGITS": "logits"} | per_pair
    steps = [
        _step(pipeline.model("tokenizer"), texts, tokens | per_pair),
        _step(pipeline.model("classifier"), {f"INPUT__{index}": value for index, value in enumerate(tokens.values())}, {"OUTPUT__0": "logits"}),
        _step(pipeline.model("postprocess"), scoring, {tensor.name: tensor.name for tensor in LABEL_OUTPUTS}),
    ]
    what = " and the candidate labels of each (LABELS)" if zero_shot else " (and TEXT_PAIR: a pair)" if pairs else ""
    return "\n".join([
        _header(f"One call: raw text{what} in, label out. tokenizer → classifier → postprocess.", pipeline.name, 'platform: "ensemble"'),
        _tensors("input", inputs),
        _tensors("output", LABEL_OUTPUTS),
        "# Answered from Triton's response cache when the server has one (python -m server --response-cache-mb):",
        "# keyed on this model, its version and the bytes of every input, not on the outputs a request asks for.",
        "response_cache { enable: true }",
        "ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}",
        "",
    ])  # fmt: skip


def render(pipeline: Pipeline, labels: int, pairs: bool = False, token_types: bool = False, zero_shot: bool = False) -> dict[str, str]:
    """Relative path in the repository → the text of each of the pipeline's config.pbtxt files, for a
    classifier of `labels` logits (a zero-shot pipeline's classifier scores pairs: `pairs` is implied)."""
    texts = {
        pipeline.name: ensemble_config(pipeline, pairs, token_types, zero_shot),
        pipeline.model("tokenizer"): tokenizer_config(pipeline, pairs, token_types, zero_shot),
        pipeline.model("classifier"): classifier_config(pipeline, token_types, zero_shot),
        pipeline.model("postprocess"): postprocess_config(pipeline, labels, zero_shot),
    }
    return {f"{model}/config.pbtxt": text for model, text in texts.items()}
