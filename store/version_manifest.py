"""A published version's manifest: every file's SHA-256 and size, every pipeline's conversion record,
and the library versions, under a version name derived from the files' hashes.

The version is `<digest>` or `<name>-<digest>`, where digest is the first 16 hex digits of the
SHA-256 of the canonical file list: the same files always publish as the same version, and a
manifest edited after publishing no longer matches its own version.

Format 2 records each pipeline's conversion.json under `pipelines` (name → record); format 1, from
before a repository held several pipelines, recorded the one pipeline's under `conversion`. Fetching
reads only `files`, so versions of both formats are served.
"""

import hashlib
import json
import re
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from conversion.repository import Repository, RepositoryError

from .errors import StoreError

FILENAME = "manifest.json"
FORMAT = 2  # what publish writes
FORMATS = (1, 2)  # what fetch reads
# What built the artifacts: recorded so a version can be rebuilt or its loader matched.
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "numpy")
DIGEST_LENGTH = 16
VERSION = re.compile(rf"^(?:(?P<name>[A-Za-z0-9._-]+)-)?(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def repository_files(repository: Path) -> list[str]:
    """Every file Triton would load, relative and sorted; Python's bytecode caches are not published."""
    return sorted(
        path.relative_to(repository).as_posix()
        for path in repository.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def content_digest(files: dict[str, dict]) -> str:
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def version_name(files: dict[str, dict], name: str | None = None) -> str:
    digest = content_digest(files)[:DIGEST_LENGTH]
    if name is None:
        return digest
    if not _NAME.match(name):
        raise StoreError(f"version name {name!r} may hold only letters, digits, '.', '_' and '-'")
    return f"{name}-{digest}"


def build(repository: Path, name: str | None = None) -> dict:
    """The manifest of a converted repository: every pipeline in it checked and recorded."""
    try:
        Repository(repository).check()
        records = Repository(repository).manifest_texts()
    except RepositoryError as error:
        raise StoreError(str(error)) from None
    files = {
        relative: {"sha256": sha256_file(repository / relative), "bytes": (repository / relative).stat().st_size}
        for relative in repository_files(repository)
    }
    return {
        "format": FORMAT,
        "version": version_name(files, name),
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "pipelines": {pipeline: json.loads(text) for pipeline, text in records.items()},
        "libraries": _library_versions(),
    }


def check(manifest: dict, version: str) -> None:
    """Refuse a manifest that is not the one published as `version`."""
    match = VERSION.match(version)
    if match is None:
        raise StoreError(f"{version!r} is not a published version name (<digest> or <name>-<digest>, digest {DIGEST_LENGTH} hex digits)")
    if manifest.get("format") not in FORMATS or not isinstance(manifest.get("files"), dict):
        raise StoreError(f"version {version}: {FILENAME} is not a manifest of format {' or '.join(map(str, FORMATS))}")
    if content_digest(manifest["files"])[:DIGEST_LENGTH] != match["digest"]:
        raise StoreError(f"version {version}: {FILENAME} does not match the version's digest (it was changed after publishing)")
    for relative in manifest["files"]:
        if relative.startswith("/") or ".." in Path(relative).parts:
            raise StoreError(f"version {version}: {FILENAME} lists a path outside the repository: {relative!r}")


def _library_versions() -> dict[str, str]:
    versions = {}
    for library in LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            continue
    return versions
