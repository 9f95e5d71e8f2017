"""MODELDEPLOY_FAULT_AFTER_S: a version that is healthy at first and degrades later (the
post-promotion rollback tests use it)."""

from __future__ import annotations

import asyncio
import time

import pytest

from modeldeploy.serve.faults import FaultInjector, FaultSettings, InjectedFaultError


def test_faults_start_only_after_the_delay() -> None:
    settings = FaultSettings.from_env(
        {"MODELDEPLOY_FAULT_ERROR_RATE": "1", "MODELDEPLOY_FAULT_AFTER_S": "0.3"}
    )
    assert settings.after_s == pytest.approx(0.3)
    started = time.monotonic()
    injector = FaultInjector(settings)
    asyncio.run(injector.apply())  # healthy at first
    deadline = started + 10
    while True:
        try:
            asyncio.run(injector.apply())
        except InjectedFaultError:
            break
        assert time.monotonic() < deadline, "faults never started"
    assert time.monotonic() - started >= 0.3


def test_a_negative_delay_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="MODELDEPLOY_FAULT_AFTER_S"):
        FaultSettings.from_env({"MODELDEPLOY_FAULT_AFTER_S": "-1"})
