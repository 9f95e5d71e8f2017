"""The patch formats on plain objects (no server): what kubectl and controllers send."""

from __future__ import annotations

import pytest

from modeldeploy.sandbox.apiserver.errors import ApiError
from modeldeploy.sandbox.apiserver.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)

DEPLOYMENT = {
    "metadata": {"name": "web", "finalizers": ["a", "b"], "labels": {"app": "web"}},
    "spec": {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "nginx:1",
                        "args": ["-a", "-b"],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "ports": [{"containerPort": 80, "name": "http"}],
                    },
                    {"name": "side", "image": "busybox:1"},
                ]
            }
        },
    },
}


def _containers(obj: dict[str, object]) -> list[dict[str, object]]:
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[index,no-any-return]


def test_lists_with_merge_keys_merge_item_by_item() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                        },
                        {"name": "extra", "image": "redis:7"},
                    ]
                }
            }
        }
    }
    result = _containers(apply_strategic_merge_patch(DEPLOYMENT, patch))
    assert [c["name"] for c in result] == ["main", "side", "extra"]
    assert result[0]["image"] == "nginx:1"
    assert result[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]


def test_delete_directive_and_element_order() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                    "containers": [{"name": "main", "env": [{"name": "A", "$patch": "delete"}]}],
                }
            }
        }
    }
    result = _containers(apply_strategic_merge_patch(DEPLOYMENT, patch))
    assert [c["name"] for c in result] == ["side", "main"]
    assert result[1]["env"] == [{"name": "B", "value": "2"}]


def test_lists_without_merge_keys_are_replaced_and_null_deletes() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "args": ["-c"], "ports": None}]}}
        }
    }
    main = _containers(apply_strategic_merge_patch(DEPLOYMENT, patch))[0]
    assert main["args"] == ["-c"]
    assert "ports" not in main


def test_container_and_service_ports_use_their_own_merge_keys() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patched = apply_strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    )
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "main", "ports": [{"containerPort": 80, "name": "web"}]}
                    ]
                }
            }
        }
    }
    main = _containers(apply_strategic_merge_patch(DEPLOYMENT, patch))[0]
    assert main["ports"] == [{"containerPort": 80, "name": "web"}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    added = apply_strategic_merge_patch(DEPLOYMENT, {"metadata": {"finalizers": ["b", "c"]}})
    assert added["metadata"]["finalizers"] == ["a", "b", "c"]
    removed = apply_strategic_merge_patch(
        DEPLOYMENT, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )
    assert removed["metadata"]["finalizers"] == ["b"]


def test_replace_and_retain_keys_directives() -> None:
    replaced = apply_strategic_merge_patch(
        DEPLOYMENT, {"metadata": {"labels": {"$patch": "replace", "new": "x"}}}
    )
    assert replaced["metadata"]["labels"] == {"new": "x"}
    recreate = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply_strategic_merge_patch(DEPLOYMENT, recreate)["spec"]["strategy"] == {
        "type": "Recreate"
    }
    whole_list = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}
            }
        }
    }
    assert _containers(apply_strategic_merge_patch(DEPLOYMENT, whole_list)) == [
        {"name": "only", "image": "x"}
    ]


def test_merge_list_items_need_their_key() -> None:
    with pytest.raises(PatchError, match="merge key 'name'"):
        apply_strategic_merge_patch(
            DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
        )


def test_json_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert apply_merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert apply_merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}


def test_json_patch_rfc6902() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    ops = [
        {"op": "add", "path": "/a/b/1", "value": 9},
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "move", "from": "/c", "path": "/d"},
        {"op": "copy", "from": "/d", "path": "/e~1f"},
        {"op": "remove", "path": "/a/b/0"},
        {"op": "test", "path": "/d", "value": "x"},
    ]
    assert apply_json_patch(doc, ops) == {"a": {"b": [9, 2, 3]}, "d": "x", "e/f": "x"}
    with pytest.raises(PatchError, match="test failed"):
        apply_json_patch(doc, [{"op": "test", "path": "/c", "value": "y"}])
    with pytest.raises(PatchError, match="does not exist"):
        apply_json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    with pytest.raises(ApiError):
        apply_json_patch(doc, {"op": "add"})
