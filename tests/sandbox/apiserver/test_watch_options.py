"""Watch options as kube-apiserver treats them: bookmarks (every period and just before the
timeout), `sendInitialEvents` only with `resourceVersionMatch=NotOlderThan` (422 otherwise),
and a resourceVersion older than the kept history answered by an ERROR event carrying 410."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.conftest import SandboxApi

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _events(api: SandboxApi, query: str) -> list[dict[str, Any]]:
    """Every event of a watch that ends by its own timeoutSeconds."""
    request = urllib.request.Request(f"{api.url}{CONFIGMAPS}?watch=1&{query}")
    with urllib.request.urlopen(request, timeout=30, context=api.ssl_context) as response:
        return [json.loads(line) for line in response]


def test_a_short_watch_asking_for_bookmarks_gets_one_before_its_timeout(
    sandbox_api: SandboxApi,
) -> None:
    code, created = call(sandbox_api, "POST", CONFIGMAPS, {"metadata": {"name": "c"}})
    assert code == 201
    rv = created["metadata"]["resourceVersion"]
    events = _events(sandbox_api, f"resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3")
    assert [e["type"] for e in events] == ["BOOKMARK"]
    bookmark = events[0]["object"]
    assert (bookmark["kind"], bookmark["metadata"]["resourceVersion"]) == ("ConfigMap", rv)
    # Not asked for: none.
    assert _events(sandbox_api, f"resourceVersion={rv}&timeoutSeconds=3") == []


def test_send_initial_events_needs_resource_version_match(sandbox_api: SandboxApi) -> None:
    code, body = call(sandbox_api, "GET", f"{CONFIGMAPS}?watch=1&sendInitialEvents=true")
    assert (code, body["message"], body["details"]) == (
        422,
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: sendInitialEvents requires setting "
                    "resourceVersionMatch to NotOlderThan",
                    "field": "resourceVersionMatch",
                }
            ],
        },
    )
    code, body = call(sandbox_api, "GET", f"{CONFIGMAPS}?sendInitialEvents=true")
    assert (code, body["details"]["causes"][0]["message"]) == (
        422,
        "Forbidden: sendInitialEvents is forbidden for list",
    )
    code, body = call(sandbox_api, "GET", f"{CONFIGMAPS}?watch=1&resourceVersionMatch=NotOlderThan")
    assert code == 422


def test_send_initial_events_false_starts_from_now(sandbox_api: SandboxApi) -> None:
    assert call(sandbox_api, "POST", CONFIGMAPS, {"metadata": {"name": "old"}})[0] == 201
    query = "sendInitialEvents=false&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
    assert _events(sandbox_api, query) == []


def test_a_compacted_resource_version_gets_an_error_event_with_410(tmp_path: Path) -> None:
    small = SandboxApi(tmp_path / "small", history=5)
    small.start()
    try:
        for index in range(10):
            assert call(small, "POST", CONFIGMAPS, {"metadata": {"name": f"c{index}"}})[0] == 201
        [event] = _events(small, "resourceVersion=1&timeoutSeconds=5")
        assert event["type"] == "ERROR"
        status = event["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        assert status["message"].startswith("too old resource version: 1 (")
    finally:
        small.stop()
