"""RBAC's escalation check: nobody grants, through a role or a binding, what they do not hold.

pkg/registry/rbac/role(binding)/policybased/storage.go and validation.ConfirmNoEscalation:
system:masters may do anything; a binding is allowed with the `bind` verb on the role it
names, a role with the `escalate` verb on roles; otherwise every rule granted must be covered
by the user's own rules in that namespace. The refusal is a 403 listing the missing rules.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.auth import rules
from modeldeploy.sandbox.apiserver.auth.pki import MASTERS_GROUP
from modeldeploy.sandbox.apiserver.auth.rbac import RBAC, Authorizer
from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes
from modeldeploy.sandbox.apiserver.auth.users import User

_ROLE_KINDS = {"Role": "roles", "ClusterRole": "clusterroles"}
_BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")


def check(authorizer: Authorizer, user: User, kind: str, obj: dict[str, Any]) -> None:
    """Raise 403 when `user` may not write `obj` (a Role, ClusterRole or binding)."""
    if MASTERS_GROUP in user.groups:
        return
    meta = obj["metadata"]
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name", ""))
    resolver = authorizer.resolver
    if kind in _ROLE_KINDS:
        escalate = Attributes(
            "escalate", True, "", RBAC, "v1", namespace, _ROLE_KINDS[kind], "", name
        )
        if authorizer.authorize(user, escalate).allowed:
            return
        granted = list(obj.get("rules") or [])
        plural = _ROLE_KINDS[kind]
    elif kind in _BINDING_KINDS:
        role_ref = obj.get("roleRef") or {}
        role_kind = str(role_ref.get("kind", ""))
        bind = Attributes(
            "bind", True, "", RBAC, "v1", namespace, _ROLE_KINDS.get(role_kind, ""), "",
            str(role_ref.get("name", "")),
        )  # fmt: skip
        if authorizer.authorize(user, bind).allowed:
            return
        found = resolver.role_rules(role_ref, namespace)
        if found is None:
            resource = _ROLE_KINDS.get(role_kind, "roles")
            raise errors.not_found(resource, RBAC, str(role_ref.get("name", "")))
        granted = found
        plural = "rolebindings" if kind == "RoleBinding" else "clusterrolebindings"
    else:
        return
    missing = rules.missing_rules(resolver.rules_for(user, namespace), granted)
    if missing:
        described = sorted({rules.compact_string(rule) for rule in rules.compact(missing)})
        raise errors.forbidden(
            plural,
            RBAC,
            name,
            f'user "{user.name}" (groups={rules.go_quoted_list(user.groups)}) is attempting to '
            "grant RBAC permissions not currently held:\n" + "\n".join(described),
        )
