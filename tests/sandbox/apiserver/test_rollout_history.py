"""`kubectl rollout history` and `undo` as on a real cluster, with kubectl 1.35 and 1.33 (which
sends `template.metadata.creationTimestamp: null`): the old ReplicaSet is reused and
`kubernetes.io/change-cause` follows the revisions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.sandbox.apiserver.kubectl import KUBECTL, OLD_KUBECTL, Kubectl
from tests.sandbox.cluster.conftest import Cluster, wait_for
from tests.sandbox.conftest import SandboxApi

CHANGE_CAUSE = "kubernetes.io/change-cause"


@pytest.fixture
def controllers(sandbox_api: SandboxApi) -> Iterator[Cluster]:
    """The controllers without a node: a Deployment of 0 replicas rolls without pods."""
    running = Cluster(sandbox_api, with_node=False)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _history(kubectl: Kubectl) -> list[tuple[str, str]]:
    out = kubectl.run("rollout", "history", "deployment/web")
    return re.findall(r"^(\d+)\s+(.+?)\s*$", out, re.MULTILINE)


def _replicasets(kubectl: Kubectl) -> dict[str, str]:
    """ReplicaSet name -> revision."""
    return {
        rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in kubectl.json("get", "replicasets")["items"]
    }


@pytest.mark.parametrize("binary", [KUBECTL, OLD_KUBECTL], ids=["1.35", "1.33"])
def test_undo_reuses_the_old_replicaset_and_keeps_the_change_cause(
    sandbox_api: SandboxApi, controllers: Cluster, binary: Path
) -> None:
    kubectl = Kubectl(sandbox_api, binary)
    kubectl.run("create", "deployment", "web", "--image=busybox:1.36", "--replicas=0")
    kubectl.run("annotate", "deployment/web", f"{CHANGE_CAUSE}=first")
    wait_for(lambda: _history(kubectl) == [("1", "first")] or None, "revision 1 with its cause")
    kubectl.run("set", "image", "deployment/web", "busybox=busybox:1.37")
    kubectl.run("annotate", "--overwrite", "deployment/web", f"{CHANGE_CAUSE}=second")
    wait_for(
        lambda: _history(kubectl) == [("1", "first"), ("2", "second")] or None,
        "revisions 1 and 2 with their causes",
    )
    first = {revision: name for name, revision in _replicasets(kubectl).items()}["1"]
    kubectl.run("rollout", "undo", "deployment/web")
    wait_for(
        lambda: _history(kubectl) == [("2", "second"), ("3", "first")] or None,
        "revision 1 rolled back to as revision 3",
    )
    assert _replicasets(kubectl)[first] == "3"
    assert len(_replicasets(kubectl)) == 2
    deployment = kubectl.json("get", "deployment", "web")
    assert deployment["metadata"]["annotations"][CHANGE_CAUSE] == "first"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
