"""The admission plugins the auth layer adds: RBAC escalation checks, ServiceAccount."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modeldeploy.sandbox.apiserver.auth import escalation, serviceaccounts
from modeldeploy.sandbox.apiserver.auth.rbac import RBAC, Authorizer
from modeldeploy.sandbox.apiserver.auth.users import current_user
from modeldeploy.sandbox.apiserver.resources import ResourceType
from modeldeploy.sandbox.apiserver.store import Store

Plugin = Callable[[ResourceType, dict[str, Any], dict[str, Any] | None], None]


def plugins(store: Store, authorizer: Authorizer) -> list[Plugin]:
    def no_escalation(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        user = current_user.get()
        if rt.group == RBAC and user is not None:
            escalation.check(authorizer, user, rt.kind, obj)

    def service_account(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if rt.storage_key == ("", "pods") and old is None:
            serviceaccounts.admit_pod(store, obj)

    return [no_escalation, service_account]
