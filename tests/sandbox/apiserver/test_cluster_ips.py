"""ClusterIPs: allocated from 127.1.0.0/16, unique, freed with their Service, immutable, and
refused with kube-apiserver's messages when taken or out of range."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.clusterips import allocate

SERVICES = "/api/v1/namespaces/default/services"
RANGE = ipaddress.IPv4Network("127.1.0.0/16")


def _create(api: SandboxApi, name: str, **spec: Any) -> tuple[int, Any]:
    body = {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}
    return call(api, "POST", SERVICES, body)


def _created(api: SandboxApi, name: str, **spec: Any) -> dict[str, Any]:
    code, body = _create(api, name, **spec)
    assert code == 201, body
    result: dict[str, Any] = body["spec"]
    return result


def test_allocate_prefers_the_upper_band_and_reports_a_full_range() -> None:
    network = ipaddress.IPv4Network("10.0.0.0/27")  # hosts .1-.30; the first 16 are static
    rng = random.Random(1)
    taken: list[str] = []
    for _ in range(30):
        address = allocate(taken, network, rng)
        assert address is not None
        assert address not in taken
        taken.append(address)
    assert {int(ipaddress.IPv4Address(a)) & 31 for a in taken[:14]} == set(range(17, 31))
    assert sorted(taken) == sorted(str(host) for host in network.hosts())
    assert allocate(taken, network, rng) is None


def test_services_get_unique_addresses_of_the_range(sandbox_api: SandboxApi) -> None:
    addresses = [_created(sandbox_api, f"s{index}")["clusterIP"] for index in range(20)]
    assert len(set(addresses)) == 20
    assert all(ipaddress.IPv4Address(address) in RANGE for address in addresses)
    node_port = _created(sandbox_api, "np", type="NodePort")
    assert ipaddress.IPv4Address(node_port["clusterIP"]) in RANGE
    assert node_port["clusterIPs"] == [node_port["clusterIP"]]
    headless = _created(sandbox_api, "headless", clusterIP="None")
    assert (headless["clusterIP"], headless["clusterIPs"]) == ("None", ["None"])
    alias = _created(sandbox_api, "alias", type="ExternalName", externalName="db.example")
    assert "clusterIP" not in alias


def test_a_chosen_address_is_honoured_once_and_freed_with_its_service(
    sandbox_api: SandboxApi,
) -> None:
    assert _created(sandbox_api, "first", clusterIP="127.1.0.5")["clusterIPs"] == ["127.1.0.5"]
    code, body = _create(sandbox_api, "second", clusterIP="127.1.0.5")
    assert code == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == (
        'Service "second" is invalid: spec.clusterIPs: Invalid value: ["127.1.0.5"]: failed to '
        "allocate IP 127.1.0.5: provided IP is already allocated"
    )
    assert body["details"]["causes"][0]["field"] == "spec.clusterIPs"

    code, _ = call(sandbox_api, "DELETE", f"{SERVICES}/first")
    assert code == 200
    assert _created(sandbox_api, "second", clusterIP="127.1.0.5")["clusterIP"] == "127.1.0.5"


def test_addresses_outside_the_range_or_malformed_are_refused(sandbox_api: SandboxApi) -> None:
    code, body = _create(sandbox_api, "outside", clusterIP="10.96.0.10")
    assert code == 422
    assert body["message"] == (
        'Service "outside" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to '
        "allocate IP 10.96.0.10: provided IP is not in the valid range. The range of valid IPs "
        "is 127.1.0.0/16"
    )
    code, body = _create(sandbox_api, "pod-range", clusterIP="127.0.0.2")
    assert code == 422
    assert "not in the valid range" in body["message"]
    code, body = _create(sandbox_api, "garbage", clusterIP="not-an-ip")
    assert code == 422
    assert body["message"] == (
        'Service "garbage" is invalid: spec.clusterIPs[0]: Invalid value: "not-an-ip": must be a '
        "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    )
    code, body = _create(sandbox_api, "mismatch", clusterIP="127.1.0.7", clusterIPs=["127.1.0.8"])
    assert code == 422
    assert "first value must match `clusterIP`" in body["message"]


def test_the_address_is_immutable_and_kept_by_updates_that_leave_it_out(
    sandbox_api: SandboxApi,
) -> None:
    address = _created(sandbox_api, "web")["clusterIP"]
    code, body = call(
        sandbox_api,
        "PATCH",
        f"{SERVICES}/web",
        {"spec": {"clusterIP": "127.1.0.9"}},
        content_type="application/merge-patch+json",
    )
    assert code == 422
    assert body["message"] == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["127.1.0.9"]: may not '
        "change once set"
    )
    manifest = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 8080}]}}
    code, body = call(sandbox_api, "PUT", f"{SERVICES}/web", manifest)
    assert code == 200, body
    assert (body["spec"]["clusterIP"], body["spec"]["clusterIPs"]) == (address, [address])


def test_addresses_stay_taken_across_a_restart(sandbox_api: SandboxApi) -> None:
    kept = _created(sandbox_api, "kept", clusterIP="127.1.0.20")["clusterIP"]
    others = {_created(sandbox_api, f"before{index}")["clusterIP"] for index in range(5)}
    sandbox_api.restart()
    code, body = _create(sandbox_api, "again", clusterIP=kept)
    assert code == 422
    assert "provided IP is already allocated" in body["message"]
    after = {_created(sandbox_api, f"after{index}")["clusterIP"] for index in range(5)}
    assert not after & (others | {kept})
