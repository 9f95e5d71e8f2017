"""Value validation of built-in kinds and their unknown fields, as kube-apiserver 1.36 answers
(pkg/apis/*/validation/validation.go; unknown fields from the typed decoding)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

NS = "/api/v1/namespaces/default"
MIB = 1024 * 1024


def _causes(body: Any) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


def test_a_deployment_hears_of_every_offending_field_at_once(sandbox_api: SandboxApi) -> None:
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": -1,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]},
            },
        },
    }
    code, body = call(
        sandbox_api, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment
    )
    assert code == 422
    assert _causes(body) == [
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.selector", "Required value"),
        (
            "spec.template.metadata.labels",
            'Invalid value: map[string]string{"app":"web"}: `selector` does not match template '
            "`labels`",
        ),
        (
            "spec.template.spec.restartPolicy",
            'Unsupported value: "Never": supported values: "Always"',
        ),
    ]
    assert body["message"].startswith(
        'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0, spec.selector: Required value, spec.template.metadata.labels: "
    )


def test_a_selector_with_expressions_selects_the_template(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "rs"},
        "spec": {
            "replicas": 0,
            "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]},
            "template": {
                "metadata": {"labels": {"tier": "b"}},
                "spec": {"containers": [{"name": "c", "image": "x:1"}]},
            },
        },
    }
    stderr = kubectl.fails("apply", "-f", "-", stdin=json.dumps(manifest))
    assert 'spec.template.metadata.labels: Invalid value: map[string]string{"tier":"b"}' in stderr
    manifest["spec"]["template"]["metadata"]["labels"] = {"tier": "a"}  # type: ignore[index]
    kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))


def test_service_ports_are_checked_like_upstream(sandbox_api: SandboxApi) -> None:
    service = {
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "ports": [
                {"name": "a", "port": 0},
                {"name": "b", "port": 80, "targetPort": 70000, "nodePort": 80},
                {"port": 81, "protocol": "HTTP"},
            ],
        },
    }
    code, body = call(sandbox_api, "POST", f"{NS}/services", service)
    assert code == 422
    assert _causes(body) == [
        ("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        # targetPort defaults to port, and is checked too.
        ("spec.ports[0].targetPort", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        (
            "spec.ports[1].targetPort",
            "Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            "spec.ports[1].nodePort",
            "Invalid value: 80: provided port is not in the valid range. The range of valid "
            "ports is 30000-32767",
        ),
        ("spec.ports[2].name", "Required value"),
        (
            "spec.ports[2].protocol",
            'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ),
    ]
    stderr = Kubectl(sandbox_api).fails("create", "service", "clusterip", "x", "--tcp=0:80")
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in stderr


@pytest.mark.parametrize("kind", ["configmaps", "secrets"])
def test_configmaps_and_secrets_hold_at_most_one_mebibyte(
    sandbox_api: SandboxApi, kind: str
) -> None:
    value = "x" * (MIB + 1)
    if kind == "secrets":
        value = base64.b64encode(value.encode()).decode()
    code, body = call(
        sandbox_api, "POST", f"{NS}/{kind}", {"metadata": {"name": "big"}, "data": {"k": value}}
    )
    field = "[]" if kind == "configmaps" else "data"
    assert (code, _causes(body)) == (422, [(field, "Too long: may not be more than 1048576 bytes")])
    exactly = "x" * MIB if kind == "configmaps" else base64.b64encode(b"x" * MIB).decode()
    assert (
        call(
            sandbox_api,
            "POST",
            f"{NS}/{kind}",
            {"metadata": {"name": "max"}, "data": {"k": exactly}},
        )[0]
        == 201
    )


def test_configmap_keys_are_config_keys(sandbox_api: SandboxApi) -> None:
    code, body = call(
        sandbox_api, "POST", f"{NS}/configmaps", {"metadata": {"name": "c"}, "data": {"a b": "1"}}
    )
    assert code == 422
    assert _causes(body)[0][0] == "data[a b]"
    assert "a valid config key must consist of alphanumeric characters" in _causes(body)[0][1]


def test_secret_data_must_be_base64(sandbox_api: SandboxApi) -> None:
    code, body = call(
        sandbox_api,
        "POST",
        f"{NS}/secrets",
        {"metadata": {"name": "s"}, "data": {"k": "not base64!"}},
    )
    assert (code, body["reason"], body["message"]) == (
        400,
        "BadRequest",
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    )
    # stringData is plain text, folded into data.
    code, body = call(
        sandbox_api,
        "POST",
        f"{NS}/secrets",
        {"metadata": {"name": "s"}, "stringData": {"k": "not base64!"}},
    )
    assert (code, body["data"]) == (201, {"k": base64.b64encode(b"not base64!").decode()})


def test_events_v1_need_their_required_fields(sandbox_api: SandboxApi) -> None:
    path = "/apis/events.k8s.io/v1/namespaces/default/events"
    event = {
        "metadata": {"name": "e"},
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        "type": "Sometimes",
        "deprecatedCount": 2,
    }
    code, body = call(sandbox_api, "POST", path, event)
    assert code == 422
    assert _causes(body) == [
        ("eventTime", "Required value"),
        ("type", 'Invalid value: "": has invalid value: Sometimes'),
        ("count", 'Invalid value: "": needs to be unset'),
    ]
    event = {
        "metadata": {"name": "e"},
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "type": "Normal",
    }
    code, body = call(sandbox_api, "POST", path, event)
    assert (code, _causes(body)) == (
        422,
        [
            ("reportingController", "Required value"),
            ("reportingInstance", "Required value"),
            ("action", "Required value"),
            ("reason", "Required value"),
        ],
    )
    complete = {
        **event,
        "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1",
        "action": "Pulling",
        "reason": "Pulled",
        "note": "done",
    }
    assert call(sandbox_api, "POST", path, complete)[0] == 201


def _typo_deployment() -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1", "imagee": "y:2"}]},
                },
                "replica": 2,
            },
        }
    )


def test_unknown_fields_deep_in_built_in_objects(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    # kubectl validates on the server (fieldValidation=Strict) by default.
    stderr = kubectl.fails("apply", "-f", "-", stdin=_typo_deployment())
    assert (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.replica", unknown field "spec.template.spec.containers[0].imagee"'
    ) in stderr
    out = kubectl.run("apply", "--validate=warn", "-f", "-", stdin=_typo_deployment(), check=False)
    assert 'Warning: unknown field "spec.replica"' in out
    assert 'Warning: unknown field "spec.template.spec.containers[0].imagee"' in out
    stored = kubectl.json("get", "deployment", "web")
    assert "imagee" not in stored["spec"]["template"]["spec"]["containers"][0]
    assert "replica" not in stored["spec"]


def _web(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A Deployment `web` whose selector selects its template, with `spec` added."""
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers},
            },
            **spec,
        },
    }


