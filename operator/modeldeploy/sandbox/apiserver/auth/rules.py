"""PolicyRule matching and covering, as RBAC defines them.

Matching: plugin/pkg/auth/authorizer/rbac/rbac.go (RuleAllows) with the helpers of
pkg/apis/rbac/v1/evaluation_helpers.go. Covering (the escalation check):
staging/src/k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from modeldeploy.sandbox.apiserver.auth.requestinfo import Attributes

Rule = dict[str, Any]
ALL = "*"


def _listed(rule: Rule, key: str) -> list[str]:
    return [str(value) for value in rule.get(key) or []]


def allows(attributes: Attributes, rule: Rule) -> bool:
    verbs = _listed(rule, "verbs")
    if ALL not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return any(_url_matches(url, attributes.path) for url in _listed(rule, "nonResourceURLs"))
    groups = _listed(rule, "apiGroups")
    if ALL not in groups and attributes.group not in groups:
        return False
    if not _resource_matches(_listed(rule, "resources"), attributes):
        return False
    names = _listed(rule, "resourceNames")
    return not names or attributes.name in names


def _resource_matches(resources: list[str], attributes: Attributes) -> bool:
    combined, subresource = attributes.resource_with_subresource, attributes.subresource
    for resource in resources:
        if resource in (ALL, combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in (ALL, path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


def _breakdown(rule: Rule) -> Iterable[Rule]:
    """One rule per group x resource x verb (x name), and per URL x verb."""
    for group in _listed(rule, "apiGroups"):
        for resource in _listed(rule, "resources"):
            for verb in _listed(rule, "verbs"):
                atom: Rule = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                names = _listed(rule, "resourceNames")
                if not names:
                    yield atom
                for name in names:
                    yield {**atom, "resourceNames": [name]}
    for url in _listed(rule, "nonResourceURLs"):
        for verb in _listed(rule, "verbs"):
            yield {"nonResourceURLs": [url], "verbs": [verb]}


def _covers_all(owner: list[str], servant: list[str]) -> bool:
    return ALL in owner or all(value in owner for value in servant)


def _resources_covered(owner: list[str], servant: list[str]) -> bool:
    if _covers_all(owner, servant):
        return True
    for resource in servant:
        if resource in owner:
            continue
        _, slash, subresource = resource.partition("/")
        if slash and f"*/{subresource}" in owner:
            continue
        return False
    return True


def _urls_covered(owner: list[str], servant: list[str]) -> bool:
    return all(any(_url_covers(o, s) for o in owner) for s in servant)


def _url_covers(owner: str, servant: str) -> bool:
    return owner == servant or (owner.endswith("*") and servant.startswith(owner.rstrip("*")))


def _rule_covers(owner: Rule, servant: Rule) -> bool:
    owner_names, servant_names = _listed(owner, "resourceNames"), _listed(servant, "resourceNames")
    if servant_names:
        names_covered = not owner_names or all(name in owner_names for name in servant_names)
    else:
        names_covered = not owner_names
    return (
        _covers_all(_listed(owner, "verbs"), _listed(servant, "verbs"))
        and _covers_all(_listed(owner, "apiGroups"), _listed(servant, "apiGroups"))
        and _resources_covered(_listed(owner, "resources"), _listed(servant, "resources"))
        and _urls_covered(_listed(owner, "nonResourceURLs"), _listed(servant, "nonResourceURLs"))
        and names_covered
    )


def missing_rules(owner_rules: Sequence[Rule], wanted: Sequence[Rule]) -> list[Rule]:
    """The atoms of `wanted` that no rule of `owner_rules` covers (validation.Covers)."""
    return [
        atom
        for rule in wanted
        for atom in _breakdown(rule)
        if not any(_rule_covers(owner, atom) for owner in owner_rules)
    ]


def compact(rules: Sequence[Rule]) -> list[Rule]:
    """Merge simple atoms that differ only in verb (pkg/registry/rbac/validation CompactRules)."""
    merged: dict[tuple[str, str], Rule] = {}
    result: list[Rule] = []
    for rule in rules:
        simple = (
            len(_listed(rule, "apiGroups")) == 1
            and len(_listed(rule, "resources")) == 1
            and not rule.get("resourceNames")
            and not rule.get("nonResourceURLs")
        )
        if not simple:
            result.append(rule)
            continue
        key = (_listed(rule, "apiGroups")[0], _listed(rule, "resources")[0])
        if key in merged:
            merged[key]["verbs"] += [
                v for v in _listed(rule, "verbs") if v not in merged[key]["verbs"]
            ]
        else:
            merged[key] = {**rule, "verbs": list(_listed(rule, "verbs"))}
            result.append(merged[key])
    return result


def go_quoted_list(values: Sequence[str]) -> str:
    """fmt's %q of a []string: ["a" "b"]."""
    return (
        "["
        + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "]"
    )


def compact_string(rule: Rule) -> str:
    """pkg/apis/rbac/v1/helpers.go CompactString: {APIGroups:[""], Resources:["pods"], ...}."""
    parts = [
        f"{label}:{go_quoted_list(_listed(rule, key))}"
        for label, key in (
            ("APIGroups", "apiGroups"),
            ("Resources", "resources"),
            ("NonResourceURLs", "nonResourceURLs"),
            ("ResourceNames", "resourceNames"),
            ("Verbs", "verbs"),
        )
        if rule.get(key)
    ]
    return "{" + ", ".join(parts) + "}"
