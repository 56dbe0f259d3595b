"""Runs the real Triton Inference Server (from nvidia-pytriton) against a model repository."""

from .process import Endpoints, ServerFailed, TritonServer

__all__ = ["Endpoints", "ServerFailed", "TritonServer"]
