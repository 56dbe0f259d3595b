"""Runs the real Triton Inference Server (from nvidia-pytriton) against a model repository."""

from .process import Endpoints, ServerFailed, TritonServer, start_on_free_ports

__all__ = ["Endpoints", "ServerFailed", "TritonServer", "start_on_free_ports"]
