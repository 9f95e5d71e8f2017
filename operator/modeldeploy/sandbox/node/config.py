"""The nodes one agent serves: names, labels, capacity and taints (YAML config or defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.sandbox.controllers.quantity import QuantityError, parse_quantity

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeConfig:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)


def with_own_taints(current: list[dict[str, Any]], own: list[dict[str, str]]) -> list[Any]:
    """The Node's taints after this agent (re)registers: its own taints (those of its config,
    by key and effect, as `kubectl taint` identifies one) set to the config's values, every
    other taint (cordon's `unschedulable`, `kubectl taint`, the node lifecycle controller's)
    kept as it is."""
    mine = {(taint["key"], taint["effect"]) for taint in own}
    others = [t for t in current if (t.get("key"), t.get("effect")) not in mine]
    return [*others, *own]


def _host_capacity() -> dict[str, str]:
    memory_kib = 8 * 2**20
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory_kib}Ki",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }


def _pool_labels(name: str, pool: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": f"sandbox-{pool}",
        "pool": pool,
    }


def default_nodes(gpus: int = 2) -> list[NodeConfig]:
    """`cpu-pool`, and `gpu-pool` with `gpus` fake GPUs behind the usual GPU taint."""
    gpu_labels = {
        **_pool_labels("gpu-pool", "gpu"),
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.product": "Sandbox-Fake-GPU",
    }
    return [
        NodeConfig("cpu-pool", _pool_labels("cpu-pool", "cpu"), _host_capacity()),
        NodeConfig(
            "gpu-pool", gpu_labels, {**_host_capacity(), GPU_RESOURCE: str(gpus)}, [dict(GPU_TAINT)]
        ),
    ]


def _node_from(entry: Any, index: int) -> NodeConfig:
    where = f"nodes[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise ValueError(f"{where}.name: a non-empty string is required")
    capacity = {
        **_host_capacity(),
        **{str(k): str(v) for k, v in (entry.get("capacity") or {}).items()},
    }
    for resource, amount in capacity.items():
        try:
            parse_quantity(amount)
        except QuantityError as error:
            raise ValueError(f"{where}.capacity.{resource}: {error}") from None
    taints = []
    for position, taint in enumerate(entry.get("taints") or []):
        if (
            not isinstance(taint, dict)
            or not taint.get("key")
            or taint.get("effect") not in _EFFECTS
        ):
            raise ValueError(
                f"{where}.taints[{position}]: needs a key and an effect in {', '.join(_EFFECTS)}"
            )
        taints.append({str(k): str(v) for k, v in taint.items()})
    labels = {**_pool_labels(entry["name"], str(entry.get("pool", entry["name"])))}
    labels.update({str(k): str(v) for k, v in (entry.get("labels") or {}).items()})
    return NodeConfig(entry["name"], labels, capacity, taints)


def load_nodes(path: Path) -> list[NodeConfig]:
    """Nodes from YAML: `nodes: [{name, pool?, labels?, capacity?, taints?}]`."""
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("nodes") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: nodes: a non-empty list is required")
    nodes = [_node_from(entry, index) for index, entry in enumerate(entries)]
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: nodes: names must be unique, got {names}")
    return nodes
