"""Triton's own `pytorch` backend (libtorch, C++), built from source against this venv's torch, CPU only.

The Triton server that nvidia-pytriton ships (2.51, release r24.10) has only the Python backend; the NGC
image that production runs ships this one. `make setup` builds it (`python -m server.pytorch_backend`)
from the r24.10 sources at the commits below and against the installed torch wheel, so that the
launcher serves every classifier with the backend production runs. A build records what it was made
from (build.json); the next run rebuilds only when one of those inputs changed.

Sources come from GitHub at the pinned commits, or, without internet, from TRITON_BACKEND_SOURCES: a
tarball or a folder holding the same trees, one folder per entry of SOURCES.
Standard library only: it runs before anything imports torch.
"""

import argparse
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path

log = logging.getLogger(__name__)

RELEASE = "r24.10"  # the release of the Triton 2.51 server that nvidia-pytriton 0.7.0 ships
# Folder → (GitHub repository, commit): the r24.10 branches of Triton's repositories, the googletest
# archive `common` names, and RapidJSON's master. TRITON_BACKEND_SOURCES holds the same trees.
SOURCES = {
    "pytorch_backend": ("triton-inference-server/pytorch_backend", "e97a90061f7399b25368e2cb1f6d5c40f8cbae4e"),
    "core": ("triton-inference-server/core", "bfec7c61dc0939433f64f14e89b1973073eac8ba"),
    "common": ("triton-inference-server/common", "578491fc3944f77d16a6a38e3d7691c485c47ba0"),
    "backend": ("triton-inference-server/backend", "ac03a5d97403dec841ad46d0439e93db12c9268f"),
    "googletest": ("google/googletest", "9406a60c7839052e4944ea4dbc8344762a89f9bd"),
    "rapidjson": ("Tencent/rapidjson", "24b5e7a8b27f42fa16b96fc70aade9106cf7102f"),
}
SOURCES_VARIABLE = "TRITON_BACKEND_SOURCES"
GITHUB = "github"
ARCHIVE_URL = "https://codeload.github.com/{repository}/tar.gz/{commit}"

PROJECT = Path(__file__).resolve().parents[1]
BUILD_ROOT = PROJECT / "build" / "pytorch-backend"
LIBRARY = "libtriton_pytorch.so"
# CPU only, no torchvision; the rest is what building offline from SOURCES needs (FetchContent points at
# the unpacked trees; RapidJSON's build tree must not register itself in ~/.cmake, where a half-made
# entry breaks later configures).
NO_PACKAGE_REGISTRY = ("-DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON", "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON")
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DTRITON_ENABLE_GPU=OFF",
    "-DTRITON_PYTORCH_ENABLE_TORCHVISION=OFF",
    "-DTRITON_PYTORCH_ENABLE_TORCHTRT=OFF",
    "-DTRITON_ENABLE_NVTX=OFF",
    "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
    *NO_PACKAGE_REGISTRY,
)
# Debian packages that provide each tool the build runs (`make setup` installs them as root).
BUILD_TOOLS = {"cmake": "cmake", "c++": "g++", "make": "make"}
PYTHON_HEADERS_PACKAGE = "python3-dev"


class BuildFailed(RuntimeError):
    """The backend could not be built; the message says why in one line, and where the log is."""


class BackendNotBuilt(RuntimeError):
    """The launcher found no usable build: the message says to run `make setup`."""


@dataclass(frozen=True)
class Torch:
    """The installed torch wheel, found without importing it."""

    version: str
    include: tuple[Path, Path]  # torch/include and its C++ API headers
    libraries: Path  # torch/lib: libtorch.so, libc10.so, the libgomp it was built with

    @classmethod
    def find(cls) -> "Torch":
        spec = find_spec("torch")
        if spec is None or spec.origin is None:
            raise BackendNotBuilt("torch is not installed: run `make setup`")
        root = Path(spec.origin).parent
        include = root / "include"
        return cls(importlib.metadata.version("torch"), (include, include / "torch/csrc/api/include"), root / "lib")


@dataclass(frozen=True)
class BuildInputs:
    """Everything a build depends on: a build made from the same inputs is reused."""

    release: str
    commits: str  # the pinned commits of SOURCES, whichever way their trees arrive
    sources: str  # "github", or the sha256 of the tarball or folder given
    torch: str
    python_include: str
    compiler: str
    cmake_options: tuple[str, ...]

    def record(self) -> dict:
        return {**asdict(self), "cmake_options": list(self.cmake_options)}


