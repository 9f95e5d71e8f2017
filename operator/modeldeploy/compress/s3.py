"""The S3 client (the `s3` extra) and its failures as one-line reasons.

Credentials and the endpoint come from the standard `AWS_*` variables of the process (a
Secret mounted with `envFrom`): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, and `AWS_REGION` or `AWS_DEFAULT_REGION`. They are
never logged; a failure is reported by its S3 error code only.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

from modeldeploy.compress.errors import CompressError


def split(uri: str) -> tuple[str, str]:
    """The bucket and the key (or prefix, possibly empty) of `s3://bucket/key`."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise CompressError(f"{uri}: an s3 URI is s3://<bucket>/<key>")
    return parsed.netloc, parsed.path.lstrip("/")


def client(uri: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise CompressError(
            f"{uri}: s3:// needs the s3 extra (pip install 'modeldeploy[s3]')"
        ) from None
    region = os.environ.get("AWS_REGION")  # botocore itself reads only AWS_DEFAULT_REGION
    return boto3.client("s3", region_name=region) if region else boto3.client("s3")


def failures() -> tuple[type[Exception], ...]:
    """The exceptions an S3 call raises."""
    import boto3.exceptions
    import botocore.exceptions

    return (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        boto3.exceptions.S3UploadFailedError,
    )


def reason(error: BaseException) -> str:
    """The S3 error code (`NoSuchKey`, `AccessDenied`, `404 Not Found`), or botocore's reason."""
    # upload_file wraps the ClientError in an S3UploadFailedError raised while handling it.
    for candidate in (error, error.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            return _code(response)
    return str(error)


def _code(response: dict[str, Any]) -> str:
    code = str(response.get("Error", {}).get("Code", "error"))
    if code.isdigit():  # a HEAD answer has no body, so no code: name the status
        try:
            return f"{code} {HTTPStatus(int(code)).phrase}"
        except ValueError:
            return code
    return code


def is_missing(error: Exception) -> bool:
    return reason(error) in ("NoSuchKey", "404 Not Found")


def exists(s3: Any, bucket: str, key: str, uri: str) -> bool:
    """Whether the object is there (a missing one is no failure)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except failures() as error:
        if is_missing(error):
            return False
        raise CompressError(f"cannot read {uri}: {reason(error)}") from None
    return True
