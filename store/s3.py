"""The S3 client and the errors a user can act on, each as one line.

Credentials come from boto3's usual chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
or the pod's role.
"""

from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from .errors import StoreError
from .location import Location

# Fail in seconds, not minutes, when the store is down; a few retries ride out a blip.
_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
_REFUSED_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def client(location: Location):
    """A client of its own session: boto3's default session keeps the credentials it first found for the
    life of the process, and a process may talk to several stores."""
    return boto3.session.Session().client("s3", endpoint_url=location.endpoint, config=_CONFIG)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def not_found(error: ClientError) -> bool:
    return error_code(error) in _NOT_FOUND


@contextmanager
def user_errors(location: Location):
    """botocore's exceptions, as the one-line StoreError a user can act on."""
    where = location.endpoint or "the default S3 endpoint"
    try:
        yield
    except NoCredentialsError:
        raise StoreError("no credentials for the store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise StoreError(f"cannot reach the store at {where}: {error}") from None
    except ClientError as error:
        code = error_code(error)
        if code in _REFUSED_CREDENTIALS:
            raise StoreError(
                f"the store at {where} refused the credentials ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        if code == "NoSuchBucket":
            raise StoreError(f"bucket {location.bucket!r} does not exist at {where}") from None
        message = error.response.get("Error", {}).get("Message", "")
        raise StoreError(f"the store at {where} answered {code or 'an error'}: {message}") from None
