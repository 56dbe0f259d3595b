"""Upload a converted repository as a new immutable version; the manifest goes last.

A version exists once its manifest does: an interrupted upload leaves objects nobody serves, and
a second publish of the same version is refused (atomically, by a conditional write), or with
exist_ok accepted as it is: the same version name means the same files.
"""

import json
from pathlib import Path

from botocore.exceptions import ClientError
from tqdm import tqdm

from . import version_manifest
from .errors import StoreError
from .location import Location
from .s3 import client, error_code, not_found, user_errors


def publish(
    repository: Path, destination: str, name: str | None = None, create_bucket: bool = False, exist_ok: bool = False
) -> str:
    """Publish `repository` under `destination` (s3://...); the URL of the version."""
    manifest = version_manifest.build(repository, name)
    location = Location.parse(destination).child(manifest["version"])
    s3 = client(location)
    with user_errors(location):
        if create_bucket:
            _ensure_bucket(s3, location.bucket)
        if _exists(s3, location.bucket, location.key(version_manifest.FILENAME)):
            if exist_ok:
                return str(location)
            raise _already_published(location)
        _upload(s3, repository, location, manifest["files"])
        try:
            s3.put_object(
                Bucket=location.bucket,
                Key=location.key(version_manifest.FILENAME),
                Body=json.dumps(manifest, indent=2).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error_code(error) in ("PreconditionFailed", "412"):
                if exist_ok:
                    return str(location)
                raise _already_published(location) from None
            raise
    return str(location)


def _already_published(location: Location) -> StoreError:
    return StoreError(f"version {location.name} is already published at {location}; published versions are never overwritten")


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if not_found(error):
            return False
        raise
    return True


def _ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if not not_found(error) and error_code(error) != "NoSuchBucket":
            raise
        s3.create_bucket(Bucket=bucket)


def _upload(s3, repository: Path, location: Location, files: dict[str, dict]) -> None:
    total = sum(entry["bytes"] for entry in files.values())
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"publishing {location.name}", disable=None) as progress:
        for relative in files:
            s3.upload_file(str(repository / relative), location.bucket, location.key(relative), Callback=progress.update)
