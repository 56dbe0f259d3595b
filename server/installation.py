"""Where the Triton server that nvidia-pytriton ships lives, and the backend directory it needs: the wheel's
Python backend and Triton's own pytorch backend, built by `make setup` (pytorch_backend.py)."""

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


class TritonNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class TritonInstallation:
    binary: Path
    python_backend: Path  # libtriton_python.so and triton_python_backend_utils.py
    stub: Path  # triton_python_backend_stub for the running Python
    libraries: Path  # the shared libraries the binary and the stub link against
    pytorch_backend: Path  # libtriton_pytorch.so, built against this venv's torch
    torch_libraries: Path  # torch/lib, which the pytorch backend links against
    caches: Path  # Triton's response caches: local/libtritoncache_local.so

    @classmethod
    def find(cls) -> "TritonInstallation":
        spec = find_spec("pytriton")
        if spec is None or spec.origin is None:
            raise TritonNotInstalled("nvidia-pytriton is not installed: run `make setup`")
        root = Path(spec.origin).parent / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        from .pytorch_backend import BackendNotBuilt, Torch, built_library  # not at import: `python -m server.pytorch_backend`

        try:
            pytorch_backend, torch_libraries = built_library(), Torch.find().libraries
        except BackendNotBuilt as error:
            raise TritonNotInstalled(str(error)) from None
        installation = cls(
            binary=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
            libraries=Path(spec.origin).parents[1] / "nvidia_pytriton.libs",
            pytorch_backend=pytorch_backend,
            torch_libraries=torch_libraries,
            caches=root / "caches",
        )
        for path in (installation.binary, installation.python_backend, installation.stub, installation.libraries, installation.caches):
            if not path.exists():
                raise TritonNotInstalled(f"{path} not found: nvidia-pytriton is incomplete for Python {version}")
        return installation

    @property
    def server_library(self) -> Path:
        """libtritonserver.so, renamed by the wheel's packaging to libtritonserver-<hash>.so."""
        found = sorted(self.libraries.glob("libtritonserver-*.so"))
        if not found:
            raise TritonNotInstalled(f"no libtritonserver-*.so in {self.libraries}: nvidia-pytriton is incomplete")
        return found[0]

    def assemble_backends(self, directory: Path) -> Path:
        """Fill `directory` with the Python backend and Triton's pytorch backend.

        Backend libraries are copied, not linked: Triton refuses one whose real path lies outside the
        backend directory. The pytorch backend asks for libtritonserver.so, which it finds beside itself
        (its RUNPATH is $ORIGIN): a link of that name to the wheel's renamed copy resolves to the library
        the server has already loaded.
        """
        python = directory / "python"
        python.mkdir(parents=True)
        for source in (*self.python_backend.glob("*.so"), *self.python_backend.glob("*.py"), self.stub):
            shutil.copy2(source, python / source.name)
        pytorch = directory / "pytorch"
        pytorch.mkdir()
        shutil.copy2(self.pytorch_backend, pytorch / self.pytorch_backend.name)
        (pytorch / "libtritonserver.so").symlink_to(self.server_library)
        return directory

    def environment(self) -> dict[str, str]:
        """The server's environment: the stubs must find this venv's packages and libpython, the pytorch
        backend libtorch; the allocator (allocator.py) and the thread counts and wait policy (threads.py)
        it runs with, which reach libtorch inside tritonserver too."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        libraries = [str(self.libraries), str(self.torch_libraries), sysconfig.get_config_var("LIBDIR") or ""]
        # An empty entry would make the loader search the working directory.
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [*libraries, env.get("LD_LIBRARY_PATH", "")]))
        return serving_environment(env, log.info, log.warning)
