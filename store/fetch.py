"""Download a published version and verify every file against its manifest before anything serves it.

Only the files the manifest lists are downloaded, each checked as it arrives; the repository
appears at its final path only once all of them have matched, so Triton serves exactly the bytes
that were published or nothing. Serving from the local copy also keeps a running server (and its
restarts) independent of the store.
"""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError
from tqdm import tqdm

from . import version_manifest
from .errors import StoreError
from .location import Location
from .s3 import client, not_found, user_errors

_CHUNK = 1 << 20


def fetch(url: str, cache: Path) -> Path:
    """The verified local copy of the version at `url`, under `cache`; its manifest lies beside it."""
    location = Location.parse(url)
    s3 = client(location)
    with user_errors(location):
        manifest = _read_manifest(s3, location)
        version_manifest.check(manifest, location.name)
        destination = cache / location.bucket / location.prefix
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{location.name}-", dir=destination.parent))
        try:
            _download(s3, location, manifest["files"], staging / "repository")
            (staging / version_manifest.FILENAME).write_text(json.dumps(manifest, indent=2))
            shutil.rmtree(destination, ignore_errors=True)
            staging.rename(destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return destination / "repository"


def published_versions(s3, location: Location) -> list[str]:
    """The version names under `location` (folders holding a manifest are not checked here)."""
    prefix = location.key("")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix, Delimiter="/")
    names = [entry["Prefix"][len(prefix) :].rstrip("/") for page in pages for entry in page.get("CommonPrefixes", [])]
    return sorted(name for name in names if version_manifest.VERSION.match(name))


def _read_manifest(s3, location: Location) -> dict:
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key(version_manifest.FILENAME))["Body"].read()
    except ClientError as error:
        if not not_found(error):
            raise
        known = published_versions(s3, location.parent)
        listing = f"published there: {', '.join(known)}" if known else "none is published there"
        raise StoreError(f"no published version {location.name!r} at {location.parent} ({listing})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise StoreError(f"version {location.name}: {version_manifest.FILENAME} is not JSON") from None


def _download(s3, location: Location, files: dict[str, dict], repository: Path) -> None:
    total = sum(entry["bytes"] for entry in files.values())
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"fetching {location.name}", disable=None) as progress:
        for relative, entry in files.items():
            target = repository / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = _download_file(s3, location, relative, target, progress)
            if digest != entry["sha256"]:
                raise StoreError(
                    f"version {location.name}: {relative} in the store does not match its SHA-256 in the manifest "
                    "(corrupted or tampered with); refusing to serve it"
                )


def _download_file(s3, location: Location, relative: str, target: Path, progress: tqdm) -> str:
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key(relative))["Body"]
    except ClientError as error:
        if not_found(error):
            raise StoreError(f"version {location.name}: {relative} is listed in the manifest but missing from the store") from None
        raise
    digest = hashlib.sha256()
    with open(target, "wb") as file:
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
            file.write(chunk)
            progress.update(len(chunk))
    return digest.hexdigest()
