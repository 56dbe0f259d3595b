"""Triton Python model: TEXT (UTF-8 bytes) → INPUT_IDS, ATTENTION_MASK. Logic: tokenization.py."""

from pathlib import Path

import triton_python_backend_utils as pb_utils

from tokenization import InvalidText, load_tokenizer, tokenize_requests


class TritonPythonModel:
    def initialize(self, args):
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = load_tokenizer(version_dir / "tokenizer.json")
        pb_utils.Logger.log_info(f"tokenizer: loaded {version_dir / 'tokenizer.json'}")

    def execute(self, requests):
        texts = [pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy() for request in requests]
        return [_response(result) for result in tokenize_requests(self.tokenizer, texts)]


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
