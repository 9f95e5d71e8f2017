"""Service-account tokens: JWTs signed RS256, with the claims kube-apiserver puts in them.

Issued by the TokenRequest API and checked on every request, as pkg/serviceaccount/jwt.go and
claims.go do: signature, issuer, audience, expiry (60 s leeway, go-jose's DefaultLeeway) and
that the service account and bound pod still exist with the same uid.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
LEEWAY_SECONDS = 60
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600

# (kind, namespace, name) -> uid of the live object, or None when it is gone.
ObjectUid = Callable[[str, str, str], str | None]


class InvalidTokenError(Exception):
    """Why a bearer token does not authenticate (logged; the client only hears 401)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    namespace: str
    service_account: str
    service_account_uid: str
    audiences: tuple[str, ...]
    expires: int
    jti: str
    pod: tuple[str, str] | None = None  # (name, uid)


class TokenSigner:
    """Signs and verifies tokens with the sandbox's service-account key."""

    def __init__(self, key_file: Path, clock: Callable[[], float] = time.time) -> None:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._key = key
        self._clock = clock
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _b64(hashlib.sha256(public).digest())

    def issue(
        self,
        namespace: str,
        account: dict[str, Any],
        audiences: tuple[str, ...],
        expiration_seconds: int,
        pod: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A token for `account` (a ServiceAccount object), and when it expires (epoch s)."""
        now = int(self._clock())
        expires = now + expiration_seconds
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {
                "name": account["metadata"]["name"],
                "uid": account["metadata"]["uid"],
            },
        }
        if pod is not None:
            private["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                private["node"] = {"name": node}
        claims = {
            "aud": list(audiences),
            "exp": expires,
            "iat": now,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": now,
            "sub": f"system:serviceaccount:{namespace}:{account['metadata']['name']}",
        }
        return self.sign(claims), expires

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.key_id}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def verify(self, token: str, object_uid: ObjectUid) -> TokenClaims:
        """The claims of a valid token; InvalidTokenError says why one is not."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidTokenError("not a JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError as error:
            raise InvalidTokenError(f"malformed JWT: {error}") from error
        if header.get("alg") != "RS256" or claims.get("iss") != ISSUER:
            raise InvalidTokenError("not issued by this API server")
        try:
            self._key.public_key().verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as error:
            raise InvalidTokenError("invalid signature") from error
        now = self._clock()
        if not isinstance(claims.get("exp"), int) or now > claims["exp"] + LEEWAY_SECONDS:
            raise InvalidTokenError("token has expired")
        if isinstance(claims.get("nbf"), int) and now < claims["nbf"] - LEEWAY_SECONDS:
            raise InvalidTokenError("token is not valid yet")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if not set(audiences) & set(API_AUDIENCES):
            raise InvalidTokenError("token audiences do not include the API server's")
        return _checked_claims(claims, tuple(audiences), object_uid)


def _checked_claims(
    claims: dict[str, Any], audiences: tuple[str, ...], object_uid: ObjectUid
) -> TokenClaims:
    """The private claims, checked against the live objects (pkg/serviceaccount/claims.go)."""
    private = claims.get("kubernetes.io") or {}
    namespace = str(private.get("namespace", ""))
    account = private.get("serviceaccount") or {}
    name, uid = str(account.get("name", "")), str(account.get("uid", ""))
    live = object_uid("ServiceAccount", namespace, name)
    if live is None:
        raise InvalidTokenError(f"service account {namespace}/{name} has been deleted")
    if live != uid:
        raise InvalidTokenError(f"service account UID ({live}) does not match claim ({uid})")
    pod = None
    if private.get("pod"):
        pod_name, pod_uid = str(private["pod"].get("name")), str(private["pod"].get("uid"))
        live_pod = object_uid("Pod", namespace, pod_name)
        if live_pod is None:
            raise InvalidTokenError(f"pod {namespace}/{pod_name} has been deleted")
        if live_pod != pod_uid:
            raise InvalidTokenError(f"pod UID ({live_pod}) does not match claim ({pod_uid})")
        pod = (pod_name, pod_uid)
    return TokenClaims(namespace, name, uid, audiences, int(claims["exp"]), str(claims["jti"]), pod)
