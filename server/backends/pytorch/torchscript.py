"""The native libtorch backend's contract, in plain functions (no Triton import).

Tensors are bound by position: INPUT__0, INPUT__1, ... are the module's arguments in order and
OUTPUT__0, ... its results in order. The batch dimension comes first. Requests whose inputs have
the same shapes run as one batch.
"""

import re
from pathlib import Path

import numpy as np
import torch

_POSITIONAL_NAME = re.compile(r"^(?P<prefix>.+)__(?P<index>\d+)$")

_TORCH_DTYPES = {
    "TYPE_BOOL": torch.bool,
    "TYPE_UINT8": torch.uint8,
    "TYPE_INT8": torch.int8,
    "TYPE_INT16": torch.int16,
    "TYPE_INT32": torch.int32,
    "TYPE_INT64": torch.int64,
    "TYPE_FP16": torch.float16,
    "TYPE_FP32": torch.float32,
    "TYPE_FP64": torch.float64,
}


def positional_names(tensors: list[dict]) -> list[str]:
    """Config tensor entries named <prefix>__<i> → their names ordered by i, which must run 0..n-1."""
    indexed = {}
    for tensor in tensors:
        match = _POSITIONAL_NAME.match(tensor["name"])
        if match is None:
            raise ValueError(f"tensor name {tensor['name']!r} does not follow the <name>__<index> convention")
        indexed[int(match["index"])] = tensor["name"]
    if sorted(indexed) != list(range(len(tensors))):
        raise ValueError(f"tensor indices must run 0..{len(tensors) - 1}, got {sorted(indexed)}")
    return [indexed[index] for index in range(len(tensors))]


def output_dtypes(outputs: list[dict]) -> dict[str, torch.dtype]:
    return {output["name"]: _TORCH_DTYPES[output["data_type"]] for output in outputs}


def select_device(instance_kind: str, device_id: str | int) -> torch.device:
    """KIND_GPU instances run on their GPU, everything else on the CPU."""
    if instance_kind.upper() == "GPU":
        return torch.device("cuda", int(device_id))
    return torch.device("cpu")


def parameter(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


def configure_threads(config: dict) -> None:
    """INTRA_OP_THREAD_COUNT and INTER_OP_THREAD_COUNT, when set above 0, as the native backend applies
    them; unset, torch's own default stands: OMP_NUM_THREADS from the server's environment (server/threads.py)."""
    intra_op = int(parameter(config, "INTRA_OP_THREAD_COUNT", "0"))
    if intra_op > 0:
        torch.set_num_threads(intra_op)
    inter_op = int(parameter(config, "INTER_OP_THREAD_COUNT", "0"))
    if inter_op > 0 and inter_op != torch.get_num_interop_threads():
        try:
            torch.set_num_interop_threads(inter_op)
        except RuntimeError:
            pass  # the pool has started already; the native backend ignores this case too


def flag(config: dict, key: str) -> bool | None:
    """A "true"/"false" parameter, or None when the config does not set it."""
    value = parameter(config, key, "").strip().lower()
    if value not in ("", "true", "false"):
        raise ValueError(f"parameter {key} must be true or false, got {value!r}")
    return None if value == "" else value == "true"


# TorchScript settings the native backend applies before each execution when the config sets them.
_JIT_SETTINGS = {
    "ENABLE_JIT_EXECUTOR": torch._C._jit_set_profiling_executor,
    "ENABLE_JIT_PROFILING": torch._C._jit_set_profiling_mode,
    "ENABLE_TENSOR_FUSER": torch._C._jit_set_texpr_fuser_enabled,
}


def configure_jit(config: dict) -> bool:
    """Apply the config's TorchScript settings as the native backend does; returns whether
    optimized execution is on (DISABLE_OPTIMIZED_EXECUTION, off by default)."""
    for key, setter in _JIT_SETTINGS.items():
        value = flag(config, key)
        if value is not None:
            setter(value)
    return not flag(config, "DISABLE_OPTIMIZED_EXECUTION")


def load_module(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the repository with `python -m conversion`")
    module = torch.jit.load(str(path), map_location=device)
    module.eval()
    return module


def last_line(error: Exception) -> str:
    """TorchScript errors carry the interpreter's stack; clients get only the final message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def group_by_shape(requests: list[list[np.ndarray]]) -> list[list[int]]:
    """Indices of requests whose inputs all have the same shapes past the batch dimension."""
    groups: dict[tuple, list[int]] = {}
    for index, inputs in enumerate(requests):
        key = tuple(array.shape[1:] for array in inputs)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def run_batch(
    module: torch.jit.ScriptModule,
    requests: list[list[np.ndarray]],
    output_types: list[torch.dtype],
    device: torch.device,
) -> list[list[np.ndarray]]:
    """Concatenate same-shaped requests on the batch dimension, run once, split the outputs back."""
    sizes = [inputs[0].shape[0] for inputs in requests]
    arguments = [
        torch.from_numpy(np.concatenate([inputs[position] for inputs in requests])).to(device)
        for position in range(len(requests[0]))
    ]
    with torch.inference_mode():
        results = module(*arguments)
    if isinstance(results, torch.Tensor):
        results = (results,)
    if len(results) != len(output_types):
        raise ValueError(f"the module returned {len(results)} outputs, the config declares {len(output_types)}")
    outputs = [result.to(dtype).cpu().numpy() for result, dtype in zip(results, output_types)]
    bounds = np.cumsum(sizes)[:-1]
    per_output = [np.split(output, bounds) for output in outputs]
    return [list(request_outputs) for request_outputs in zip(*per_output)]
