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
