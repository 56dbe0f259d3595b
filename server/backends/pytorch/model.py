"""A Python-based Triton backend named `pytorch` that serves TorchScript model.pt files.

It stands in for the native libtorch backend where that is not installed (the local server)
and keeps its contract, so the same config.pbtxt serves both. Logic: torchscript.py.
"""

import json
from pathlib import Path

import torch
import triton_python_backend_utils as pb_utils

from torchscript import (
    group_by_shape,
    last_line,
    load_module,
    output_dtypes,
    configure_jit,
    configure_threads,
    positional_names,
    run_batch,
    select_device,
)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input_names = positional_names(config["input"])
        self.output_names = positional_names(config["output"])
        dtypes = output_dtypes(config["output"])
        self.output_types = [dtypes[name] for name in self.output_names]
        self.device = select_device(args["model_instance_kind"], args["model_instance_device_id"])
        configure_threads(config)
        self.optimized = configure_jit(config)
        path = Path(args["model_repository"]) / args["model_version"] / config.get("default_model_filename", "model.pt")
        self.module = load_module(path, self.device)
        pb_utils.Logger.log_info(f"pytorch: loaded {path} on {self.device}, {torch.get_num_threads()} threads")

    def execute(self, requests):
        inputs = [
            [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.input_names]
            for request in requests
        ]
        responses = [None] * len(requests)
        for group in group_by_shape(inputs):
            try:
                with torch.jit.optimized_execution(self.optimized):
                    outputs = run_batch(self.module, [inputs[i] for i in group], self.output_types, self.device)
            except RuntimeError as error:
                pb_utils.Logger.log_error(f"pytorch: execution failed: {error}")
                failure = pb_utils.TritonError(f"TorchScript execution failed: {last_line(error)}")
                for index in group:
                    responses[index] = pb_utils.InferenceResponse(error=failure)
                continue
            for index, request_outputs in zip(group, outputs):
                tensors = [pb_utils.Tensor(name, array) for name, array in zip(self.output_names, request_outputs)]
                responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses
