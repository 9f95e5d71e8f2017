"""The operator drives real Jobs and serving processes in the sandbox: compression on the GPU
pool, versioned serving pods behind the Service, canary steps, failures that leave the
stable version serving."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tests.controller.conftest import (
    NAMESPACE,
    QUANTIZE_ON_GPU,
    Env,
    OperatorProcess,
    model_deployment,
)
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0


def _phase(env: Env, name: str) -> str | None:
    return env.status(name).get("phase")


def _condition(env: Env, name: str, type_: str) -> dict[str, Any] | None:
    conditions = env.status(name).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def _samples(env: Env) -> np.ndarray:
    with np.load(env.digits.val) as data:
        return np.asarray(data["inputs"][:4], dtype=np.float32)


def test_compressed_on_the_gpu_pool_then_served_through_the_service(
    env: Env, operator: OperatorProcess
) -> None:
    env.apply(model_deployment("digits", "1", compression=QUANTIZE_ON_GPU))
    job = wait_for(lambda: next(iter(env.jobs("digits")), None), "the compression Job", DEADLINE)
    pods = wait_for(
        lambda: (
            [
                p
                for p in env.cluster.core.list_namespaced_pod(
                    NAMESPACE, label_selector=f"job-name={job.metadata.name}"
                ).items
                if p.spec.node_name
            ]
            or None
        ),
        "the Job's pod scheduled",
        DEADLINE,
    )
    assert pods[0].spec.node_name == "gpu-pool"
    wait_for(lambda: _phase(env, "digits") == "Ready", "phase Ready", DEADLINE)

    status = env.status("digits")
    assert status["stableVersion"] == "1"
    digest = status["compression"]["digest"]
    assert status["history"][0]["outcome"] == "Promoted"
    assert status["history"][0]["digest"] == digest
    assert status["compression"]["ratio"] > 2
    assert _condition(env, "digits", "Compressed")["status"] == "True"
    assert _condition(env, "digits", "Available")["status"] == "True"

    artifact = env.directory / "pvc" / NAMESPACE / "modeldeploy-artifacts"
    artifact = artifact / digest.removeprefix("sha256:") / "model.onnx"
    session = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    rows = _samples(env)
    expected = session.run(None, {"input": rows})[0]
    version, logits = env.infer("digits", rows)
    assert version == "1"
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # Two replicas of version 1, nothing else; only status was written on the resource.
    assert [d.spec.replicas for d in env.deployments("digits").values()] == [2]
    metadata = env.resource("digits")["metadata"]
    assert not metadata.get("finalizers")
    assert not [k for k in metadata.get("annotations") or {} if "kopf" in k]


def test_a_job_without_the_gpu_toleration_never_lands_and_the_resource_says_why(
    env: Env, operator: OperatorProcess
) -> None:
    compression = copy.deepcopy(QUANTIZE_ON_GPU)
    del compression["tolerations"]
    env.apply(model_deployment("digits", "1", compression=compression))
    condition = wait_for(
        lambda: (
            (c := _condition(env, "digits", "Compressed")) and c["reason"] == "Unschedulable" and c
        ),
        "Compressed=False Unschedulable",
        DEADLINE,
    )
    assert "untolerated taint" in condition["message"]
    assert _phase(env, "digits") == "Compressing"
    assert not [
        p for p in env.cluster.core.list_namespaced_pod(NAMESPACE).items if p.spec.node_name
    ]


def _ready_versions(env: Env, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pod in env.serving_pods(name):
        ready = (
            any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            and not pod.metadata.deletion_timestamp
        )
        if ready:
            version = pod.metadata.labels["modeldeploy.dev/version"]
            counts[version] = counts.get(version, 0) + 1
    return counts


def test_version_2_follows_the_canary_steps_through_the_service(
    env: Env, operator: OperatorProcess
) -> None:
    steps = [{"weight": 25, "pause": "4s"}, {"weight": 50, "pause": "4s"}]
    env.apply(model_deployment("digits", "1", replicas=4, steps=steps))
    wait_for(lambda: _phase(env, "digits") == "Ready", "version 1 Ready", DEADLINE)
    env.apply(model_deployment("digits", "2", replicas=4, steps=steps))
    rows = _samples(env)
    seen: dict[int, dict[str, int]] = {}
    errors = 0
    deadline_status = wait_for(
        lambda: _phase(env, "digits") == "RollingOut" or None, "RollingOut", DEADLINE
    )
    assert deadline_status
    while _phase(env, "digits") != "Ready":
        status = env.status("digits")
        weight = status.get("canaryWeight")
        ready = _ready_versions(env, "digits")
        try:
            version, _ = env.infer("digits", rows)
        except OSError:
            errors += 1
            continue
        if weight is not None and status.get("stepReadyAt"):
            counts = seen.setdefault(int(weight), {})
            counts[version] = counts.get(version, 0) + 1
        assert ready.get("1", 0) + ready.get("2", 0) >= 3, ready  # never below replicas - 1
    assert errors == 0
    # During each held step the share of version 2 follows its ready replicas: 1 of 4, 2 of 4.
    for weight, share in ((25, 0.25), (50, 0.5)):
        counts = seen[weight]
        total = sum(counts.values())
        assert total >= 20, (weight, counts)
        assert abs(counts.get("2", 0) / total - share) < 0.2, (weight, counts)
    status = env.status("digits")
    assert status["stableVersion"] == "2"
    assert "canaryVersion" not in status
    # The promotion's status is written before version 1's last scale-down.
    wait_for(lambda: _serving(env, "digits") == {"1": 0, "2": 4}, "version 1 at 0", DEADLINE)
    assert [h["outcome"] for h in status["history"][:2]] == ["Promoted", "Promoted"]
    # Version 1's pods leave the Service as they terminate (the endpoints controller and the
    # proxy follow by watch, a moment after the promotion): from then on only version 2 answers.
    wait_for(
        lambda: {env.infer("digits", rows)[0] for _ in range(10)} == {"2"} or None,
        "only version 2 answering",
        DEADLINE,
    )


def _serving(env: Env, name: str) -> dict[str, int]:
    return {
        d.metadata.labels["modeldeploy.dev/version"]: d.spec.replicas
        for d in env.deployments(name).values()
    }


def _ready(env: Env, name: str, version: str) -> None:
    env.apply(model_deployment(name, version))
    wait_for(
        lambda: env.status(name).get("stableVersion") == version and _phase(env, name) == "Ready",
        f"version {version} Ready",
        DEADLINE,
    )


def test_a_gate_failure_leaves_version_1_serving(env: Env, operator: OperatorProcess) -> None:
    _ready(env, "digits", "1")
    harsh = {
        "steps": [{"type": "prune", "sparsity": 0.95}],
        "evaluation": {"datasetUri": "pvc://data/digits/val.npz", "maxDrop": 0.0},
    }
    env.apply(model_deployment("digits", "2", compression=harsh))
    wait_for(lambda: _phase(env, "digits") == "Failed", "phase Failed", DEADLINE)
    degraded = _condition(env, "digits", "Degraded")
    assert degraded is not None
    assert degraded["status"] == "True"
    assert degraded["reason"] == "GateFailed"
    assert "accuracy" in degraded["message"]
    assert "maxDrop 0.0" in degraded["message"]
    status = env.status("digits")
    assert status["stableVersion"] == "1"
    assert status["history"][0]["outcome"] == "Rejected"
    assert _serving(env, "digits") == {"1": 2}
    assert env.infer("digits", _samples(env))[0] == "1"
    # The Warning event is posted after the status write that made the phase Failed.
    wait_for(
        lambda: (
            any(
                e.reason == "GateFailed" and e.type == "Warning"
                for e in env.cluster.core.list_namespaced_event(NAMESPACE).items
            )
            or None
        ),
        "a GateFailed Warning event",
        DEADLINE,
    )


def test_a_canary_that_never_gets_ready_is_rolled_back_after_the_progress_deadline(
    env: Env, operator: OperatorProcess
) -> None:
    _ready(env, "digits", "1")
    bad = model_deployment(
        "digits",
        "2",
        serving={"image": "registry.invalid/no-such-image:1"},
        rollout={"progressDeadline": "6s"},
    )
    env.apply(bad)
    wait_for(lambda: _phase(env, "digits") == "Failed", "phase Failed", DEADLINE)
    degraded = _condition(env, "digits", "Degraded")
    assert degraded is not None
    assert degraded["reason"] == "ProgressDeadlineExceeded"
    assert "ErrImagePull" in degraded["message"] or "ImagePullBackOff" in degraded["message"]
    wait_for(lambda: _serving(env, "digits") == {"1": 2, "2": 0}, "version 2 at 0", DEADLINE)
    assert env.status("digits")["stableVersion"] == "1"


def test_abort_and_promote_annotations(env: Env, operator: OperatorProcess) -> None:
    _ready(env, "digits", "1")
    slow = [{"weight": 50, "pause": "1h"}]
    env.apply(model_deployment("digits", "2", steps=slow))
    wait_for(lambda: env.status("digits").get("stepReadyAt"), "the canary step held", DEADLINE)
    env.kubectl("annotate", "mdep", "digits", "-n", NAMESPACE, "modeldeploy.dev/abort=true")
    wait_for(lambda: _phase(env, "digits") == "RolledBack", "RolledBack", DEADLINE)
    wait_for(lambda: _serving(env, "digits") == {"1": 2, "2": 0}, "version 2 at 0", DEADLINE)
    status = env.status("digits")
    assert status["handledAbort"] == "true"
    assert status["history"][0]["outcome"] == "RolledBack"
    # The annotation stays (GitOps owns it); the version is not retried in this generation.
    assert env.resource("digits")["metadata"]["annotations"]["modeldeploy.dev/abort"] == "true"

    env.apply(model_deployment("digits", "3", steps=slow))
    wait_for(lambda: env.status("digits").get("stepReadyAt"), "version 3 step held", DEADLINE)
    env.kubectl(
        "annotate", "mdep", "digits", "-n", NAMESPACE, "modeldeploy.dev/promote=now", "--overwrite"
    )
    wait_for(lambda: env.status("digits").get("stableVersion") == "3", "version 3 stable", DEADLINE)
    assert _phase(env, "digits") == "Ready"


def test_fast_rollback_to_a_kept_revision_and_deletion(env: Env, operator: OperatorProcess) -> None:
    _ready(env, "digits", "1")
    first = set(env.deployments("digits"))
    _ready(env, "digits", "2")
    _ready(env, "digits", "1")
    # The kept Deployment of version 1 served again: no new Deployment, no steps.
    assert first <= set(env.deployments("digits"))
    assert len(env.deployments("digits")) == 2
    # The status is written before the actions it plans: version 2 is scaled down just after.
    wait_for(lambda: _serving(env, "digits") == {"1": 2, "2": 0}, "version 2 at 0", DEADLINE)
    env.kubectl("delete", "mdep", "digits", "-n", NAMESPACE)
    wait_for(lambda: not env.deployments("digits"), "Deployments gone", DEADLINE)
    wait_for(
        lambda: not env.cluster.core.list_namespaced_service(NAMESPACE).items,
        "Service gone",
        DEADLINE,
    )
