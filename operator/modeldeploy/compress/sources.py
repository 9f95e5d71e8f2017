"""Fetch a file named by URI: file://, pvc://claim/path, https:// and s3://.

A `pvc://claim/path` URI names a file on a PersistentVolumeClaim that the Job mounts at
`$MODELDEPLOY_PVC_ROOT/<claim>` (default `/mnt/pvc/<claim>`). An https download sends
`Authorization: Bearer $MODELDEPLOY_HTTPS_TOKEN`, or basic auth from
`$MODELDEPLOY_HTTPS_USERNAME` and `$MODELDEPLOY_HTTPS_PASSWORD`, when they are set (from a
Secret); never to the target of a redirect, and never in a message.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from modeldeploy.compress import s3
from modeldeploy.compress.errors import CompressError

PVC_ROOT_ENV = "MODELDEPLOY_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"
HTTPS_TOKEN_ENV = "MODELDEPLOY_HTTPS_TOKEN"
HTTPS_USERNAME_ENV = "MODELDEPLOY_HTTPS_USERNAME"
HTTPS_PASSWORD_ENV = "MODELDEPLOY_HTTPS_PASSWORD"
REDACT_MIN_CHARS = 8
SECRET_ENVS = (HTTPS_TOKEN_ENV, HTTPS_PASSWORD_ENV, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
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
        _fetch_https(uri, target, what, environ)
    return target


def redact(message: str, environ: Mapping[str, str]) -> str:
    """`message` with the value of each credential variable replaced by `***`.

    A safety net for unexpected errors: no message is built from a credential. Values under
    8 characters are left alone, as replacing them would garble the message.
    """
    for name in SECRET_ENVS:
        secret = environ.get(name, "").strip()
        if len(secret) >= REDACT_MIN_CHARS:
            message = message.replace(secret, "***")
    return message


def _authorization(environ: Mapping[str, str]) -> str | None:
    token = environ.get(HTTPS_TOKEN_ENV, "").strip()  # a Secret made from a file ends in \n
    if token:
        if not token.isprintable() or " " in token:  # refused here, not echoed by http.client
            raise CompressError(f"${HTTPS_TOKEN_ENV} holds a character not allowed in a token")
        return f"Bearer {token}"
    username = environ.get(HTTPS_USERNAME_ENV, "").strip()
    if username:
        password = environ.get(HTTPS_PASSWORD_ENV, "").strip()
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return None


def _fetch_https(uri: str, target: Path, what: str, environ: Mapping[str, str]) -> None:
    request = urllib.request.Request(uri)
    authorization = _authorization(environ)
    if authorization is not None:
        # Unredirected: a redirect to another host (a signed object URL) never gets it.
        request.add_unredirected_header("Authorization", authorization)
    try:
        with (
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response,
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
            if declared is not None and received != int(declared):  # the connection dropped
                raise CompressError(
                    f"cannot download {what} {uri}: got {received} of {declared} bytes"
                )
    except urllib.error.HTTPError as error:
        raise CompressError(f"cannot download {what} {uri}: HTTP {error.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise CompressError(f"cannot download {what} {uri}: {reason}") from None


def _fetch_s3(uri: str, target: Path, what: str) -> None:
    bucket, key = s3.split(uri)
    if not key:
        raise CompressError(f"{uri}: an s3 URI is s3://<bucket>/<key>")
    client = s3.client(uri)
    try:
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > MAX_DOWNLOAD_BYTES:
            raise CompressError(f"{what} {uri} is {size} bytes, over the download limit")
        client.download_file(bucket, key, str(target))
    except s3.failures() as error:
        raise CompressError(f"cannot download {what} {uri}: {s3.reason(error)}") from None


def files_sha256(paths: Iterable[Path]) -> str:
    """sha256 of the files' contents, one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None, what: str) -> str:
    """The file's sha256; fails when it differs from `expected` (hex, `sha256:` prefix ok)."""
    actual = files_sha256([path])
    if expected is not None:
        wanted = expected.lower().removeprefix("sha256:")
        if wanted != actual:
            raise CompressError(f"{what} sha256 mismatch: expected {wanted}, got {actual}")
    return actual
