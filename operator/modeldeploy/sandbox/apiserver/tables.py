"""`meta.k8s.io/v1` Table responses: what `kubectl get` prints, computed on the server."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.resources import ResourceType

Row = list[Any]
Column = tuple[str, str, int]  # (name, type, priority: 1 = shown by -o wide only)
_INCLUDE = ("None", "Metadata", "Object")
_FILTER = re.compile(r"^\?\(@\.([\w.-]+)\s*==\s*['\"]?([^'\"]*)['\"]?\)$")


def wants_table(accept: str) -> bool:
    return any("as=Table" in clause and "g=meta.k8s.io" in clause for clause in accept.split(","))


def human_duration(seconds: float) -> str:
    """Kubernetes' `duration.HumanDuration`: 45s, 5m10s, 3h, 2d4h, 1y30d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - then).total_seconds())


def json_path(obj: Any, path: str) -> Any:
    """The value at a printer-column JSONPath such as `.status.conditions[?(@.type=="Ready")]`."""
    for part in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path.strip().lstrip("$")):
        if part.startswith("["):
            inner = part[1:-1]
            if not isinstance(obj, list):
                return None
            if inner.lstrip("-").isdigit():
                index = int(inner)
                obj = obj[index] if -len(obj) <= index < len(obj) else None
                continue
            found = _FILTER.match(inner)
            if not found:
                return None
            key, value = found.groups()
            obj = next((item for item in obj if str(json_path(item, key)) == value), None)
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def _pod_row(pod: dict[str, Any]) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container in statuses:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(_count(c.get("restartCount")) for c in statuses)
    return [
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
    ]


def _deployment_row(obj: dict[str, Any]) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        f"{_count(status.get('readyReplicas'))}/{_count(spec.get('replicas'))}",
        _count(status.get("updatedReplicas")),
        _count(status.get("availableReplicas")),
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _replicaset_row(obj: dict[str, Any]) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _count(spec.get("replicas")),
        _count(status.get("replicas")),
        _count(status.get("readyReplicas")),
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _job_row(obj: dict[str, Any]) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    state = "Running"
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            state = condition["type"]
    if spec.get("suspend"):
        state = "Suspended"
    return [
        state,
        f"{_count(status.get('succeeded'))}/{_count(spec.get('completions'))}",
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _service_row(obj: dict[str, Any]) -> Row:
    spec = obj.get("spec") or {}
    ports = [
        f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if not p.get("nodePort")
        else f"{p.get('port')}:{p.get('nodePort')}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ]
    return [
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        ",".join(spec.get("externalIPs") or []) or "<none>",
        ",".join(ports) or "<none>",
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _node_row(obj: dict[str, Any]) -> Row:
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    state = (
        "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    )
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    prefix = "node-role.kubernetes.io/"
    roles = [key[len(prefix) :] for key in labels if key.startswith(prefix)]
    info = (obj.get("status") or {}).get("nodeInfo") or {}
    return [
        state,
        ",".join(roles) or "<none>",
        age(obj["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
    ]


def _event_row(obj: dict[str, Any]) -> Row:
    involved = obj.get("involvedObject") or {}
    last = (
        obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    )
    return [
        age(last),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        obj.get("message", ""),
    ]


def _data_row(obj: dict[str, Any]) -> Row:
    data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [data, age(obj["metadata"].get("creationTimestamp"))]


def _secret_row(obj: dict[str, Any]) -> Row:
    return [obj.get("type", "Opaque"), *_data_row(obj)]


def _namespace_row(obj: dict[str, Any]) -> Row:
    return [
        (obj.get("status") or {}).get("phase", "Active"),
        age(obj["metadata"].get("creationTimestamp")),
    ]


def _crd_row(obj: dict[str, Any]) -> Row:
    return [obj["metadata"].get("creationTimestamp", "")]


def _age_row(obj: dict[str, Any]) -> Row:
    return [age(obj["metadata"].get("creationTimestamp"))]


_AGE: Column = ("Age", "string", 0)
_BUILTIN_COLUMNS: dict[tuple[str, str], tuple[list[Column], Callable[[dict[str, Any]], Row]]] = {
    ("", "Pod"): (
        [
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            _AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        _pod_row,
    ),
    ("apps", "Deployment"): (
        [("Ready", "string", 0), ("Up-to-date", "string", 0), ("Available", "string", 0), _AGE],
        _deployment_row,
    ),
    ("apps", "ReplicaSet"): (
        [("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0), _AGE],
        _replicaset_row,
    ),
    ("batch", "Job"): (
        [("Status", "string", 0), ("Completions", "string", 0), _AGE],
        _job_row,
    ),
    ("", "Service"): (
        [
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            _AGE,
        ],
        _service_row,
    ),
    ("", "Node"): (
        [("Status", "string", 0), ("Roles", "string", 0), _AGE, ("Version", "string", 0)],
        _node_row,
    ),
    ("", "Event"): (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        _event_row,
    ),
    ("", "ConfigMap"): ([("Data", "integer", 0), _AGE], _data_row),
    ("", "Secret"): ([("Type", "string", 0), ("Data", "integer", 0), _AGE], _secret_row),
    ("", "Namespace"): ([("Status", "string", 0), _AGE], _namespace_row),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (
        [("Created At", "date", 0)],
        _crd_row,
    ),
}


def _custom_columns(rt: ResourceType) -> tuple[list[Column], Callable[[dict[str, Any]], Row]]:
    printer = [dict(c) for c in rt.printer_columns]
    if not printer:
        return [_AGE], _age_row
    columns: list[Column] = [
        (str(c.get("name")), str(c.get("type", "string")), int(str(c.get("priority", 0))))
        for c in printer
    ]

    def row(obj: dict[str, Any]) -> Row:
        cells: Row = []
        for column in printer:
            value = json_path(obj, str(column.get("jsonPath", "")))
            if column.get("type") == "date":
                cells.append(age(value) if isinstance(value, str) else "<unknown>")
            else:
                cells.append(value)
        return cells

    return columns, row


def include_object(query: Mapping[str, str]) -> str:
    """`includeObject`: what each row carries (None, Metadata, the default, or Object)."""
    value = query.get("includeObject") or "Metadata"
    if value not in _INCLUDE:
        raise errors.bad_request(
            f'includeObject: Unsupported value: "{value}": supported values: "Metadata", '
            '"None", "Object"'
        )
    return value


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    rt: ResourceType,
    items: list[dict[str, Any]],
    resource_version: str,
    include: str = "Metadata",
) -> dict[str, Any]:
    """A Table of `items`; each row carries what `include` asks for (`includeObject`): the
    object's metadata by default, the whole object for Object (`kubectl get --sort-by`)."""
    if rt.custom:
        columns, row = _custom_columns(rt)
    else:
        columns, row = _BUILTIN_COLUMNS.get((rt.group, rt.kind), ([_AGE], _age_row))
    definitions = [
        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}
    ]
    definitions += [
        {"name": name, "type": kind, "format": "", "description": "", "priority": priority}
        for name, kind, priority in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": [
            {"cells": [obj["metadata"]["name"], *row(obj)], "object": _row_object(obj, include)}
            for obj in items
        ],
    }
