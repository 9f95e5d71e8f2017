"""Wire authentication, authorization and their endpoints into the API server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from modeldeploy.sandbox.apiserver.auth import admission, aggregation, policy
from modeldeploy.sandbox.apiserver.auth.authn import Authenticator
from modeldeploy.sandbox.apiserver.auth.middleware import auth_filter
from modeldeploy.sandbox.apiserver.auth.pki import ADMIN_USER, MASTERS_GROUP, Pki
from modeldeploy.sandbox.apiserver.auth.rbac import Authorizer, RuleResolver
from modeldeploy.sandbox.apiserver.auth.reviews import Reviews
from modeldeploy.sandbox.apiserver.auth.tokens import TokenSigner
from modeldeploy.sandbox.apiserver.auth.users import ANONYMOUS_USER, AUTHENTICATED, User
from modeldeploy.sandbox.apiserver.errors import ApiError
from modeldeploy.sandbox.apiserver.service import ApiService

log = logging.getLogger(__name__)
_KINDS = {"Pod": ("", "pods"), "ServiceAccount": ("", "serviceaccounts")}


@dataclass
class Security:
    pki: Pki
    signer: TokenSigner
    authorizer: Authorizer
    authenticator: Authenticator

    @classmethod
    def create(cls, directory: Path, service: ApiService, insecure: bool = False) -> Security:
        """`insecure`: plain HTTP for debugging, every request the admin."""
        pki = Pki.ensure(directory)
        signer = TokenSigner(pki.service_account_key)
        authorizer = Authorizer(RuleResolver(service.store))

        def object_uid(kind: str, namespace: str, name: str) -> str | None:
            obj = service.store.peek(_KINDS[kind], (namespace, name))
            return None if obj is None else str(obj["metadata"].get("uid"))

        nobody = User(ADMIN_USER, (MASTERS_GROUP, AUTHENTICATED)) if insecure else ANONYMOUS_USER
        authenticator = Authenticator(signer, object_uid, nobody)
        security = cls(pki, signer, authorizer, authenticator)
        service.admission_plugins += admission.plugins(service.store, authorizer)
        _bootstrap_policy(service)
        return security

    def filter(self) -> Middleware:
        return auth_filter(self.authenticator, self.authorizer)

    def add_routes(self, app: web.Application, service: ApiService) -> None:
        Reviews(service.store, self.authorizer, self.signer).add_to(app)


def _bootstrap_policy(service: ApiService) -> None:
    """Create the default roles and bindings that are missing (as the RBAC post-start hook)."""
    roles = service.resolve("rbac.authorization.k8s.io", "v1", "clusterroles")
    bindings = service.resolve("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    for rt, objects in (
        (roles, policy.cluster_roles()),
        (bindings, policy.cluster_role_bindings()),
    ):
        for obj in objects:
            if service.store.get(rt.storage_key, ("", obj["metadata"]["name"])) is None:
                service.create(rt, "", obj)
    aggregate_cluster_roles(service)


def aggregate_cluster_roles(service: ApiService) -> None:
    """Write the rules of each aggregated ClusterRole whose selected roles changed."""
    roles = service.resolve("rbac.authorization.k8s.io", "v1", "clusterroles")
    for role, rules in aggregation.stale_aggregates(service.store):
        try:
            service.update(roles, "", role["metadata"]["name"], {**role, "rules": rules})
        except ApiError as error:
            log.warning("aggregating ClusterRole %s failed: %s", role["metadata"]["name"], error)
