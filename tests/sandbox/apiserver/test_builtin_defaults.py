"""Built-in objects get the defaults kube-apiserver 1.36 gives them (pkg/apis/*/v1/defaults.go
and the admission plugins that fill pods in), whatever kubectl version created them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import KUBECTL, OLD_KUBECTL, Kubectl
from tests.sandbox.conftest import SandboxApi

PROBLEM_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]
KUBECTLS = pytest.mark.parametrize("binary", [KUBECTL, OLD_KUBECTL], ids=["1.35", "1.33"])


@KUBECTLS
def test_kubectl_create_deployment_gets_a_rolling_update_strategy(
    sandbox_api: SandboxApi, binary: Path
) -> None:
    kubectl = Kubectl(sandbox_api, binary)
    kubectl.run("create", "deployment", "web", "--image=busybox:1.36")
    spec = kubectl.json("get", "deployment", "web")["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (
        1,
        10,
        600,
    )
    template = spec["template"]
    # No null left from the decoding (kubectl 1.33 sends creationTimestamp: null).
    assert template["metadata"] == {"labels": {"app": "web"}}
    assert template["spec"] == {
        "containers": [
            {
                "name": "busybox",
                "image": "busybox:1.36",
                "imagePullPolicy": "IfNotPresent",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
    }


def test_a_pod_gets_the_defaults_and_the_admission_plugins_fields(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("run", "p", "--image=busybox:1.36", "--restart=Never")
    pod = kubectl.json("get", "pod", "p")
    spec = pod["spec"]
    assert spec["enableServiceLinks"] is True
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")
    assert spec["tolerations"] == PROBLEM_TOLERATIONS
    assert pod["status"]["qosClass"] == "BestEffort"


def test_pod_requests_default_to_limits_and_only_cpu_and_memory_count_for_qos(
    sandbox_api: SandboxApi,
) -> None:
    def create(name: str, limits: dict[str, str], tolerations: list[object]) -> dict[str, object]:
        body = {
            "metadata": {"name": name},
            "spec": {
                "tolerations": tolerations,
                "containers": [
                    {"name": "c", "image": "busybox:1.36", "resources": {"limits": limits}}
                ],
            },
        }
        code, pod = call(sandbox_api, "POST", "/api/v1/namespaces/default/pods", body)
        assert code == 201, pod
        return pod

    gpu = create("gpu", {"nvidia.com/gpu": "1"}, [{"operator": "Exists"}])
    assert gpu["spec"]["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": "1"}
    assert gpu["status"]["qosClass"] == "BestEffort"
    # A pod that tolerates every taint gets no extra tolerations.
    assert gpu["spec"]["tolerations"] == [{"operator": "Exists"}]
    fixed = create("fixed", {"cpu": "1", "memory": "64Mi"}, [])
    assert fixed["status"]["qosClass"] == "Guaranteed"
    assert create("some", {"cpu": "1"}, [])["status"]["qosClass"] == "Burstable"


def test_a_service_gets_its_ip_families_and_traffic_policies(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "service", "clusterip", "web", "--tcp=80:8080")
    spec = kubectl.json("get", "service", "web")["spec"]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert (spec["internalTrafficPolicy"], spec["sessionAffinity"]) == ("Cluster", "None")
    kubectl.run("create", "service", "nodeport", "edge", "--tcp=80:8080")
    assert kubectl.json("get", "service", "edge")["spec"]["externalTrafficPolicy"] == "Cluster"


def test_a_job_gets_its_defaults_and_its_templates_labels(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "job", "train", "--image=busybox:1.36")
    job = kubectl.json("get", "job", "train")
    spec = job["spec"]
    assert {
        key: spec[key]
        for key in (
            "backoffLimit",
            "completionMode",
            "completions",
            "manualSelector",
            "parallelism",
            "podReplacementPolicy",
            "suspend",
        )
    } == {
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "completions": 1,
        "manualSelector": False,
        "parallelism": 1,
        "podReplacementPolicy": "TerminatingOrFailed",
        "suspend": False,
    }
    uid = job["metadata"]["uid"]
    assert job["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "train",
        "controller-uid": uid,
        "job-name": "train",
    }
