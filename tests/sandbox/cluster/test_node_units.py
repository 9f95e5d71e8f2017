"""Node agent pieces without a cluster: env expansion, images, phases, addresses, paths."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.sandbox.node.config import with_own_taints
from modeldeploy.sandbox.node.env import ConfigError, container_env, expand
from modeldeploy.sandbox.node.images import (
    ImageNotFoundError,
    command_line,
    covered_installation,
    installation_paths,
)
from modeldeploy.sandbox.node.ips import PodAddresses, listening_addresses
from modeldeploy.sandbox.node.launcher import inside_root
from modeldeploy.sandbox.node.runtime import translate
from modeldeploy.sandbox.node.status import pod_phase
from modeldeploy.sandbox.node.volumes import Mount, refresh_tokens, token_lifetime

POD = {
    "metadata": {"name": "p", "namespace": "ml", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "gpu-pool"},
}


async def lookup(kind: str, namespace: str, name: str) -> dict[str, str] | None:
    return {"level": "debug"} if (kind, name) == ("configmap", "cfg") else None


def test_expansion_follows_kubernetes_rules() -> None:
    context = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", context) == "1-two"
    assert expand("$(MISSING) $$(A) $", context) == "$(MISSING) $(A) $"


def test_env_resolves_downward_api_config_maps_and_order() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "URL", "value": "http://$(IP):8080/$(CFG_level)"},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
    }
    env = asyncio.run(container_env(POD, container, lookup, "127.0.0.9", "127.0.0.1"))
    assert env["URL"] == "http://127.0.0.9:8080/debug"
    assert (env["APP"], env["NODE"], env["HOSTNAME"]) == ("x", "gpu-pool", "p")


def test_missing_config_names_what_is_missing() -> None:
    missing_key = {
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]
    }
    with pytest.raises(ConfigError, match="couldn't find key nope in ConfigMap ml/cfg"):
        asyncio.run(container_env(POD, missing_key, lookup, "", ""))
    missing_secret = {
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    }
    with pytest.raises(ConfigError, match='secret "s" not found'):
        asyncio.run(container_env(POD, missing_secret, lookup, "", ""))
    optional = {
        "env": [
            {
                "name": "X",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
            }
        ]
    }
    assert "X" not in asyncio.run(container_env(POD, optional, lookup, "", ""))


def test_only_the_project_image_runs_and_command_replaces_the_entrypoint() -> None:
    assert command_line("modeldeploy/modeldeploy:1.2", None, ["serve", "--port", "8080"])[1:] == [
        "serve",
        "--port",
        "8080",
    ]
    assert command_line("docker.io/modeldeploy/modeldeploy", None, None)[0].endswith("/modeldeploy")
    assert command_line("modeldeploy/modeldeploy", ["python", "-c"], ["print(1)"]) == [
        "python",
        "-c",
        "print(1)",
    ]
    for image in ("nginx", "ghcr.io/modeldeploy/modeldeploy:1", "modeldeploy/other:1", ""):
        with pytest.raises(ImageNotFoundError):
            command_line(image, ["true"], None)


@pytest.mark.parametrize(
    ("statuses", "policy", "phase"),
    [
        ([{"state": {"running": {}}}], "Always", "Running"),
        ([{"state": {"waiting": {"reason": "ContainerCreating"}}}], "Always", "Pending"),
        ([{"state": {"terminated": {"exitCode": 0}}}], "Never", "Succeeded"),
        ([{"state": {"terminated": {"exitCode": 1}}}], "Never", "Failed"),
        ([{"state": {"terminated": {"exitCode": 1}}}], "OnFailure", "Running"),
        (
            [
                {
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1}},
                }
            ],
            "Always",
            "Running",
        ),
    ],
)
def test_pod_phase(statuses: list[dict[str, Any]], policy: str, phase: str) -> None:
    assert pod_phase(policy, [], statuses, init_done=True) == phase


def test_failed_init_container_fails_a_never_restarting_pod() -> None:
    init = [{"name": "i", "state": {"terminated": {"exitCode": 2}}}]
    assert pod_phase("Never", init, [{"state": {"waiting": {}}}], init_done=False) == "Failed"
    assert pod_phase("Always", init, [{"state": {"waiting": {}}}], init_done=False) == "Pending"


def test_pod_addresses_are_unique_and_start_at_127_0_0_2() -> None:
    addresses = PodAddresses()
    first, second = addresses.allocate("a"), addresses.allocate("b")
    assert (first, second) == ("127.0.0.2", "127.0.0.3")
    assert addresses.allocate("a") == first
    addresses.release("a")
    assert addresses.allocate("c") == "127.0.0.4"  # freed addresses are reused last
    assert addresses.allocate("d", preferred="127.0.0.3") != "127.0.0.3"


def test_pod_addresses_stay_out_of_the_service_range() -> None:
    addresses = PodAddresses()
    assert addresses.allocate("a", preferred="127.1.0.9") == "127.0.0.2"
    assert addresses.allocate("b", preferred="127.2.0.9") == "127.2.0.9"


def test_path_translation_fallback_rewrites_whole_path_components() -> None:
    mounts = [Mount("/sb/pvc/ml/models", "/models", False), Mount("/sb/cfg", "/etc/cfg", True)]
    assert translate("--model=/models/a.onnx", mounts) == "--model=/sb/pvc/ml/models/a.onnx"
    assert translate("/etc/cfg", mounts) == "/sb/cfg"
    assert translate("/modelsx/a /data/models", mounts) == "/modelsx/a /data/models"


def test_mount_targets_resolve_symlinks_inside_the_container_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")  # absolute, as on Debian: must not leave root
    (root / "opt").symlink_to("srv/app")
    assert inside_root(root, "/var/run/creds") == root / "run" / "creds"
    assert inside_root(root, "/opt/models") == root / "srv" / "app" / "models"
    assert inside_root(root, "/../../etc/x") == root / "etc" / "x"
    (root / "loop").symlink_to("/loop")
    with pytest.raises(OSError, match="too many levels"):
        inside_root(root, "/loop/x")


def test_an_address_another_process_listens_on_is_skipped() -> None:
    """Two sandboxes on one machine share its network: a pod never gets an address that a
    server (perhaps another sandbox's pod) already listens on."""
    with socket.socket() as server:
        server.bind(("127.0.0.2", 0))
        server.listen()
        assert int(ipaddress.IPv4Address("127.0.0.2")) in listening_addresses()
        assert PodAddresses().allocate("a") == "127.0.0.3"
    assert PodAddresses().allocate("a") == "127.0.0.2"


def test_projected_tokens_are_renewed_in_place(tmp_path: Path) -> None:
    pod = {
        "spec": {
            "volumes": [
                {"name": "cfg", "configMap": {"name": "c"}},
                {
                    "name": "kube-api-access-x1",
                    "projected": {
                        "defaultMode": 0o640,
                        "sources": [
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                            {"configMap": {"name": "kube-root-ca.crt"}},
                        ],
                    },
                },
            ]
        }
    }
    issued: list[Any] = []

    async def tokens(pod: Any, source: Any) -> tuple[str, int]:
        issued.append(source)
        return f"token-{len(issued)}", int(source["expirationSeconds"])

    folder = tmp_path / "kube-api-access-x1"
    folder.mkdir()
    (folder / "token").write_text("token-0")
    volumes = {"kube-api-access-x1": folder, "cfg": tmp_path / "cfg"}
    assert token_lifetime(pod) == 3607
    assert token_lifetime({"spec": {}}) is None
    assert asyncio.run(refresh_tokens(pod, volumes, tokens)) == 3607
    assert (folder / "token").read_text() == "token-1"
    assert (folder / "token").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["token"]


def test_registration_sets_only_the_agents_own_taints() -> None:
    own = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    current = [
        {"key": "nvidia.com/gpu", "value": "old", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "value": "x", "effect": "NoExecute"},  # another effect: not ours
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        {"key": "team", "value": "ml", "effect": "NoSchedule"},
    ]
    assert with_own_taints(current, own) == [*current[1:], *own]
    assert with_own_taints([], own) == own
    assert with_own_taints(current[2:], []) == current[2:]


def test_the_installation_is_never_translated_into_a_volume() -> None:
    keep = installation_paths()
    assert str(Path(sys.prefix).resolve()) in keep
    venv = str(Path(sys.prefix).resolve())
    mounts = [Mount("/vol", str(Path(venv).parent), False)]
    path_env = f"{venv}/bin:/usr/bin"
    assert translate(path_env, mounts, keep) == path_env
    assert translate(f"{Path(venv).parent}/data.txt", mounts, keep) == "/vol/data.txt"
    assert covered_installation([str(Path(venv).parent)])[0] == venv
    assert covered_installation(["/nowhere"]) == []
