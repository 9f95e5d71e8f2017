"""Shutting down behind a Service: not ready at once, answering until the requests stop
coming (the quiet period), then refusing new ones while those in flight finish."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import requests

from modeldeploy.serve.dataplane import State
from modeldeploy.serve.faults import FaultSettings
from tests.serve.conftest import RunningServer, config_for, linear_model
from tests.serve.test_dataplane import ROW, wait_for


def _post(url: str) -> requests.Response:
    return requests.post(f"{url}/v2/models/digits/infer", json=ROW, timeout=30)


def test_answers_while_quiescing_then_refuses_with_requests_in_flight(tmp_path: Path) -> None:
    config = config_for(linear_model(tmp_path / "m.onnx"), quiet_period_s=0.5, grace_period_s=10)
    running = RunningServer(config, FaultSettings(latency_s=3.0)).load()
    url, dataplane = running.url, running.server.dataplane
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(_post(url).status_code))
    slow.start()
    wait_for(lambda: dataplane.in_flight == 1)
    stopping = asyncio.run_coroutine_threadsafe(running.server.stop(), running.loop)
    wait_for(lambda: dataplane.state is State.QUIESCING)
    assert requests.get(f"{url}/v2/health/ready", timeout=10).status_code == 503
    assert requests.get(f"{url}/v2/health/live", timeout=10).status_code == 200
    during = threading.Thread(target=lambda: answers.append(_post(url).status_code))
    during.start()  # taken while quiescing: answered, on a connection closed after it
    wait_for(lambda: dataplane.in_flight == 2)
    wait_for(lambda: dataplane.state is State.DRAINING)  # half a second without a request
    refused = _post(url)
    assert refused.status_code == 503
    assert "shutting down" in refused.json()["error"]
    assert refused.headers["Connection"] == "close"
    slow.join()
    during.join()
    assert answers == [200, 200]
    assert stopping.result(30) is True
    running.close()


def test_requests_that_never_stop_are_refused_a_quiet_period_before_the_grace_ends(
    tmp_path: Path,
) -> None:
    config = config_for(linear_model(tmp_path / "m.onnx"), quiet_period_s=0.5, grace_period_s=2)
    running = RunningServer(config).load()
    url, dataplane = running.url, running.server.dataplane
    codes: list[int] = []
    states: list[State] = []
    done = threading.Event()

    def keep_sending() -> None:
        while not done.is_set():
            try:
                codes.append(_post(url).status_code)
            except requests.ConnectionError:
                return
            states.append(dataplane.state)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    wait_for(lambda: len(codes) > 5)
    stopping = asyncio.run_coroutine_threadsafe(running.server.stop(), running.loop)
    # The requests never pause for half a second, yet the server stops taking them.
    wait_for(lambda: dataplane.state is State.DRAINING, timeout=10)
    assert stopping.result(30) is True
    done.set()
    sender.join(10)
    answered = zip(codes, states, strict=True)
    quiescing = [code for code, state in answered if state is State.QUIESCING]
    assert quiescing
    assert set(quiescing) == {200}
    running.close()
