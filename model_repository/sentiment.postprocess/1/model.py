"""Triton Python model: LOGITS → LABEL, SCORE, PROBS; in a zero-shot pipeline, the NLI logits of every
(text, candidate label) pair, with what the tokenizer says of each pair (PAIR_LABEL, PAIR_TEXT,
PAIR_MULTI_LABEL) → the same outputs over each text's candidates. Logic: postprocessing.py."""

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

from postprocessing import InvalidLogits, load_labels, postprocess_requests, read_manifest, read_zero_shot, zero_shot


ZERO_SHOT_INPUTS = ("LOGITS", "PAIR_LABEL", "PAIR_TEXT", "PAIR_MULTI_LABEL")


class TritonPythonModel:
    def initialize(self, args):
        model_dir = Path(args["model_repository"])
        config = json.loads(args["model_config"])
        manifest = config.get("parameters", {}).get("CLASSIFIER_MANIFEST", {}).get("string_value")
        logit_count, self.function = read_manifest(model_dir / manifest) if manifest else (None, "softmax")
        self.labels = load_labels(model_dir / args["model_version"] / "labels.json", logit_count)
        self.zero_shot = read_zero_shot(model_dir / manifest) if any(tensor["name"] == "PAIR_LABEL" for tensor in config["input"]) else None
        what = f"zero-shot, entailment and contradiction logits {self.zero_shot}" if self.zero_shot else self.function
        pb_utils.Logger.log_info(f"postprocess: labels {self.labels}, {what}")

    def execute(self, requests):
        if self.zero_shot:
            return [self._zero_shot(request) for request in requests]
        logits = [pb_utils.get_input_tensor_by_name(request, "LOGITS").as_numpy() for request in requests]
        return [self._response(result) for result in postprocess_requests(logits, self.labels, self.function)]

    def _zero_shot(self, request):
        inputs = [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in ZERO_SHOT_INPUTS]
        try:
            result = zero_shot(*inputs, *self.zero_shot)
        except InvalidLogits as error:
            result = error
        return self._response(result)

    def _response(self, result):
        if isinstance(result, InvalidLogits):
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG))
        label, score, probs = result
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("LABEL", label), pb_utils.Tensor("SCORE", score), pb_utils.Tensor("PROBS", probs)]
        )
