"""Fetch a file named by URI: file://, pvc://claim/path, https:// and s3://.

A `pvc://claim/path` URI names a file on a PersistentVolumeClaim that the Job mounts at
`$MODELDEPLOY_PVC_ROOT/<claim>` (default `/mnt/pvc/<claim>`).
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from modeldeploy.compress.errors import CompressError

PVC_ROOT_ENV = "MODELDEPLOY_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"
MAX_DOWNLOAD_BYTES = 4 * 1024**3
DOWNLOAD_TIMEOUT_S = 60.0
CHUNK = 1 << 20


def local_path(uri: str, environ: Mapping[str, str]) -> Path | None:
    """The local path of a file:// or pvc:// URI (or a plain path); None for remote URIs."""
    parsed = urlparse(uri)
    if parsed.scheme == "":
        return Path(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "pvc":
        if not parsed.netloc or parsed.path in ("", "/"):
            raise CompressError(f"{uri}: a pvc URI is pvc://<claim>/<path>")
        root = Path(environ.get(PVC_ROOT_ENV) or DEFAULT_PVC_ROOT)
        return root / parsed.netloc / unquote(parsed.path).lstrip("/")
    if parsed.scheme in ("https", "http", "s3"):
        return None
    raise CompressError(f"{uri}: unsupported scheme {parsed.scheme!r} (file, pvc, https, s3)")


def fetch(uri: str, workdir: Path, environ: Mapping[str, str], what: str) -> Path:
    """A local path holding the content of `uri` (downloaded into `workdir` when remote)."""
    path = local_path(uri, environ)
    if path is not None:
        if not path.exists():
            raise CompressError(f"{what} not found: {uri} ({path} does not exist)")
        return path
    target = Path(tempfile.mkdtemp(prefix="fetch-", dir=workdir)) / (
        Path(urlparse(uri).path).name or "download"
    )
    if uri.startswith("s3://"):
        _fetch_s3(uri, target, what)
    else:
        _fetch_https(uri, target, what)
    return target


def _fetch_https(uri: str, target: Path, what: str) -> None:
    try:
        with (
            urllib.request.urlopen(uri, timeout=DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            declared = response.headers.get("Content-Length")
            if declared is not None and int(declared) > MAX_DOWNLOAD_BYTES:
                raise CompressError(
                    f"{what} {uri} is {declared} bytes, over the {MAX_DOWNLOAD_BYTES} limit"
                )
            received = 0
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise CompressError(
                        f"{what} {uri} is over the {MAX_DOWNLOAD_BYTES} byte download limit"
                    )
                out.write(chunk)
    except urllib.error.HTTPError as error:
        raise CompressError(f"cannot download {what} {uri}: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise CompressError(f"cannot download {what} {uri}: {reason}") from None


def _fetch_s3(uri: str, target: Path, what: str) -> None:
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise CompressError(
            f"{what} {uri}: s3:// needs the s3 extra (pip install 'modeldeploy[s3]')"
        ) from None
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    if not parsed.netloc or not key:
        raise CompressError(f"{uri}: an s3 URI is s3://<bucket>/<key>")
    # Credentials and the endpoint come from the standard AWS_* variables (a mounted Secret);
    # they are never logged.
    client = boto3.client("s3")
    try:
        size = client.head_object(Bucket=parsed.netloc, Key=key)["ContentLength"]
        if size > MAX_DOWNLOAD_BYTES:
            raise CompressError(f"{what} {uri} is {size} bytes, over the download limit")
        client.download_file(parsed.netloc, key, str(target))
    except botocore.exceptions.BotoCoreError as error:
        raise CompressError(f"cannot download {what} {uri}: {error}") from None
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise CompressError(f"cannot download {what} {uri}: {code}") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None, what: str) -> str:
    """The file's sha256; fails when it differs from `expected` (hex, `sha256:` prefix ok)."""
    actual = file_sha256(path)
    if expected is not None:
        wanted = expected.lower().removeprefix("sha256:")
        if wanted != actual:
            raise CompressError(f"{what} sha256 mismatch: expected {wanted}, got {actual}")
    return actual
