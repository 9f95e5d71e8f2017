"""Acting as someone other than the admin: service-account tokens and their kubeconfigs."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi


def token_kubeconfig(api: SandboxApi, token: str, path: Path) -> Path:
    """The sandbox's kubeconfig with `token` as the credential instead of the admin's cert."""
    config = yaml.safe_load(api.kubeconfig.read_text())
    config["users"] = [{"name": config["users"][0]["name"], "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def kubectl_with_token(api: SandboxApi, token: str, path: Path) -> Kubectl:
    kubectl = Kubectl(api)
    kubectl.env["KUBECONFIG"] = str(token_kubeconfig(api, token, path))
    return kubectl


def service_account(api: SandboxApi, namespace: str, name: str) -> str:
    """Create the service account (and namespace) and a token for it."""
    admin = Kubectl(api)
    if namespace != "default":
        admin.run("create", "namespace", namespace)
    admin.run("create", "serviceaccount", name, "-n", namespace)
    return admin.run("create", "token", name, "-n", namespace).strip()
