"""Runs the real Triton Inference Server against a model repository: locally (from nvidia-pytriton) and in the image.

The serving core, used by both:
- config.py: ServingConfig, the one set of serving defaults (repository, endpoints, timeouts, keys),
  filled from the launcher's argv or the image's environment;
- processes.py: start, ready-with-deadline and stop-with-grace for every process the project runs;
- triton_flags.py: the one definition of Triton's command line; drain.py: the exact drain before a stop;
  stub_watch.py: which Python stubs died; environment.py: tcmalloc (allocator.py) and the thread
  counts of the CPU the server may use (threads.py); procfs.py: what /proc says of the server;
  http_calls.py: the one HTTP helper.
The local launcher:
- triton_server.py: TritonServer, one tritonserver process, ready-checked, drained and stopped;
  start_on_free_ports() for tests and users' CI; pytest_plugin.py builds fixtures on it;
- __main__.py and supervisor.py: `python -m server`, which restarts a server whose stub died;
- installation.py: where nvidia-pytriton keeps tritonserver, and the backend directory: its Python backend and
  Triton's own pytorch backend, which pytorch_backend.py builds from source against the venv's torch (`make setup`).
The image: container.py, its entry (`python3 -m server.container`), and health.py, its health check.
Every module here imports only the standard library (and store, for an s3:// version), so the image,
whose python3 has nothing else, carries the package whole.
"""

from .config import Endpoints, ServingConfig
from .triton_server import ServerFailed, TritonServer, free_endpoints, start_on_free_ports

__all__ = ["Endpoints", "ServerFailed", "ServingConfig", "TritonServer", "free_endpoints", "start_on_free_ports"]
