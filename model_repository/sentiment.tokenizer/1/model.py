"""Triton Python model: TEXT (and TEXT_PAIR) as UTF-8 bytes → INPUT_IDS, ATTENTION_MASK (and
TOKEN_TYPE_IDS). Which of those it has, its config says. Logic: tokenization.py."""

import json
import os
from pathlib import Path

import triton_python_backend_utils as pb_utils

from tokenization import InvalidText, TextEncoder

OUTPUTS = ("INPUT_IDS", "ATTENTION_MASK", "TOKEN_TYPE_IDS")


class TritonPythonModel:
    def initialize(self, args):
        # Batches here are small; tokenizers' own thread pool would only compete with the classifier's threads.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        config = json.loads(args["model_config"])
        self.pairs = any(tensor["name"] == "TEXT_PAIR" for tensor in config["input"])
        self.outputs = [name for name in OUTPUTS if any(tensor["name"] == name for tensor in config["output"])]
        self.token_types = "TOKEN_TYPE_IDS" in self.outputs
        path = Path(args["model_repository"]) / args["model_version"] / "tokenizer.json"
        self.encoder = TextEncoder.load(path)
        pairs = ", pairs in TEXT_PAIR" if self.pairs else ""
        pb_utils.Logger.log_info(f"tokenizer: loaded {path}, texts truncated to {self.encoder.max_length} tokens{pairs}")

    def execute(self, requests):
        inputs = [
            (
                pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy(),
                _optional(pb_utils.get_input_tensor_by_name(request, "TEXT_PAIR")) if self.pairs else None,
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
