"""Jobs on the sandbox: retries up to backoffLimit, completion, deadlines, kubectl wait."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.cluster.conftest import Cluster, pods_by_label, processes_with, wait_for


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "main",
                            "image": "docker.io/modeldeploy/modeldeploy:latest",
                            "command": ["sh", "-c", script],
                        }
                    ],
                }
            },
        },
    }


def condition(cluster: Cluster, name: str, kind: str) -> Any:
    found = cluster.batch.read_namespaced_job_status(name, "default")
    return next(
        (c for c in found.status.conditions or [] if c.type == kind and c.status == "True"), None
    )


@pytest.mark.slow
def test_jobs_retry_complete_and_hit_their_deadline(cluster: Cluster) -> None:
    marker = f"deadline-{uuid.uuid4().hex[:8]}"
    cluster.batch.create_namespaced_job("default", job("fails", "echo no; exit 1", backoffLimit=2))
    cluster.batch.create_namespaced_job(
        "default", job("works", "echo 'ratio 3.9' > /dev/termination-log; echo finished")
    )
    cluster.batch.create_namespaced_job(
        "default",
        job(
            "slow",
            f"python -c 'import time; time.sleep(300)' {marker}-child & sleep 300; : {marker}",
            activeDeadlineSeconds=10,
            backoffLimit=0,
        ),
    )

    # The deadline job really runs: its shell and the shell's child are live processes.
    wait_for(lambda: len(processes_with(marker)) == 2 or None, "job slow's processes", 10)

    kubectl = Kubectl(cluster.sandbox)
    assert "condition met" in kubectl.run(
        "wait", "--for=condition=complete", "job/works", "--timeout=60s"
    )
    done = cluster.batch.read_namespaced_job_status("works", "default").status
    assert (done.succeeded, done.failed or 0, done.active or 0) == (1, 0, 0)
    assert done.completion_time is not None
    assert condition(cluster, "works", "Complete").reason == "CompletionsReached"
    (pod,) = pods_by_label(cluster, "job-name=works")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert terminated.message == "ratio 3.9\n"
    assert pod.status.phase == "Succeeded"
    assert kubectl.run("logs", "job/works").strip() == "finished"

    # ttlSecondsAfterFinished (mutable) deletes the finished Job, and its pods with it.
    cluster.batch.patch_namespaced_job("works", "default", {"spec": {"ttlSecondsAfterFinished": 1}})
    wait_for(
        lambda: (
            not cluster.batch.list_namespaced_job(
                "default", field_selector="metadata.name=works"
            ).items
        ),
        "the finished job deleted by its TTL",
    )
    wait_for(lambda: not pods_by_label(cluster, "job-name=works"), "its pod garbage-collected")

    failed = wait_for(lambda: condition(cluster, "fails", "Failed"), "job fails to fail")
    assert failed.reason == "BackoffLimitExceeded"
    assert failed.message == "Job has reached the specified backoff limit"
    # backoffLimit 2: the first try and two retries, each a pod that exited 1.
    attempts = pods_by_label(cluster, "job-name=fails")
    assert len(attempts) == 3
    assert {p.status.container_statuses[0].state.terminated.exit_code for p in attempts} == {1}
    assert cluster.batch.read_namespaced_job_status("fails", "default").status.failed == 3

    deadline = wait_for(lambda: condition(cluster, "slow", "Failed"), "job slow to time out")
    assert deadline.reason == "DeadlineExceeded"
    assert deadline.message == "Job was active longer than specified deadline"
    assert processes_with(marker) == []  # neither the shell nor its child survived
    assert pods_by_label(cluster, "job-name=slow") == []  # active pods are deleted
    assert condition(cluster, "slow", "Complete") is None
