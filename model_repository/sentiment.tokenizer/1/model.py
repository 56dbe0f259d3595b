"""Triton Python model: TEXT (and TEXT_PAIR) as UTF-8 bytes → INPUT_IDS, ATTENTION_MASK (and
TOKEN_TYPE_IDS); in a zero-shot pipeline, TEXT and LABELS → the rows of every (text, hypothesis) pair.
Which of those it has, its config says. Logic: tokenization.py."""

import json
import os
from pathlib import Path

import triton_python_backend_utils as pb_utils

from tokenization import InvalidText, TextEncoder, ZeroShotEncoder, read_hypothesis_template

OUTPUTS = ("INPUT_IDS", "ATTENTION_MASK", "TOKEN_TYPE_IDS")


class TritonPythonModel:
    def initialize(self, args):
        # Batches here are small; tokenizers' own thread pool would only compete with the classifier's threads.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        config = json.loads(args["model_config"])
        inputs = {tensor["name"] for tensor in config["input"]}
        self.second_input = "TEXT_PAIR" if "TEXT_PAIR" in inputs else "LABELS" if "LABELS" in inputs else None
        self.outputs = [name for name in OUTPUTS if any(tensor["name"] == name for tensor in config["output"])]
        self.token_types = "TOKEN_TYPE_IDS" in self.outputs
        model_dir = Path(args["model_repository"])
        path = model_dir / args["model_version"] / "tokenizer.json"
        self.encoder = TextEncoder.load(path)
        what = {"TEXT_PAIR": ", pairs in TEXT_PAIR", "LABELS": ", candidate labels in LABELS", None: ""}[self.second_input]
        if self.second_input == "LABELS":
            manifest = config["parameters"]["CLASSIFIER_MANIFEST"]["string_value"]
            template = read_hypothesis_template(model_dir / manifest)
            self.encoder = ZeroShotEncoder(self.encoder, template)
            what += f", hypothesis {template!r}"
        pb_utils.Logger.log_info(f"tokenizer: loaded {path}, texts truncated to {self.encoder.max_length} tokens{what}")

    def execute(self, requests):
        inputs = [
            (
                pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy(),
                _optional(pb_utils.get_input_tensor_by_name(request, self.second_input)) if self.second_input else None,
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
