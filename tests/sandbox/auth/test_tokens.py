"""Service-account tokens: issued by TokenRequest, refused once expired or orphaned (401)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.auth.identities import kubectl_with_token, service_account
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.auth.pki import PKI_DIR
from modeldeploy.sandbox.apiserver.auth.tokens import TokenSigner

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _as(
    api: SandboxApi, token: str, path: str = "/api/v1/namespaces/ml/configmaps"
) -> tuple[int, Any]:
    return call(api, "GET", path, headers={"Authorization": f"Bearer {token}"})


def test_token_request_issues_a_bound_token_with_kube_apiserver_claims(
    sandbox_api: SandboxApi,
) -> None:
    service_account(sandbox_api, "ml", "app")
    code, answer = call(
        sandbox_api,
        "POST",
        "/api/v1/namespaces/ml/serviceaccounts/app/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 900},
        },
    )
    assert code == 201
    account = call(sandbox_api, "GET", "/api/v1/namespaces/ml/serviceaccounts/app")[1]
    claims = _claims(answer["status"]["token"])
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["sub"] == "system:serviceaccount:ml:app"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["kubernetes.io"]["serviceaccount"] == {
        "name": "app",
        "uid": account["metadata"]["uid"],
    }
    assert answer["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    short = call(
        sandbox_api,
        "POST",
        "/api/v1/namespaces/ml/serviceaccounts/app/token",
        {"spec": {"expirationSeconds": 60}},
    )
    assert short[0] == 422
    assert short[1]["message"] == (
        'TokenRequest.authentication.k8s.io "app" is invalid: spec.expirationSeconds: Invalid '
        "value: 60: may not specify a duration less than 10 minutes"
    )
    missing = call(sandbox_api, "POST", "/api/v1/namespaces/ml/serviceaccounts/ghost/token", {})
    assert missing[0] == 404


def test_a_token_of_a_deleted_service_account_is_refused(
    sandbox_api: SandboxApi, tmp_path: Path
) -> None:
    token = service_account(sandbox_api, "ml", "app")
    Kubectl(sandbox_api).run(
        "create", "rolebinding", "v", "-n", "ml", "--clusterrole=view", "--serviceaccount=ml:app"
    )
    assert _as(sandbox_api, token)[0] == 200
    Kubectl(sandbox_api).run("delete", "serviceaccount", "app", "-n", "ml")
    assert _as(sandbox_api, token) == (401, UNAUTHORIZED)
    # Recreated under the same name it is another account: the old token stays refused.
    Kubectl(sandbox_api).run("create", "serviceaccount", "app", "-n", "ml")
    assert _as(sandbox_api, token) == (401, UNAUTHORIZED)
    kubectl = kubectl_with_token(sandbox_api, token, tmp_path / "kubeconfig")
    assert "Unauthorized" in kubectl.fails("get", "configmaps", "-n", "ml")


def test_an_expired_or_forged_token_is_refused(sandbox_api: SandboxApi) -> None:
    service_account(sandbox_api, "ml", "app")
    account = call(sandbox_api, "GET", "/api/v1/namespaces/ml/serviceaccounts/app")[1]
    key = sandbox_api.directory / PKI_DIR / "sa.key"
    audiences = ("https://kubernetes.default.svc.cluster.local",)
    # Issued two hours ago for ten minutes: expired beyond the 60 s leeway.
    old = TokenSigner(key, clock=lambda: time.time() - 7200)
    expired, _ = old.issue("ml", account, audiences, 600)
    assert _as(sandbox_api, expired) == (401, UNAUTHORIZED)
    fresh, _ = TokenSigner(key).issue("ml", account, audiences, 600)
    assert _as(sandbox_api, fresh)[0] == 403  # authenticated, but bound to no role
    other_audience, _ = TokenSigner(key).issue("ml", account, ("vault",), 600)
    assert _as(sandbox_api, other_audience) == (401, UNAUTHORIZED)
    header, _, signature = fresh.split(".")
    forged_claims = {**_claims(fresh), "sub": "system:serviceaccount:kube-system:admin"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=")
    assert _as(sandbox_api, f"{header}.{forged_payload.decode()}.{signature}") == (
        401,
        UNAUTHORIZED,
    )
    # No credentials at all is system:anonymous: the public endpoints only.
    assert call(sandbox_api, "GET", "/version", headers={"Authorization": ""})[0] == 200
    anonymous = call(sandbox_api, "GET", "/api/v1/namespaces", headers={"Authorization": ""})
    assert anonymous[0] == 403
    assert anonymous[1]["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in '
        'API group "" at the cluster scope'
    )
