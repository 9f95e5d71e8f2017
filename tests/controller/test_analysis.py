"""Live analysis on real traffic through the Service, with both providers: `direct` (the
serving pods' own /metrics) and `prometheus` (a real Prometheus server that discovers the pods
through the sandbox API). A healthy canary is promoted, a faulty one is rolled back, and a
version that degrades only after its promotion is rolled back within the window; the stable
version has ready pods at every sample throughout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeldeploy.demo_traffic import Traffic
from tests.controller.conftest import NAMESPACE, Env, OperatorProcess, model_deployment
from tests.controller.prometheus import PodDiscovery, prometheus_binary, running_prometheus
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0
ANALYSIS: dict[str, Any] = {
    "interval": "2s",
    "failureLimit": 2,
    "minRequests": 5,
    "inconclusiveLimit": 20,
    "metrics": [{"name": "error-rate", "max": 0.05}, {"name": "latency-p99-ms", "max": 2000}],
}


def _faulty(env: dict[str, str]) -> dict[str, Any]:
    variables = [{"name": k, "value": v} for k, v in env.items()]
    return {"podOverrides": {"containers": [{"name": "server", "env": variables}]}}


@pytest.fixture(params=["direct", "prometheus"])
def analysis(request: pytest.FixtureRequest, env: Env, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The analysis settings of the resources, per provider (with its Prometheus running)."""
    if request.param == "direct":
        yield {**ANALYSIS, "provider": "direct"}
        return
    binary = prometheus_binary()
    assert binary, "prometheus is installed by `make tools` (Debian package prometheus)"
    with (
        PodDiscovery(env.cluster.core) as discovery,
        running_prometheus(binary, discovery.url, tmp_path / "prometheus") as server,
    ):
        yield {**ANALYSIS, "provider": "prometheus", "address": server.url}


def _resource(
    version: str, analysis: dict[str, Any], serving: dict[str, Any] | None = None, **rollout: Any
) -> dict[str, Any]:
    return model_deployment(
        "digits",
        version,
        steps=[{"weight": 50, "pause": "1s"}],
        serving=serving,
        rollout={"analysis": analysis, **rollout},
    )


class StableWatch:
    """Samples, every 200 ms, how many ready pods the stable version has."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.samples: list[tuple[str, int]] = []
        self.zeros: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            # Read the stable version before and after the pods: a promotion in between
            # makes either count as the stable one.
            before = self.env.status("digits").get("stableVersion")
            pods = self.env.serving_pods("digits")
            stable = {before, self.env.status("digits").get("stableVersion")}
            ready = sum(
                1
                for p in pods
                if p.metadata.labels["modeldeploy.dev/version"] in stable
                and not p.metadata.deletion_timestamp
                and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            )
            self.samples.append((str(sorted(map(str, stable))), ready))
            if not ready:  # what the pods were doing, for the failure message
                self.zeros.append(
                    [
                        (
                            p.metadata.labels["modeldeploy.dev/version"],
                            p.status.phase,
                            bool(p.metadata.deletion_timestamp),
                            [(c.type, c.status) for c in p.status.conditions or []],
                        )
                        for p in pods
                    ]
                )

    def __enter__(self) -> StableWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


@contextmanager
def _traffic(env: Env) -> Iterator[Traffic]:
    """About 40 requests/s through the Service, each on a new connection."""
    traffic = Traffic(env.service_url("digits"), "digits", _rows(env), pause=0.02).start()
    try:
        yield traffic
    finally:
        traffic.stop()


def _rows(env: Env) -> np.ndarray:
    with np.load(env.digits.val) as data:
        return np.asarray(data["inputs"][:1], dtype=np.float32)


def _ready_on(env: Env, version: str) -> None:
    wait_for(
        lambda: (
            env.status("digits").get("stableVersion") == version
            and env.status("digits").get("phase") == "Ready"
        ),
        f"version {version} Ready",
        DEADLINE,
    )


def test_healthy_canary_is_promoted_faulty_one_rolled_back(
    env: Env, operator: OperatorProcess, analysis: dict[str, Any]
) -> None:
    env.apply(_resource("1", analysis))
    _ready_on(env, "1")
    with (
        _traffic(env),
        StableWatch(env) as watch,
    ):
        env.apply(_resource("2", analysis))
        _ready_on(env, "2")
        assert env.status("digits")["history"][0]["reason"] == "all canary steps passed"

        env.apply(_resource("3", analysis, _faulty({"MODELDEPLOY_FAULT_ERROR_RATE": "0.5"})))
        wait_for(lambda: env.status("digits").get("phase") == "RolledBack", "RolledBack", DEADLINE)
    status = env.status("digits")
    assert status["stableVersion"] == "2"
    assert status["history"][0]["version"] == "3"
    assert status["history"][0]["outcome"] == "RolledBack"
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "AnalysisFailed"
    assert "error-rate" in degraded["message"]
    assert "> 0.05" in degraded["message"]
    assert "error-rate" in status["history"][0]["reason"]
    wait_for(
        lambda: (
            {
                d.metadata.labels["modeldeploy.dev/version"]: d.spec.replicas
                for d in env.deployments("digits").values()
            }.get("3")
            == 0
        ),
        "version 3 at 0",
        DEADLINE,
    )
    assert watch.samples
    assert min(ready for _, ready in watch.samples) >= 1, [
        [z[:3] for z in zero] for zero in watch.zeros
    ]
    # The Event is posted after the scaling in the same pass: it may still be on its way.
    wait_for(
        lambda: any(
            e.reason == "AnalysisFailed"
            for e in env.cluster.core.list_namespaced_event(NAMESPACE).items
        ),
        "the AnalysisFailed Event",
        DEADLINE,
    )
    assert 'reason="AnalysisFailed"' in operator.metrics()


def test_a_version_degrading_after_promotion_is_rolled_back_within_the_window(
    env: Env, operator: OperatorProcess, analysis: dict[str, Any]
) -> None:
    env.apply(_resource("1", analysis))
    _ready_on(env, "1")
    # Healthy for its first 18 s, then half its answers fail: promoted, then caught.
    late = _faulty({"MODELDEPLOY_FAULT_ERROR_RATE": "0.5", "MODELDEPLOY_FAULT_AFTER_S": "18"})
    with (
        _traffic(env),
        StableWatch(env) as watch,
    ):
        resource = _resource("2", analysis, late, postPromotionWindow="60s")
        resource["metadata"]["annotations"] = {"modeldeploy.dev/promote": "now"}
        env.apply(resource)
        wait_for(
            lambda: env.status("digits").get("stableVersion") == "2", "version 2 promoted", DEADLINE
        )
        wait_for(lambda: env.status("digits").get("phase") == "RolledBack", "RolledBack", DEADLINE)
        # Version 1 becomes the stable one again once all its replicas are ready.
        wait_for(
            lambda: env.status("digits").get("stableVersion") == "1", "version 1 back", DEADLINE
        )
    status = env.status("digits")
    assert status["phase"] == "RolledBack"
    assert status["history"][0]["outcome"] == "RolledBack"
    assert "after promotion" in status["history"][0]["reason"]
    assert [h["outcome"] for h in status["history"][:2]] == ["RolledBack", "Promoted"]
    assert min(ready for _, ready in watch.samples) >= 1, [
        [z[:3] for z in zero] for zero in watch.zeros
    ]
