"""The pure parts of authorization: request attributes, rule matching, covering."""

from __future__ import annotations

import pytest

from modeldeploy.sandbox.apiserver.auth import rules
from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes, request_attributes

ML = "/api/v1/namespaces/ml"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", f"{ML}/pods", {}, ("list", "ml", "", "pods", "", "")),
        ("GET", f"{ML}/pods", {"watch": "true"}, ("watch", "ml", "", "pods", "", "")),
        ("GET", "/api/v1/watch/namespaces/ml/pods", {}, ("watch", "ml", "", "pods", "", "")),
        ("GET", f"{ML}/pods/p/log", {}, ("get", "ml", "", "pods", "log", "p")),
        ("DELETE", f"{ML}/pods", {}, ("deletecollection", "ml", "", "pods", "", "")),
        ("DELETE", f"{ML}/pods/p", {}, ("delete", "ml", "", "pods", "", "p")),
        ("PATCH", "/apis/apps/v1/namespaces/ml/deployments/d/scale", {},
         ("patch", "ml", "apps", "deployments", "scale", "d")),
        ("GET", ML, {}, ("get", "ml", "", "namespaces", "", "ml")),
        ("PUT", f"{ML}/finalize", {}, ("update", "ml", "", "namespaces", "finalize", "ml")),
        ("GET", "/api/v1/nodes", {"fieldSelector": "metadata.name=n1"},
         ("list", "", "", "nodes", "", "n1")),
        ("POST", f"{ML}/serviceaccounts/sa/token", {},
         ("create", "ml", "", "serviceaccounts", "token", "sa")),
    ],
)  # fmt: skip
def test_request_attributes_as_requestinfo_go(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    got = request_attributes(method, path, query)
    assert got.resource_request
    assert (got.verb, got.namespace, got.group, got.resource, got.subresource, got.name) == expected


@pytest.mark.parametrize(
    "path", ["/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v3"]
)
def test_discovery_and_other_paths_are_non_resource_requests(path: str) -> None:
    got = request_attributes("GET", path, {})
    assert not got.resource_request
    assert (got.verb, got.path) == ("get", path)


def _pods(verb: str, subresource: str = "", name: str = "") -> Attributes:
    return Attributes(verb, True, "", "", "v1", "ml", "pods", subresource, name)


def test_rules_match_verbs_groups_subresources_and_names() -> None:
    read_pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    assert rules.allows(_pods("list"), read_pods)
    assert not rules.allows(_pods("delete"), read_pods)
    assert not rules.allows(_pods("get", "log"), read_pods)  # a subresource is its own resource
    logs = {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}
    assert rules.allows(_pods("get", "log"), logs)
    assert not rules.allows(_pods("get"), logs)
    any_status = {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}
    assert rules.allows(_pods("patch", "status"), any_status)
    assert not rules.allows(_pods("patch"), any_status)
    named = {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"], "verbs": ["get"]}
    assert rules.allows(_pods("get", name="a"), named)
    assert not rules.allows(_pods("get", name="b"), named)
    assert not rules.allows(_pods("list"), named)  # no name: resourceNames never match
    apps = {"apiGroups": ["apps"], "resources": ["pods"], "verbs": ["*"]}
    assert not rules.allows(_pods("get"), apps)


def test_non_resource_urls_match_exactly_or_by_star_prefix() -> None:
    rule = {"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]}
    assert rules.allows(Attributes("get", False, "/healthz"), rule)
    assert rules.allows(Attributes("get", False, "/apis/apps/v1"), rule)
    assert not rules.allows(Attributes("get", False, "/healthz/etcd"), rule)
    assert not rules.allows(Attributes("post", False, "/healthz"), rule)


def test_covering_breaks_rules_down_and_reports_what_is_missing() -> None:
    owner = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]
    wanted = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]}]
    missing = rules.missing_rules(owner, wanted)
    assert missing == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]
    assert not rules.missing_rules(
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], wanted
    )
    # A named owner rule does not cover the unnamed servant rule.
    named = [{"apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"], "verbs": ["get"]}]
    assert rules.missing_rules(
        named, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    )
    several = rules.missing_rules([], wanted)
    assert [rules.compact_string(r) for r in rules.compact(several)] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["get" "list" "delete"]}'
    ]
