"""How the operator words a refused API call in its log and events."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from modeldeploy.controller.operator import api_failure


def _refusal(status: int, reason: str, body: bytes | None) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = body
    return error


def test_a_refusal_is_one_line_with_the_status_message() -> None:
    message = (
        'deployments.apps is forbidden: User "system:serviceaccount:ops:modeldeploy" cannot '
        'create resource "deployments" in API group "apps" in the namespace "ml"'
    )
    body = json.dumps({"kind": "Status", "code": 403, "message": message}).encode()
    assert api_failure(_refusal(403, "Forbidden", body)) == f"API error 403 Forbidden: {message}"


def test_a_body_that_is_not_a_status_is_kept_short() -> None:
    assert api_failure(_refusal(502, "Bad Gateway", b"<html>" + b"x" * 2000)).startswith(
        "API error 502 Bad Gateway: <html>xxx"
    )
    assert api_failure(_refusal(500, "Internal Server Error", None)) == (
        "API error 500 Internal Server Error: no message"
    )
