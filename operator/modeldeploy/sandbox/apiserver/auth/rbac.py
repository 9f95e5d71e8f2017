"""The RBAC authorizer: rules from the Roles and ClusterRoles bound to a user.

As plugin/pkg/auth/authorizer/rbac/rbac.go with pkg/registry/rbac/validation/rule.go
(VisitRulesFor, appliesTo): ClusterRoleBindings apply everywhere, RoleBindings in their
namespace; the system:masters group is allowed everything before RBAC is asked, as
kube-apiserver's privileged-group authorizer does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.auth import rules
from modeldeploy.sandbox.apiserver.auth.pki import MASTERS_GROUP
from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes
from modeldeploy.sandbox.apiserver.auth.users import User, service_account_user_name
from modeldeploy.sandbox.apiserver.store import Store

RBAC = "rbac.authorization.k8s.io"
ROLES = (RBAC, "roles")
CLUSTER_ROLES = (RBAC, "clusterroles")
ROLE_BINDINGS = (RBAC, "rolebindings")
CLUSTER_ROLE_BINDINGS = (RBAC, "clusterrolebindings")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _applies(user: User, subject: dict[str, Any], namespace: str) -> bool:
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and (
            user.name == service_account_user_name(account_namespace, name)
        )
    return False


def _describe(subject: dict[str, Any], namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class RuleResolver:
    """The rules that apply to a user, read from the store on each call."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _role(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == "Role":
            return self._store.peek(ROLES, (namespace, name))
        return self._store.peek(CLUSTER_ROLES, ("", name))

    def role_rules(self, role_ref: dict[str, Any], namespace: str) -> list[dict[str, Any]] | None:
        """The rules a roleRef names (None when the role does not exist)."""
        kind = role_ref.get("kind")
        if kind not in ("Role", "ClusterRole"):
            return None
        role = self._role(str(kind), namespace, str(role_ref.get("name", "")))
        return None if role is None else list(role.get("rules") or [])

    def visit(self, user: User, namespace: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(source description, rule) for every rule bound to `user` in `namespace`."""
        for binding in self._store.items(CLUSTER_ROLE_BINDINGS):
            yield from self._bound(
                user, binding, "", "ClusterRoleBinding", binding["metadata"]["name"]
            )
        if namespace:
            for binding in self._store.items(ROLE_BINDINGS, namespace):
                label = f"{binding['metadata']['name']}/{namespace}"
                yield from self._bound(user, binding, namespace, "RoleBinding", label)

    def _bound(
        self, user: User, binding: dict[str, Any], namespace: str, kind: str, label: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        subject = next(
            (s for s in binding.get("subjects") or [] if _applies(user, s, namespace)), None
        )
        if subject is None:
            return
        role_ref = binding.get("roleRef") or {}
        for rule in self.role_rules(role_ref, namespace) or []:
            source = (
                f'{kind} "{label}" of {role_ref.get("kind")} "{role_ref.get("name")}" to '
                f"{_describe(subject, namespace)}"
            )
            yield source, rule

    def rules_for(self, user: User, namespace: str) -> list[dict[str, Any]]:
        return [rule for _, rule in self.visit(user, namespace)]


class Authorizer:
    def __init__(self, resolver: RuleResolver) -> None:
        self.resolver = resolver

    def authorize(self, user: User, attributes: Attributes) -> Decision:
        if MASTERS_GROUP in user.groups:
            return Decision(True)
        for source, rule in self.resolver.visit(user, attributes.namespace):
            if rules.allows(attributes, rule):
                return Decision(True, f"RBAC: allowed by {source}")
        return Decision(False)


def forbidden_message(user: User, attributes: Attributes) -> str:
    """responsewriters/errors.go forbiddenMessage."""
    if not attributes.resource_request:
        return f'User "{user.name}" cannot {attributes.verb} path "{attributes.path}"'
    where = (
        f'in the namespace "{attributes.namespace}"'
        if attributes.namespace
        else "at the cluster scope"
    )
    return (
        f'User "{user.name}" cannot {attributes.verb} resource '
        f'"{attributes.resource_with_subresource}" in API group "{attributes.group}" {where}'
    )


def forbidden(user: User, attributes: Attributes) -> errors.ApiError:
    """apierrors.NewForbidden for a refused request (responsewriters.Forbidden)."""
    why = forbidden_message(user, attributes)
    if not attributes.resource_request:
        return errors.ApiError(403, "Forbidden", f"forbidden: {why}")
    qualified = errors.qualified(attributes.resource, attributes.group)
    named = f' "{attributes.name}"' if attributes.name else ""
    details = {"name": attributes.name, "group": attributes.group, "kind": attributes.resource}
    return errors.ApiError(
        403,
        "Forbidden",
        f"{qualified}{named} is forbidden: {why}",
        {key: value for key, value in details.items() if value},
    )
