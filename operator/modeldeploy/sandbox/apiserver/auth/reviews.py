"""Endpoints that answer about identity and access, and the TokenRequest API.

SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview (`kubectl auth can-i`),
SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview (`can-i --list`),
as pkg/registry/authentication and pkg/registry/authorization answer them; TokenRequest as
pkg/registry/core/serviceaccount/storage/token.go. Each answers 201 with the request echoed
and a status, and stores nothing.
"""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.auth import tokens
from modeldeploy.sandbox.apiserver.auth.pki import MASTERS_GROUP
from modeldeploy.sandbox.apiserver.auth.rbac import Authorizer
from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes
from modeldeploy.sandbox.apiserver.auth.users import User, current_user
from modeldeploy.sandbox.apiserver.errors import FieldCause
from modeldeploy.sandbox.apiserver.handlers import json_response, read_body
from modeldeploy.sandbox.apiserver.store import Store

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"


def _requester() -> User:
    user = current_user.get()
    assert user is not None, "served behind the authentication filter"
    return user


def _review(kind: str, group: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body must be a {kind} object")
    meta, spec = body.get("metadata"), body.get("spec")
    return {
        "kind": kind,
        "apiVersion": f"{group}/v1",
        "metadata": {**(meta if isinstance(meta, dict) else {}), "creationTimestamp": None},
        "spec": spec if isinstance(spec, dict) else {},
    }


def _attributes(kind: str, spec: dict[str, Any], namespace: str | None = None) -> Attributes:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise errors.invalid(
            kind,
            AUTHZ,
            "",
            [
                FieldCause(
                    "spec.resourceAttributes",
                    'Invalid value: "null": exactly one of nonResourceAttributes or '
                    "resourceAttributes must be specified",
                )
            ],
        )
    if isinstance(non_resource, dict):
        return Attributes(
            str(non_resource.get("verb", "")), False, str(non_resource.get("path", ""))
        )
    if not isinstance(resource, dict):
        raise errors.bad_request(f"{kind}: spec.resourceAttributes must be an object")
    return Attributes(
        verb=str(resource.get("verb", "")),
        resource_request=True,
        group=str(resource.get("group", "")),
        version=str(resource.get("version", "")),
        namespace=namespace if namespace is not None else str(resource.get("namespace", "")),
        resource=str(resource.get("resource", "")),
        subresource=str(resource.get("subresource", "")),
        name=str(resource.get("name", "")),
    )


def _access_status(authorizer: Authorizer, user: User, attributes: Attributes) -> dict[str, Any]:
    decision = authorizer.authorize(user, attributes)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _user_of_spec(spec: dict[str, Any]) -> User:
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    return User(
        str(spec.get("user", "")), tuple(spec.get("groups") or []), str(spec.get("uid", "")), extra
    )


class Reviews:
    def __init__(self, store: Store, authorizer: Authorizer, signer: tokens.TokenSigner) -> None:
        self.store = store
        self.authorizer = authorizer
        self.signer = signer

    def add_to(self, app: web.Application) -> None:
        """Register before the generic resource routes, which would otherwise take the paths."""
        router = app.router
        router.add_post(f"/apis/{AUTHN}/v1/selfsubjectreviews", self.self_subject_review)
        router.add_post(f"/apis/{AUTHZ}/v1/selfsubjectaccessreviews", self.self_access_review)
        router.add_post(f"/apis/{AUTHZ}/v1/subjectaccessreviews", self.access_review)
        router.add_post(
            f"/apis/{AUTHZ}/v1/namespaces/{{namespace}}/localsubjectaccessreviews",
            self.local_access_review,
        )
        router.add_post(f"/apis/{AUTHZ}/v1/selfsubjectrulesreviews", self.self_rules_review)
        router.add_post(
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", self.token_request
        )

    async def self_subject_review(self, request: web.Request) -> web.Response:
        review = _review("SelfSubjectReview", AUTHN, await read_body(request))
        review.pop("spec")
        review["status"] = {"userInfo": _requester().as_user_info()}
        return json_response(review, 201)

    async def self_access_review(self, request: web.Request) -> web.Response:
        review = _review("SelfSubjectAccessReview", AUTHZ, await read_body(request))
        attributes = _attributes("SelfSubjectAccessReview", review["spec"])
        review["status"] = _access_status(self.authorizer, _requester(), attributes)
        return json_response(review, 201)

    async def access_review(self, request: web.Request) -> web.Response:
        review = _review("SubjectAccessReview", AUTHZ, await read_body(request))
        attributes = _attributes("SubjectAccessReview", review["spec"])
        user = _user_of_spec(review["spec"])
        review["status"] = _access_status(self.authorizer, user, attributes)
        return json_response(review, 201)

    async def local_access_review(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        review = _review("LocalSubjectAccessReview", AUTHZ, await read_body(request))
        review["metadata"]["namespace"] = namespace
        attributes = _attributes("LocalSubjectAccessReview", review["spec"], namespace)
        user = _user_of_spec(review["spec"])
        review["status"] = _access_status(self.authorizer, user, attributes)
        return json_response(review, 201)

    async def self_rules_review(self, request: web.Request) -> web.Response:
        review = _review("SelfSubjectRulesReview", AUTHZ, await read_body(request))
        user = _requester()
        if MASTERS_GROUP in user.groups:
            found = [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ]
        else:
            found = self.authorizer.resolver.rules_for(
                user, str(review["spec"].get("namespace", ""))
            )
        resource_rules = [
            {
                k: rule[k]
                for k in ("verbs", "apiGroups", "resources", "resourceNames")
                if rule.get(k)
            }
            for rule in found
            if rule.get("resources")
        ]
        non_resource_rules = [
            {"verbs": rule["verbs"], "nonResourceURLs": rule["nonResourceURLs"]}
            for rule in found
            if rule.get("nonResourceURLs")
        ]
        review["status"] = {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": False,
        }
        return json_response(review, 201)

    async def token_request(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        body = await read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a TokenRequest object")
        account = self.store.get(("", "serviceaccounts"), (namespace, name))
        if account is None:
            raise errors.not_found("serviceaccounts", "", name)
        spec = dict(body.get("spec") or {})
        spec["audiences"] = list(spec.get("audiences") or tokens.API_AUDIENCES)
        spec.setdefault("expirationSeconds", tokens.DEFAULT_EXPIRATION_SECONDS)
        seconds = spec["expirationSeconds"]
        if not isinstance(seconds, int) or seconds < tokens.MIN_EXPIRATION_SECONDS:
            raise errors.invalid(
                "TokenRequest",
                AUTHN,
                name,
                [
                    FieldCause(
                        "spec.expirationSeconds",
                        f"Invalid value: {errors.bad_value(seconds)}: may not specify a "
                        "duration less than 10 minutes",
                    )
                ],
            )
        pod = self._bound_pod(namespace, name, spec.get("boundObjectRef"))
        token, expires = self.signer.issue(
            namespace, account, tuple(spec["audiences"]), seconds, pod
        )
        if pod is not None:
            spec["boundObjectRef"] = {**spec["boundObjectRef"], "uid": pod["metadata"]["uid"]}
        stamp = datetime.datetime.fromtimestamp(expires, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        answer = {
            "kind": "TokenRequest",
            "apiVersion": f"{AUTHN}/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": stamp},
        }
        return json_response(answer, 201)

    def _bound_pod(
        self, namespace: str, account: str, ref: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        if not ref:
            return None
        if ref.get("kind") != "Pod":
            raise errors.bad_request(
                f"cannot bind token to object of type {ref.get('kind')}: only Pod is supported here"
            )
        pod = self.store.get(("", "pods"), (namespace, str(ref.get("name", ""))))
        if pod is None:
            raise errors.not_found("pods", "", str(ref.get("name", "")))
        if (pod.get("spec") or {}).get("serviceAccountName", "default") != account:
            raise errors.bad_request(
                f'cannot bind token for serviceaccount "{account}" to pod running with different '
                "serviceaccount name."
            )
        if ref.get("uid") and ref["uid"] != pod["metadata"]["uid"]:
            raise errors.conflict(
                "pods",
                "",
                str(ref.get("name")),
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
                "record. The object might have been deleted and then recreated",
            )
        return pod