def test_a_deployments_strategy_and_deadlines_are_checked(sandbox_api: SandboxApi) -> None:
    def causes(**spec: Any) -> list[tuple[str, str]]:
        deployment = _web([{"name": "c", "image": "x:1"}], **spec)
        code, body = call(
            sandbox_api, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment
        )
        assert code == 422, body
        return _causes(body)

    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    assert causes(strategy=zero) == [
        (
            "spec.strategy.rollingUpdate.maxUnavailable",
            "Invalid value: 0: may not be 0 when `maxSurge` is 0",
        )
    ]
    recreate = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    assert causes(strategy=recreate) == [
        (
            "spec.strategy.rollingUpdate",
            "Forbidden: may not be specified when strategy `type` is 'Recreate'",
        )
    ]
    wide = {"rollingUpdate": {"maxSurge": "half", "maxUnavailable": "120%"}}
    assert causes(strategy=wide, minReadySeconds=30, progressDeadlineSeconds=30) == [
        (
            "spec.strategy.rollingUpdate.maxSurge",
            "Invalid value: half: a valid percent string must be a numeric string followed by an "
            "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ),
        (
            "spec.strategy.rollingUpdate.maxUnavailable",
            "Invalid value: 120%: must not be greater than 100%",
        ),
        ("spec.progressDeadlineSeconds", "Invalid value: 30: must be greater than minReadySeconds"),
    ]


def test_secret_types_need_their_keys(sandbox_api: SandboxApi) -> None:
    def causes(secret_type: str, data: dict[str, str]) -> list[tuple[str, str]]:
        body = {"metadata": {"name": "s"}, "type": secret_type, "stringData": data}
        code, status = call(sandbox_api, "POST", f"{NS}/secrets", body)
        assert code == 422, status
        return _causes(status)

    assert causes("kubernetes.io/tls", {"tls.crt": "c"}) == [("data[tls.key]", "Required value")]
    assert causes("kubernetes.io/basic-auth", {}) == [
        ("data[username]", "Required value"),
        ("data[password]", "Required value"),
    ]
    assert causes("kubernetes.io/service-account-token", {}) == [
        ("metadata.annotations[kubernetes.io/service-account.name]", "Required value")
    ]
    [(field, message)] = causes("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{"})
    assert (field, message.split(":")[0]) == ("data[.dockerconfigjson]", "Invalid value")
    assert "<secret contents redacted>" in message
    tls = {
        "metadata": {"name": "t"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": "c", "tls.key": "k"},
    }
    assert call(sandbox_api, "POST", f"{NS}/secrets", tls)[0] == 201


def test_an_update_may_not_change_the_uid(sandbox_api: SandboxApi) -> None:
    code, created = call(sandbox_api, "POST", f"{NS}/configmaps", {"metadata": {"name": "c"}})
    assert code == 201
    other = {**created, "metadata": {**created["metadata"], "uid": "someone-else"}}
    code, body = call(sandbox_api, "PUT", f"{NS}/configmaps/c", other)
    assert (code, body["message"]) == (
        422,
        'ConfigMap "c" is invalid: metadata.uid: Invalid value: "someone-else": field is immutable',
    )


def test_pod_specs_are_checked_in_pods_and_templates(sandbox_api: SandboxApi) -> None:
    containers = [
        {
            "name": "c",
            "image": "x:1",
            "ports": [{"containerPort": 0}],
            "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
        },
        {
            "name": "c",
            "image": "x:1",
            "imagePullPolicy": "Sometimes",
            "resources": {"requests": {"nvidia.com/gpu": "1"}},
        },
    ]
    deployment = _web(containers)
    code, body = call(
        sandbox_api, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment
    )
    where = "spec.template.spec.containers"
    assert (code, _causes(body)) == (
        422,
        [
            (
                f"{where}[0].ports[0].containerPort",
                "Invalid value: 0: must be between 1 and 65535, inclusive",
            ),
            (
                f"{where}[0].resources.requests",
                'Invalid value: "2": must be less than or equal to cpu limit of 1',
            ),
            (f"{where}[1].name", 'Duplicate value: "c"'),
            (
                f"{where}[1].imagePullPolicy",
                'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", '
                '"Never"',
            ),
            (
                f"{where}[1].resources.limits",
                "Required value: Limit must be set for non overcommitable resources",
            ),
        ],
    )
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "lots"}}}]
        },
    }
    code, body = call(sandbox_api, "POST", f"{NS}/pods", pod)
    assert (code, body["reason"]) == (400, "BadRequest")
    assert "quantities must match the regular expression" in body["message"]
