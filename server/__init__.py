"""Runs the real Triton Inference Server against a model repository: locally (from nvidia-pytriton) and in the image.

- process.py: TritonServer, one tritonserver process, ready-checked, drained and stopped;
  start_on_free_ports() for tests and users' CI; pytest_plugin.py builds fixtures on it;
- __main__.py and supervisor.py: `python -m server`, which restarts a server whose stub died;
- container.py: the production image's entry (`python3 -m server.container`);
- triton_flags.py: the one definition of Triton's command line; http_calls.py: the one HTTP helper;
  drain.py: the exact drain before a stop; allocator.py: tcmalloc and its settings;
  procfs.py: what /proc says of the server and its Python stubs;
- installation.py: where nvidia-pytriton keeps tritonserver; backends/: the Python-based `pytorch`
  backend; object_store.py: a local SeaweedFS for `make store` and the tests.
What the image's entry imports is standard library only.
"""

from .process import Endpoints, ServerFailed, TritonServer, start_on_free_ports

__all__ = ["Endpoints", "ServerFailed", "TritonServer", "start_on_free_ports"]
