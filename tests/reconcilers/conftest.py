from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec

COMPRESSED: dict[str, Any] = {
    "model": {
        "version": "2",
        "uri": "pvc://models/digits/2/model.onnx",
        "sha256": "a" * 64,
        "credentialsSecret": "model-store",
    },
    "compression": {
        "steps": [
            {"type": "prune", "sparsity": 0.5},
            {"type": "quantize", "mode": "static", "calibrationUri": "pvc://calib/c.npz"},
        ],
        "evaluation": {"datasetUri": "pvc://data/val.npz", "metric": "accuracy", "maxDrop": 0.02},
        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "4Gi"}, "requests": {"cpu": 2}},
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "backoffLimit": 1,
        "activeDeadlineSeconds": 900,
    },
    "serving": {
        "replicas": 3,
        "threads": 2,
        "batching": {"maxBatchSize": 16, "maxDelayMs": 3},
        "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
    },
}


@pytest.fixture
def resource() -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "digits", "namespace": "ml", "uid": "0f1e2d3c-uid"},
        "spec": COMPRESSED,
    }


@pytest.fixture
def spec() -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(COMPRESSED)
