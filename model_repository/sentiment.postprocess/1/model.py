"""Triton Python model: LOGITS → LABEL, SCORE, PROBS. Logic: postprocessing.py."""

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

from postprocessing import InvalidLogits, load_labels, postprocess_requests, read_manifest


class TritonPythonModel:
    def initialize(self, args):
        model_dir = Path(args["model_repository"])
        parameters = json.loads(args["model_config"]).get("parameters", {})
        manifest = parameters.get("CLASSIFIER_MANIFEST", {}).get("string_value")
        logit_count, self.function = read_manifest(model_dir / manifest) if manifest else (None, "softmax")
        self.labels = load_labels(model_dir / args["model_version"] / "labels.json", logit_count)
        pb_utils.Logger.log_info(f"postprocess: labels {self.labels}, {self.function}")

    def execute(self, requests):
        logits = [pb_utils.get_input_tensor_by_name(request, "LOGITS").as_numpy() for request in requests]
        return [self._response(result) for result in postprocess_requests(logits, self.labels, self.function)]

    def _response(self, result):
        if isinstance(result, InvalidLogits):
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG))
        label, score, probs = result
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("LABEL", label), pb_utils.Tensor("SCORE", score), pb_utils.Tensor("PROBS", probs)]
        )
