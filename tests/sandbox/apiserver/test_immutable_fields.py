"""Updates of built-in kinds that kube-apiserver refuses: the fields fixed once stored.

The exact bodies are those of kube-apiserver 1.36 (pkg/apis/*/validation/validation.go), with
object values printed as JSON where upstream prints Go structs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.service import ApiService
from modeldeploy.sandbox.apiserver.store import Store
from modeldeploy.sandbox.apiserver.watch import WatchHub

NS = "/api/v1/namespaces/default"
APPS = "/apis/apps/v1/namespaces/default"
BATCH = "/apis/batch/v1/namespaces/default"
_SELECTOR_WITH_EXPRESSION = {
    "matchLabels": {"app": "a"},
    "matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}],
}
IMMUTABLE_WHEN_SET = "Forbidden: field is immutable when `immutable` is set"


def _deployment(app: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    }


def _job(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train"},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36"}],
                }
            },
        },
    }


def _invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> dict[str, Any]:
    """The 422 Status kube-apiserver answers (`details.group` omitted for the core group)."""
    lines = [f"{c['field']}: {c['message']}" for c in causes]
    summary = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{qualified} "{name}" is invalid: {summary}',
        "reason": "Invalid",
        "details": details,
        "code": 422,
    }


def _merge_patch(api: SandboxApi, path: str, patch: dict[str, Any]) -> tuple[int, Any]:
    return call(api, "PATCH", path, patch, content_type="application/merge-patch+json")


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def test_a_deployments_selector_is_immutable(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("apply", "-f", "-", stdin=json.dumps(_deployment("a")))
    stderr = kubectl.fails("apply", "-f", "-", stdin=json.dumps(_deployment("b")))
    assert 'The Deployment "web" is invalid: spec.selector: Invalid value: ' in stderr
    assert "field is immutable" in stderr
    code, live = call(sandbox_api, "GET", f"{APPS}/deployments/web")
    changed = {
        **live,
        "spec": {**live["spec"], "selector": _SELECTOR_WITH_EXPRESSION},
    }
    code, body = call(sandbox_api, "PUT", f"{APPS}/deployments/web", changed)
    assert (code, body) == (
        422,
        _invalid(
            "Deployment",
            "apps",
            "web",
            [
                _cause(
                    "spec.selector",
                    'Invalid value: {"matchExpressions":[{"key":"app","operator":"In",'
                    '"values":["a"]}],"matchLabels":{"app":"a"}}: field is immutable',
                )
            ],
        ),
    )
    # The template may change (that is a rollout).
    kubectl.run("set", "image", "deployment/web", "c=busybox:1.37")


def test_a_jobs_template_selector_and_completions_are_immutable(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("apply", "-f", "-", stdin=json.dumps(_job()))
    stderr = kubectl.fails(
        "patch",
        "job",
        "train",
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "x:2"}]',
    )
    assert 'The Job "train" is invalid: spec.template: Invalid value: ' in stderr
    assert stderr.rstrip().endswith("field is immutable")
    code, body = _merge_patch(sandbox_api, f"{BATCH}/jobs/train", {"spec": {"completions": 3}})
    assert (code, body) == (
        422,
        _invalid(
            "Job",
            "batch",
            "train",
            [_cause("spec.completions", "Invalid value: 3: field is immutable")],
        ),
    )
    # What may change: parallelism, and the labels of the Job itself.
    kubectl.run("patch", "job", "train", "--type=merge", "-p", '{"spec": {"parallelism": 2}}')
    kubectl.run("label", "job", "train", "team=ml")


def test_a_suspended_job_may_change_its_scheduling_directives(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("apply", "-f", "-", stdin=json.dumps(_job(suspend=True)))
    kubectl.run(
        "patch",
        "job",
        "train",
        "--type=merge",
        "-p",
        '{"spec": {"template": {"spec": {"nodeSelector": {"pool": "gpu"}}}}}',
    )
    assert kubectl.json("get", "job", "train")["spec"]["template"]["spec"]["nodeSelector"] == {
        "pool": "gpu"
    }
    stderr = kubectl.fails(
        "patch",
        "job",
        "train",
        "--type=merge",
        "-p",
        '{"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}}',
    )
    assert "spec.template: Invalid value: " in stderr


def test_an_indexed_job_scales_completions_with_parallelism(sandbox_api: SandboxApi) -> None:
    body = _job(completionMode="Indexed", completions=2, parallelism=2)
    assert call(sandbox_api, "POST", f"{BATCH}/jobs", body)[0] == 201
    code, _ = _merge_patch(
        sandbox_api, f"{BATCH}/jobs/train", {"spec": {"completions": 4, "parallelism": 4}}
    )
    assert code == 200
    code, body = _merge_patch(sandbox_api, f"{BATCH}/jobs/train", {"spec": {"completions": 5}})
    assert (code, body["details"]["causes"]) == (
        422,
        [
            _cause(
                "spec.completions",
                "Invalid value: 5: can only be modified in tandem with spec.parallelism",
            )
        ],
    )


@pytest.mark.parametrize("kind", ["configmap", "secret"])
def test_immutable_configmaps_and_secrets_keep_their_data(
    sandbox_api: SandboxApi, kind: str
) -> None:
    kubectl = Kubectl(sandbox_api)
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap" if kind == "configmap" else "Secret",
        "metadata": {"name": "settings"},
        "data": {"k": "djE="},
        "immutable": True,
    }
    kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))
    path = f"{NS}/{kind}s/settings"
    code, body = _merge_patch(sandbox_api, path, {"data": {"k": "djI="}})
    kind_name = manifest["kind"]
    assert (code, body) == (
        422,
        _invalid(
            kind_name, "", "settings", [_cause("data", IMMUTABLE_WHEN_SET, "FieldValueForbidden")]
        ),
    )
    stderr = kubectl.fails("patch", kind, "settings", "--type=merge", "-p", '{"immutable": false}')
    assert f'{kind_name} "settings" is invalid: immutable: {IMMUTABLE_WHEN_SET}' in stderr
    # Metadata still changes, and the object can be deleted and made anew.
    kubectl.run("label", kind, "settings", "v=1")
    kubectl.run("delete", kind, "settings")


def test_a_secrets_type_is_immutable(sandbox_api: SandboxApi) -> None:
    secret = {"metadata": {"name": "s"}, "type": "Opaque", "data": {}}
    assert call(sandbox_api, "POST", f"{NS}/secrets", secret)[0] == 201
    code, body = _merge_patch(sandbox_api, f"{NS}/secrets/s", {"type": "example.com/custom"})
    assert (code, body["message"]) == (
        422,
        'Secret "s" is invalid: type: Invalid value: "example.com/custom": field is immutable',
    )


def test_a_pods_spec_changes_only_where_upstream_allows(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("run", "p", "--image=busybox:1.36", "--restart=Never")
    kubectl.run("set", "image", "pod/p", "p=busybox:1.37")
    kubectl.run(
        "patch",
        "pod",
        "p",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/spec/tolerations/-", '
        '"value": {"key": "k", "operator": "Exists", "effect": "NoSchedule"}}]',
    )
    stderr = kubectl.fails(
        "patch", "pod", "p", "--type=merge", "-p", '{"spec": {"restartPolicy": "Always"}}'
    )
    assert 'The Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other ' in (
        stderr
    )
    assert "(changed: restartPolicy)" in stderr
    code, body = _merge_patch(sandbox_api, f"{NS}/pods/p", {"spec": {"activeDeadlineSeconds": 30}})
    assert code == 200
    code, body = _merge_patch(sandbox_api, f"{NS}/pods/p", {"spec": {"activeDeadlineSeconds": 60}})
    assert (code, body["details"]["causes"]) == (
        422,
        [
            _cause(
                "spec.activeDeadlineSeconds",
                "Invalid value: 60: must be less than or equal to previous value",
            )
        ],
    )


def test_an_object_stored_before_todays_defaults_still_updates(tmp_path: Path) -> None:
    """A Job stored without defaults added since (as a sandbox of an older release keeps it)
    may still change its labels: the stored template is compared with today's defaults."""
    store = Store(tmp_path / "state.db", history=100)
    try:
        service = ApiService(store, WatchHub())
        jobs = service.resolve("batch", "v1", "jobs")
        service.create(jobs, "default", _job())
        stored = store.get(("batch", "jobs"), ("default", "train"))
        assert stored is not None
        container = stored["spec"]["template"]["spec"]["containers"][0]
        del container["terminationMessagePolicy"], container["resources"]
        store.write(("batch", "jobs"), stored, store.get(("batch", "jobs"), ("default", "train")))
        patched = service.patch(
            jobs,
            "default",
            "train",
            "application/merge-patch+json",
            {"metadata": {"labels": {"team": "ml"}}},
        )
        assert patched["metadata"]["labels"]["team"] == "ml"
    finally:
        store.close()
