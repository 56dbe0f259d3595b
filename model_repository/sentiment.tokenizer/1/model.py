"""Triton Python model: TEXT (and TEXT_PAIR) as UTF-8 bytes → INPUT_IDS, ATTENTION_MASK (and
TOKEN_TYPE_IDS); in a zero-shot pipeline, TEXT, LABELS and MULTI_LABEL → the rows of every (text, hypothesis)
pair and, for the postprocess, PAIR_LABEL, PAIR_TEXT and PAIR_MULTI_LABEL. Which of those it has, its config
says. Logic: tokenization.py."""

import json
import os
from pathlib import Path

import triton_python_backend_utils as pb_utils

from tokenization import InvalidText, TextEncoder, ZeroShotEncoder, read_hypothesis_template

OUTPUTS = ("INPUT_IDS", "ATTENTION_MASK", "TOKEN_TYPE_IDS", "PAIR_LABEL", "PAIR_TEXT", "PAIR_MULTI_LABEL")


class TritonPythonModel:
    def initialize(self, args):
        # Batches here are small; tokenizers' own thread pool would only compete with the classifier's threads.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        config = json.loads(args["model_config"])
        inputs = {tensor["name"] for tensor in config["input"]}
        # What a request carries besides TEXT: LABELS and MULTI_LABEL (zero-shot), or TEXT_PAIR (None where absent).
        self.extra_inputs = ("LABELS", "MULTI_LABEL") if "LABELS" in inputs else ("TEXT_PAIR",)
        self.outputs = [name for name in OUTPUTS if any(tensor["name"] == name for tensor in config["output"])]
        self.token_types = "TOKEN_TYPE_IDS" in self.outputs
        model_dir = Path(args["model_repository"])
        path = model_dir / args["model_version"] / "tokenizer.json"
        self.encoder = TextEncoder.load(path)
        what = ", pairs in TEXT_PAIR" if "TEXT_PAIR" in inputs else ""
        if "LABELS" in inputs:
            template = read_hypothesis_template(model_dir / config["parameters"]["CLASSIFIER_MANIFEST"]["string_value"])
            self.encoder = ZeroShotEncoder(self.encoder, template)
            what = f", candidate labels in LABELS, hypothesis {template!r}"
        pb_utils.Logger.log_info(f"tokenizer: loaded {path}, texts truncated to {self.encoder.max_length} tokens{what}")

    def execute(self, requests):
        inputs = [
            (
                pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy(),
                *(_optional(pb_utils.get_input_tensor_by_name(request, name)) for name in self.extra_inputs),
            )
            for request in requests
        ]
        return [self._response(result) for result in self.encoder.tokenize_requests(inputs, self.token_types)]

    def _response(self, result):
        if isinstance(result, InvalidText):
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG))
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(name, array) for name, array in zip(self.outputs, result)]
        )


def _optional(tensor):
    return None if tensor is None else tensor.as_numpy()
