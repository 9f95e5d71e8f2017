"""Raw HTTP calls to the sandbox, for what the client libraries never send."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.sandbox.conftest import SandboxApi


def call(
    api: SandboxApi,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status code, decoded JSON body) of one request, as the admin unless `headers` carry
    an Authorization (then without the admin's client certificate, which would win)."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        api.url + path,
        data=data,
        method=method,
        headers={"Content-Type": content_type, "Accept": accept, **(headers or {})},
    )
    as_admin = "Authorization" not in (headers or {})
    try:
        context = api.ssl_context if as_admin else api.anonymous_ssl_context
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
