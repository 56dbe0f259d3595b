"""Triton Python model: TEXT (UTF-8 bytes) → INPUT_IDS, ATTENTION_MASK. Logic: tokenization.py."""

import os
from pathlib import Path

import triton_python_backend_utils as pb_utils

from tokenization import InvalidText, TextEncoder


class TritonPythonModel:
    def initialize(self, args):
        # Batches here are small; tokenizers' own thread pool would only compete with the classifier's threads.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        path = Path(args["model_repository"]) / args["model_version"] / "tokenizer.json"
        self.encoder = TextEncoder.load(path)
        pb_utils.Logger.log_info(f"tokenizer: loaded {path}, every text padded to {self.encoder.max_length} tokens")

    def execute(self, requests):
        texts = [pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy() for request in requests]
        return [_response(result) for result in self.encoder.tokenize_requests(texts)]


def _response(result):
    if isinstance(result, InvalidText):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG))
    input_ids, attention_mask = result
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("INPUT_IDS", input_ids),
            pb_utils.Tensor("ATTENTION_MASK", attention_mask),
        ]
    )
