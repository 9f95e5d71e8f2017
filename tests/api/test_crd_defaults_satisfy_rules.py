"""Every `default` of the generated schema satisfies the CEL rules at and below its node.

kube-apiserver refuses a CRD otherwise (`defaulting/validation.go`): it evaluates those rules
on the default as written, nested defaults not filled in, with `oldSelf == self` and no
ratcheting, so a rule reading a field the default lacks fails with "no such key".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modeldeploy.api.v1alpha1.crdgen import open_api_schema
from modeldeploy.sandbox.apiserver.crd.cel_rules import compile_rules, evaluate_rules
from modeldeploy.sandbox.apiserver.crd.schema import parse


def _defaulted_nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema node) of every node with a default, as the server walks them."""
    if "default" in node:
        yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _defaulted_nodes(child, f"{path}.properties[{name}]")
    if isinstance(node.get("items"), dict):
        yield from _defaulted_nodes(node["items"], f"{path}.items")


DEFAULTED = list(_defaulted_nodes(open_api_schema(), "openAPIV3Schema"))


def test_the_schema_has_defaults_to_check() -> None:
    assert len(DEFAULTED) > 10


@pytest.mark.parametrize(("path", "node"), DEFAULTED, ids=[path for path, _ in DEFAULTED])
def test_rules_hold_on_the_default_as_written(path: str, node: dict[str, Any]) -> None:
    schema = parse(node)
    default = node["default"]
    failures = evaluate_rules(
        default, default, schema, compile_rules(schema), f"{path}.default", ratcheting=False
    )
    assert [str(failure) for failure in failures] == []
