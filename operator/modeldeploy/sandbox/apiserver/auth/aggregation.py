"""ClusterRole aggregation: roles with an aggregationRule hold the rules of the roles selected.

What pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go does (it runs
in kube-controller-manager; here the API server runs it after writes, so every client of the
sandbox sees admin/edit/view filled): the union of the selected roles' rules, in name order,
without repeats, written only when it changed.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.auth.rbac import CLUSTER_ROLES
from modeldeploy.sandbox.apiserver.selectors import LabelSelector
from modeldeploy.sandbox.apiserver.store import Store


def aggregated_rules(role: dict[str, Any], roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    selectors = [
        LabelSelector.from_label_selector(selector)
        for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    ]
    union: list[dict[str, Any]] = []
    for other in sorted(roles, key=lambda r: str(r["metadata"]["name"])):
        if other["metadata"]["name"] == role["metadata"]["name"]:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(selector.matches(labels) for selector in selectors):
            union += [rule for rule in other.get("rules") or [] if rule not in union]
    return union


def stale_aggregates(store: Store) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(aggregated role, the rules it should hold) for each role whose rules are out of date."""
    roles = list(store.items(CLUSTER_ROLES))
    stale = []
    for role in roles:
        if not role.get("aggregationRule"):
            continue
        wanted = aggregated_rules(role, roles)
        if wanted != (role.get("rules") or []):
            stale.append((role, wanted))
    return stale
