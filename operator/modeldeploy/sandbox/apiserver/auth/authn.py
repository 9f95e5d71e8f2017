"""Who a request comes from: a client certificate, a service-account token, or nobody.

As kube-apiserver's union authenticator: the x509 authenticator first (CN is the user, each
O a group), then bearer tokens; requests with neither are system:anonymous. A token that
does not verify is a 401, whatever else the request carries. Every authenticated user is
also in system:authenticated (the AuthenticatedGroupAdder).
"""

from __future__ import annotations

import logging
from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.auth.tokens import InvalidTokenError, ObjectUid, TokenSigner
from modeldeploy.sandbox.apiserver.auth.users import (
    ANONYMOUS_USER,
    AUTHENTICATED,
    User,
    service_account_groups,
    service_account_user_name,
)

log = logging.getLogger(__name__)
_EXTRA = "authentication.kubernetes.io/"


def unauthorized() -> errors.ApiError:
    return errors.ApiError(401, "Unauthorized", "Unauthorized")


def certificate_user(peer: dict[str, Any] | None) -> User | None:
    """The user a verified client certificate names (ssl's getpeercert() form)."""
    if not peer:
        return None
    names = [attribute for rdn in peer.get("subject", ()) for attribute in rdn]
    common = next((value for key, value in names if key == "commonName"), None)
    if common is None:
        return None
    groups = tuple(value for key, value in names if key == "organizationName")
    return User(common, (*groups, AUTHENTICATED))


class Authenticator:
    """`without_credentials` is who a request with none is: system:anonymous, except on the
    plain-HTTP debugging port, where everyone is the admin (as the old insecure port was)."""

    def __init__(
        self, signer: TokenSigner, object_uid: ObjectUid, without_credentials: User = ANONYMOUS_USER
    ) -> None:
        self.signer = signer
        self._object_uid = object_uid
        self._without_credentials = without_credentials

    def authenticate(self, authorization: str, peer: dict[str, Any] | None) -> User:
        from_certificate = certificate_user(peer)
        if from_certificate is not None:
            return from_certificate
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._without_credentials
        try:
            claims = self.signer.verify(token.strip(), self._object_uid)
        except InvalidTokenError as error:
            log.info("refused a bearer token: %s", error)
            raise unauthorized() from error
        extra: dict[str, tuple[str, ...]] = {f"{_EXTRA}credential-id": (f"JTI={claims.jti}",)}
        if claims.pod is not None:
            extra[f"{_EXTRA}pod-name"] = (claims.pod[0],)
            extra[f"{_EXTRA}pod-uid"] = (claims.pod[1],)
        return User(
            service_account_user_name(claims.namespace, claims.service_account),
            service_account_groups(claims.namespace),
            claims.service_account_uid,
            extra,
        )
