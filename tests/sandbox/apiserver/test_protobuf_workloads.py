"""kubectl's `create deployment|job|service|serviceaccount` and `expose` send protobuf bodies;
the sandbox stores exactly what the same object sent as JSON would give."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.protobuf import ProtobufError, decode

IMAGE = "--image=modeldeploy/modeldeploy:1"
COMMANDS = {
    "deployment": ["create", "deployment", "web", IMAGE, "--replicas=2", "--port=8080"],
    "deployment with a command": ["create", "deployment", "cmd", IMAGE, "--", "sleep", "60"],
    "job": ["create", "job", "compress", IMAGE, "--", "modeldeploy", "compress", "--spec", "x"],
    "service clusterip": ["create", "service", "clusterip", "web", "--tcp=80:8080,443:8443"],
    "headless service": ["create", "service", "clusterip", "peers", "--clusterip=None"],
    "service nodeport": ["create", "service", "nodeport", "np", "--tcp=80:80", "--node-port=30080"],
    "service externalname": ["create", "service", "externalname", "ext", "--external-name=a.b"],
    "service account": ["create", "serviceaccount", "runner"],
}


def _twin(kubectl: Kubectl, command: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object created by `command` (a protobuf body) and the same object created from JSON."""
    split = command.index("--") if "--" in command else len(command)
    dry_run = [*command[:split], "--dry-run=client", "-o", "json", *command[split:]]
    sent = json.loads(kubectl.run(*dry_run))
    kind, name = sent["kind"].lower(), sent["metadata"]["name"]
    kubectl.run(*command)
    sent["metadata"]["name"] = f"{name}-json"
    kubectl.run("create", "-f", "-", stdin=json.dumps(sent))
    return kubectl.json("get", kind, name), kubectl.json("get", kind, f"{name}-json")


# Set by the API server from each Job's own uid and name.
JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name")
JOB_LABELS += ("controller-uid", "job-name")


def _without_job_labels(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_job_labels(v) for k, v in value.items() if k not in JOB_LABELS}
    if isinstance(value, list):
        return [_without_job_labels(item) for item in value]
    return value


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """What the client decides: everything but the server's own metadata and labels."""
    obj = _without_job_labels(obj)
    kept = {key: value for key, value in obj.items() if key not in ("metadata", "status")}
    kept["labels"] = obj["metadata"].get("labels")
    spec = kept.get("spec", {})
    if spec.get("clusterIP") != "None":  # allocated by the server, different per Service
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    return kept


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_protobuf_create_stores_what_json_would(
    sandbox_api: SandboxApi, command: list[str]
) -> None:
    kubectl = Kubectl(sandbox_api)
    from_protobuf, from_json = _twin(kubectl, command)
    assert _content(from_protobuf) == _content(from_json)


def test_expose_a_deployment(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run(*COMMANDS["deployment"])
    expose = ["expose", "deployment", "web", "--port=80", "--target-port=http", "--name=web"]
    from_protobuf, from_json = _twin(kubectl, expose)
    assert _content(from_protobuf) == _content(from_json)
    assert from_protobuf["spec"]["ports"][0]["targetPort"] == "http"
    assert from_protobuf["spec"]["selector"] == {"app": "web"}


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (all this test needs: lengths stay under 128)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_a_field_the_server_does_not_decode_is_refused_never_dropped() -> None:
    volume = _field(1, _field(1, b"data"))  # PodSpec.volumes: not in the table
    pod_spec = volume + _field(2, _field(1, b"c") + _field(2, b"img"))
    template = _field(2, pod_spec)
    deployment = _field(1, _field(1, b"web")) + _field(2, _field(3, template))
    envelope = _field(1, _field(1, b"apps/v1") + _field(2, b"Deployment")) + _field(2, deployment)
    with pytest.raises(ProtobufError, match="field 1 of PodSpec is not decoded"):
        decode(b"k8s\x00" + envelope)
    without_volume = _field(1, _field(1, b"web")) + _field(
        2, _field(3, _field(2, pod_spec[len(volume) :]))
    )
    envelope = _field(1, _field(1, b"apps/v1") + _field(2, b"Deployment"))
    decoded = decode(b"k8s\x00" + envelope + _field(2, without_volume))
    assert decoded["spec"]["template"]["spec"] == {"containers": [{"name": "c", "image": "img"}]}


def test_kubectl_create_of_another_kind_is_refused_naming_it(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    refused = kubectl.fails(
        "create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *"
    )
    assert "unknown format" in refused
    assert "CronJob is not accepted as protobuf" in refused
