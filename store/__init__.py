"""Versioned model repositories in S3-compatible object storage: convert once, serve everywhere.

`python -m store publish` uploads a converted repository, every pipeline in it, under an immutable
version named by its content hash, with a manifest of every file's SHA-256 and every pipeline's
conversion record; `python -m store fetch` (and the launcher, given an s3:// repository) downloads a
version and verifies every file before Triton sees it.
"""

from .errors import StoreError
from .fetch import fetch
from .location import Location
from .publish import publish

__all__ = ["Location", "StoreError", "fetch", "publish"]