def build_inputs(sources: Path | None, torch: Torch) -> BuildInputs:
    return BuildInputs(
        release=RELEASE,
        commits=" ".join(commit for _, commit in SOURCES.values()),
        sources=GITHUB if sources is None else digest(sources),
        torch=torch.version,
        python_include=python_include(),
        compiler=_first_line([compiler(), "--version"]),
        cmake_options=CMAKE_OPTIONS,
    )


def digest(path: Path) -> str:
    """sha256 of a tarball, or of a folder's relative paths and contents."""
    sha = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            sha.update(str(file.relative_to(path)).encode() + b"\0")
        sha.update(file.read_bytes())
    return sha.hexdigest()


def python_include() -> str:
    return sysconfig.get_paths()["include"]


def compiler() -> str:
    return os.environ.get("CXX") or "c++"


def _first_line(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.partition("\n")[0]
    except OSError:
        return ""


def missing_tools() -> dict[str, str]:
    """Tool → the Debian package that provides it, for each the build needs and this machine lacks."""
    missing = {tool: package for tool, package in BUILD_TOOLS.items() if shutil.which(tool) is None}
    if not (Path(python_include()) / "Python.h").exists():
        missing["Python.h"] = PYTHON_HEADERS_PACKAGE
    return missing


def ensure_tools() -> None:
    """Install missing build tools with apt-get where this runs as root, else refuse in one line."""
    missing = missing_tools()
    if not missing:
        return
    packages = sorted(set(missing.values()))
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log.info("installing the build tools %s", ", ".join(packages))
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
            subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
        missing = missing_tools()
    if missing:
        raise BuildFailed(
            f"building Triton's pytorch backend needs {', '.join(missing)}: install {' '.join(sorted(set(missing.values())))}"
            + (" (Python.h: the headers of the Python that runs .venv)" if "Python.h" in missing else "")
        )


def unpack_sources(sources: Path | None, destination: Path) -> None:
    """The trees of SOURCES under `destination`: from the tarball or folder given, else from GitHub."""
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    if sources is None:
        for folder, (repository, commit) in SOURCES.items():
            download_tree(ARCHIVE_URL.format(repository=repository, commit=commit), destination / folder)
    elif sources.is_dir():
        for folder in SOURCES:
            if (sources / folder).is_dir():
                shutil.copytree(sources / folder, destination / folder)
    else:
        with tarfile.open(sources) as archive:
            archive.extractall(destination, filter="data")
    absent = [folder for folder in SOURCES if not (destination / folder).is_dir()]
    if absent:
        raise BuildFailed(f"{sources or 'GitHub'} lacks the source folder(s) {', '.join(absent)}")


def download_tree(url: str, destination: Path) -> None:
    """A GitHub archive (one top folder, `<name>-<commit>/`) unpacked as `destination`."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as error:
        raise BuildFailed(f"cannot download {url} ({error}): without internet, set {SOURCES_VARIABLE}") from None
    staging = destination.with_name(destination.name + ".download")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(staging, filter="data")
    (top,) = staging.iterdir()
    top.rename(destination)
    staging.rmdir()


def cmake_commands(source: Path, work: Path, torch: Torch, jobs: int) -> list[list[str]]:
    """RapidJSON installed into a prefix, then the backend configured against the unpacked trees and built."""
    rapidjson = work / "rapidjson"
    fetched = {"REPO-COMMON": "common", "REPO-CORE": "core", "REPO-BACKEND": "backend", "GOOGLETEST": "googletest"}
    return [
        ["cmake", "-S", str(source / "rapidjson"), "-B", str(rapidjson / "build"), f"-DCMAKE_INSTALL_PREFIX={rapidjson / 'install'}",
         "-DRAPIDJSON_BUILD_DOC=OFF", "-DRAPIDJSON_BUILD_EXAMPLES=OFF", "-DRAPIDJSON_BUILD_TESTS=OFF", *NO_PACKAGE_REGISTRY],
        ["cmake", "--install", str(rapidjson / "build")],
        ["cmake", "-S", str(source / "pytorch_backend"), "-B", str(work / "cmake"), *CMAKE_OPTIONS,
         f"-DCMAKE_CXX_COMPILER={shutil.which(compiler()) or compiler()}",
         f"-DRapidJSON_DIR={rapidjson / 'install' / 'lib' / 'cmake' / 'RapidJSON'}",
         # common reads RAPIDJSON_INCLUDE_DIRS, which RapidJSON's config (master) spells RapidJSON_INCLUDE_DIRS
         f"-DRAPIDJSON_INCLUDE_DIRS={rapidjson / 'install' / 'include'}",
         *(f"-DFETCHCONTENT_SOURCE_DIR_{name}={source / folder}" for name, folder in fetched.items()),
         f"-DTRITON_PYTORCH_INCLUDE_PATHS={';'.join(map(str, torch.include))}",
         f"-DTRITON_PYTORCH_LIB_PATHS={torch.libraries}",
         f"-DPython3_INCLUDE_DIR={python_include()}",
         f"-DTRITON_BACKEND_REPO_TAG={RELEASE}", f"-DTRITON_CORE_REPO_TAG={RELEASE}", f"-DTRITON_COMMON_REPO_TAG={RELEASE}"],
        ["cmake", "--build", str(work / "cmake"), "--target", "triton-pytorch-backend", "--parallel", str(jobs)],
    ]  # fmt: skip


def recorded_build(root: Path = BUILD_ROOT) -> dict | None:
    try:
        return json.loads((root / "build.json").read_text())
    except (OSError, ValueError):
        return None


def up_to_date(root: Path, inputs: BuildInputs) -> bool:
    """Whether `root` holds a library built from `inputs`. Without sources given, a build of the same pinned
    commits from a tarball or folder counts too: offline, the next `make setup` must not need them again."""
    recorded = recorded_build(root)
    if not (root / LIBRARY).exists() or recorded is None:
        return False
    built, wanted = dict(recorded.get("inputs", {})), inputs.record()
    if inputs.sources == GITHUB:
        built.pop("sources", None)
        wanted.pop("sources")
    return built == wanted


def build(sources: Path | None, root: Path = BUILD_ROOT, force: bool = False) -> Path:
    """The built library under `root`: reused when built from the same inputs, else built now. A build that
    fails leaves the previous library and its record in place."""
    torch = Torch.find()
    inputs = build_inputs(sources, torch)
    library = root / LIBRARY
    if not force and up_to_date(root, inputs):
        log.info("Triton's pytorch backend is up to date: %s", library)
        return library
    ensure_tools()
    work, log_file = root / "work", root / "build.log"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    began = time.monotonic()
    log.info("building Triton's pytorch backend %s against torch %s (log: %s)", RELEASE, torch.version, log_file)
    unpack_sources(sources, work / "src")
    with log_file.open("w") as output:
        for command in cmake_commands(work / "src", work, torch, jobs=os.cpu_count() or 1):
            output.write(f"$ {' '.join(command)}\n")
            output.flush()
            if subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False).returncode != 0:
                raise BuildFailed(f"building Triton's pytorch backend failed at `{command[0]} {command[1]} ...`: see {log_file}")
    (root / "build.json").unlink(missing_ok=True)  # no record ever describes a library it did not build
    shutil.copy2(work / "cmake" / LIBRARY, library)
    seconds = round(time.monotonic() - began, 1)
    record = {"inputs": inputs.record(), "seconds": seconds, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (root / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    log.info("built %s in %.0f s", library, seconds)
    return library


def built_library(root: Path = BUILD_ROOT) -> Path:
    """The library the launcher serves with; BackendNotBuilt when absent or built for another torch."""
    library, recorded = root / LIBRARY, recorded_build(root)
    if not library.exists() or recorded is None:
        raise BackendNotBuilt(f"Triton's pytorch backend is not built ({library}): run `make setup`")
    built_for, installed = recorded["inputs"]["torch"], importlib.metadata.version("torch")
    if built_for != installed:
        raise BackendNotBuilt(f"Triton's pytorch backend was built for torch {built_for}, .venv has {installed}: run `make setup`")
    return library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.pytorch_backend", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=lambda value: Path(value) if value else None, default=os.environ.get(SOURCES_VARIABLE) or None,
                        help=f"a tarball or folder of the source trees (default: ${SOURCES_VARIABLE}, else GitHub)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=BUILD_ROOT, help="where the library and build.json go")
    parser.add_argument("--force", action="store_true", help="build even when the recorded inputs match")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        build(args.sources.resolve() if args.sources else None, args.output.resolve(), args.force)
    except (BuildFailed, BackendNotBuilt) as error:
        print(f"python -m server.pytorch_backend: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
