"""Impersonation (`kubectl --as`, `--as-group`): acting as another user, when RBAC allows it.

staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go: each header is checked
as the `impersonate` verb on users, groups or serviceaccounts (by name); a service account
brings its groups; a non-anonymous user is always in system:authenticated.
"""

from __future__ import annotations

from collections.abc import Mapping

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.auth.rbac import Authorizer, forbidden
from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes
from modeldeploy.sandbox.apiserver.auth.users import (
    ANONYMOUS,
    AUTHENTICATED,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_ACCOUNTS_GROUP,
    UNAUTHENTICATED,
    User,
)

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"


def impersonated(
    authorizer: Authorizer, requester: User, headers: Mapping[str, str], groups: list[str]
) -> User:
    """The user the request acts as: `requester`, or the one its headers name."""
    name = headers.get(USER_HEADER)
    if not name:
        if groups or headers.get(UID_HEADER):
            raise errors.bad_request("requested [Impersonate-Group] without impersonating a user")
        return requester
    checks: list[Attributes] = []
    implied: list[str] = []
    if name.startswith(SERVICE_ACCOUNT_PREFIX) and name.count(":") == 3:
        namespace, account = name[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
        checks.append(
            Attributes("impersonate", True, "", "", "v1", namespace, "serviceaccounts", "", account)
        )
        if not groups:
            implied = [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}"]
    else:
        checks.append(Attributes("impersonate", True, "", "", "v1", "", "users", "", name))
    checks += [Attributes("impersonate", True, "", "", "v1", "", "groups", "", g) for g in groups]
    uid = headers.get(UID_HEADER, "")
    if uid:
        checks.append(
            Attributes("impersonate", True, "", "authentication.k8s.io", "v1", "", "uids", "", uid)
        )
    for attributes in checks:
        if not authorizer.authorize(requester, attributes).allowed:
            raise forbidden(requester, attributes)
    all_groups = [*groups, *implied]
    always = UNAUTHENTICATED if name == ANONYMOUS else AUTHENTICATED
    if always not in all_groups:
        all_groups.append(always)
    return User(name, tuple(all_groups), uid)
