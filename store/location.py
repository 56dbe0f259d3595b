"""Where a repository lives in a store, written as Triton writes S3 repositories.

    s3://bucket/path                         AWS, or the endpoint in $AWS_ENDPOINT_URL
    s3://http://host:port/bucket/path        any S3-compatible store (SeaweedFS, MinIO, ...)
"""

import re
from dataclasses import dataclass

from .errors import StoreError

_ENDPOINT = re.compile(r"^(?P<endpoint>https?://[^/]+)/(?P<rest>.*)$")


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # without leading or trailing slashes; "" is the bucket's root
    endpoint: str | None = None  # None: boto3's default (AWS, or $AWS_ENDPOINT_URL)

    @classmethod
    def parse(cls, url: str) -> "Location":
        if not url.startswith("s3://"):
            raise StoreError(f"{url!r} is not an s3:// URL (s3://bucket/path or s3://http://host:port/bucket/path)")
        rest, endpoint = url[len("s3://") :], None
        match = _ENDPOINT.match(rest)
        if match:
            endpoint, rest = match["endpoint"], match["rest"]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoreError(f"{url!r} names no bucket")
        return cls(bucket, prefix.strip("/"), endpoint)

    @property
    def name(self) -> str:
        """The last path segment (a version, for a published repository)."""
        return self.prefix.rpartition("/")[2]

    @property
    def parent(self) -> "Location":
        return Location(self.bucket, self.prefix.rpartition("/")[0], self.endpoint)

    def child(self, name: str) -> "Location":
        return Location(self.bucket, self.key(name), self.endpoint)

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def __str__(self) -> str:
        root = f"{self.endpoint}/" if self.endpoint else ""
        return f"s3://{root}{self.bucket}/{self.prefix}".rstrip("/")
