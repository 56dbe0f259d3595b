"""Where the Triton server that nvidia-pytriton ships lives, and the backend directory it needs."""

import logging
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from .environment import serving_environment

log = logging.getLogger(__name__)

PYTORCH_BACKEND_SOURCE = Path(__file__).resolve().parent / "backends" / "pytorch"


class TritonNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class TritonInstallation:
    binary: Path
    python_backend: Path  # libtriton_python.so and triton_python_backend_utils.py
    stub: Path  # triton_python_backend_stub for the running Python
    libraries: Path  # the shared libraries the binary and the stub link against

    @classmethod
    def find(cls) -> "TritonInstallation":
        spec = find_spec("pytriton")
        if spec is None or spec.origin is None:
            raise TritonNotInstalled("nvidia-pytriton is not installed: run `make setup`")
        root = Path(spec.origin).parent / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        installation = cls(
            binary=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
            libraries=Path(spec.origin).parents[1] / "nvidia_pytriton.libs",
        )
        for path in (installation.binary, installation.python_backend, installation.stub, installation.libraries):
            if not path.exists():
                raise TritonNotInstalled(f"{path} not found: nvidia-pytriton is incomplete for Python {version}")
        return installation

    def assemble_backends(self, directory: Path) -> Path:
        """Fill `directory` with the Python backend and the Python-based `pytorch` backend.

        Files are copied, not linked: Triton refuses a backend library whose real path lies
        outside the backend directory.
        """
        python = directory / "python"
        python.mkdir(parents=True)
        for source in (*self.python_backend.glob("*.so"), *self.python_backend.glob("*.py"), self.stub):
            shutil.copy2(source, python / source.name)
        pytorch = directory / "pytorch"
        pytorch.mkdir()
        for source in PYTORCH_BACKEND_SOURCE.glob("*.py"):
            shutil.copy2(source, pytorch / source.name)
        return directory

    def environment(self) -> dict[str, str]:
        """The server's environment: the stubs must find this venv's packages and libpython; the
        allocator (allocator.py) and the thread counts and wait policy (threads.py) it runs with."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        libraries = [str(self.libraries), sysconfig.get_config_var("LIBDIR") or ""]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*libraries, env.get("LD_LIBRARY_PATH", "")])
        return serving_environment(env, log.info, log.warning)
