"""Unit tests of the Python-based `pytorch` backend's logic, without Triton."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness.model_code import torchscript


class AddAndScale(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor):
        return a + b, (a * 2).sum(dim=1)


@pytest.fixture
def scripted():
    return torch.jit.script(AddAndScale())


def test_positional_names_are_ordered_by_index():
    tensors = [{"name": "INPUT__1"}, {"name": "INPUT__0"}, {"name": "INPUT__2"}]
    assert torchscript.positional_names(tensors) == ["INPUT__0", "INPUT__1", "INPUT__2"]


@pytest.mark.parametrize(
    "names, message",
    [(["input_ids"], "does not follow"), (["INPUT__0", "INPUT__2"], r"must run 0..1")],
)
def test_positional_names_reject_other_conventions(names, message):
    with pytest.raises(ValueError, match=message):
        torchscript.positional_names([{"name": name} for name in names])


def test_device_follows_the_instance_kind():
    assert torchscript.select_device("CPU", 0) == torch.device("cpu")
    assert torchscript.select_device("GPU", "1") == torch.device("cuda", 1)


def test_group_by_shape_keeps_same_shaped_requests_together():
    requests = [[np.zeros((1, 4))], [np.zeros((2, 7))], [np.zeros((3, 4))]]
    assert torchscript.group_by_shape(requests) == [[0, 2], [1]]


def test_run_batch_runs_once_and_splits_back(scripted):
    requests = [
        [np.array([[1, 2]], dtype=np.int64), np.array([[10, 20]], dtype=np.int64)],
        [np.array([[3, 4], [5, 6]], dtype=np.int64), np.array([[1, 1], [2, 2]], dtype=np.int64)],
    ]
    outputs = torchscript.run_batch(scripted, requests, [torch.float32, torch.int64], torch.device("cpu"))
    assert [output.shape for output in outputs[0]] == [(1, 2), (1,)]
    np.testing.assert_array_equal(outputs[0][0], [[11.0, 22.0]])
    np.testing.assert_array_equal(outputs[1][0], [[4.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(outputs[1][1], [14, 22])
    assert outputs[0][0].dtype == np.float32


def test_run_batch_rejects_an_output_count_mismatch(scripted):
    with pytest.raises(ValueError, match="returned 2 outputs, the config declares 1"):
        torchscript.run_batch(scripted, [[np.ones((1, 1), dtype=np.int64)] * 2], [torch.float32], torch.device("cpu"))


def test_load_module_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.pt is missing"):
        torchscript.load_module(tmp_path / "model.pt", torch.device("cpu"))


def test_last_line_drops_the_torchscript_stack():
    error = RuntimeError(
        "The following operation failed in the TorchScript interpreter.\n"
        "Traceback of TorchScript, serialized code (most recent call last):\n"
        '  File "code/__torch__.py", line 9, in forward\n'
        "RuntimeError: index out of range in self\n"
    )
    assert torchscript.last_line(error) == "RuntimeError: index out of range in self"


def parameters(**values: str) -> dict:
    return {"parameters": {key: {"string_value": value} for key, value in values.items()}}


def test_jit_settings_follow_the_config_as_the_native_backend_applies_them():
    saved = torch._C._jit_set_profiling_executor(True), torch._C._jit_set_profiling_mode(True)
    try:
        assert torchscript.configure_jit(parameters()) is True  # optimized execution unless disabled
        assert torch._C._jit_set_profiling_executor(True) is True  # unset parameters change nothing
        assert torchscript.configure_jit(parameters(DISABLE_OPTIMIZED_EXECUTION="true", ENABLE_JIT_EXECUTOR="false")) is False
        assert torch._C._jit_set_profiling_executor(True) is False
        assert torchscript.configure_jit(parameters(ENABLE_JIT_PROFILING="FALSE")) is True
        assert torch._C._jit_set_profiling_mode(True) is False
        with pytest.raises(ValueError, match="ENABLE_JIT_EXECUTOR must be true or false"):
            torchscript.configure_jit(parameters(ENABLE_JIT_EXECUTOR="yes please"))
    finally:
        torch._C._jit_set_profiling_executor(saved[0])
        torch._C._jit_set_profiling_mode(saved[1])


def test_thread_parameters_apply_as_the_native_backend_applies_them_and_unset_leave_the_environments():
    """In a fresh process: torch's thread counts are process-wide, and fixed once its pools start."""
    code = (
        "import torch; from harness.model_code import torchscript\n"
        "torchscript.configure_threads({})\n"
        "print(torch.get_num_threads())\n"
        "torchscript.configure_threads({'parameters': {'INTRA_OP_THREAD_COUNT': {'string_value': '1'},"
        " 'INTER_OP_THREAD_COUNT': {'string_value': '3'}}})\n"
        "print(torch.get_num_threads(), torch.get_num_interop_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert output.split("\n")[:2] == ["2", "1 3"]
