"""The defaults kube-apiserver gives built-in objects, and the nulls its typed decoding drops.

Sources upstream: pkg/apis/core/v1/defaults.go (`SetDefaults_Pod`, `SetDefaults_PodSpec`,
`SetDefaults_Container`, `SetDefaults_Probe`, `SetDefaults_Service`...), pkg/apis/apps/v1/
defaults.go (`SetDefaults_Deployment`, `SetDefaults_ReplicaSet`), pkg/apis/batch/v1/defaults.go
(`SetDefaults_Job`), and the admission plugins that fill pods in: Priority (`priority`,
`preemptionPolicy`), DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds:
the not-ready/unreachable tolerations) and ServiceAccount (`serviceAccountName`).
"""

from __future__ import annotations

from typing import Any

_ROLLING_UPDATE = {"maxUnavailable": "25%", "maxSurge": "25%"}
_DEFAULT_TOLERATION_SECONDS = 300
_NODE_PROBLEM_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_VOLUME_MODE = 420  # 0644, the defaultMode of configMap, secret, projected and downwardAPI


def drop_nulls(value: Any) -> Any:
    """`value` without null fields: what decoding JSON into Go structs and encoding it again
    leaves (kubectl 1.32/1.33 send `creationTimestamp: null` in pod templates)."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for field, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        probe.setdefault(field, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(probe))
    for env in container.get("env") or []:
        field_ref = ((env or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def _volume(volume: dict[str, Any]) -> None:
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", _VOLUME_MODE)
    sources = ("configMap", "secret", "projected", "downwardAPI", "hostPath", "emptyDir")
    if not any(key in volume for key in sources) and len(volume) == 1:
        # A volume with only a name is an emptyDir (SetDefaults_Volume).
        volume["emptyDir"] = {}


def pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and its containers, probes and volumes (pods and pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if isinstance(container, dict):
                _container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _volume(volume)


def _requests_from_limits(container: dict[str, Any]) -> None:
    resources = container.get("resources") or {}
    limits = resources.get("limits") or {}
    if limits:
        requests = resources.setdefault("requests", {})
        for name, quantity in limits.items():
            requests.setdefault(name, quantity)
        container["resources"] = resources


def pod(obj: dict[str, Any], creating: bool) -> None:
    """A pod as admission leaves it: SetDefaults_Pod, then (on create) the admission plugins'
    fields."""
    spec = obj.setdefault("spec", {})
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if isinstance(container, dict):
                _requests_from_limits(container)
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    if not creating:
        return
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    if not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.get("tolerations")
    if tolerations is None or isinstance(tolerations, list):
        spec["tolerations"] = _with_problem_tolerations(tolerations or [])


def _with_problem_tolerations(tolerations: list[Any]) -> list[Any]:
    """DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s, unless the
    pod already tolerates NoExecute taints of that key (or of every key)."""
    added = list(tolerations)
    for key in _NODE_PROBLEM_TAINTS:
        tolerated = any(
            isinstance(t, dict)
            and t.get("effect") in (None, "", "NoExecute")
            and (t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists"))
            for t in tolerations
        )
        if not tolerated:
            added.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": _DEFAULT_TOLERATION_SECONDS,
                }
            )
    return added


def _template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec(template.setdefault("spec", {}))


def deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.get("strategy")
    if strategy is None:
        strategy = spec["strategy"] = {}
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if rolling is None:
                rolling = strategy["rollingUpdate"] = {}
            if isinstance(rolling, dict):
                for field, value in _ROLLING_UPDATE.items():
                    rolling.setdefault(field, value)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def replicaset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)


def job(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if "backoffLimitPerIndex" in spec else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    replacement = "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    spec.setdefault("podReplacementPolicy", replacement)
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        for pattern in (rule or {}).get("onPodConditions") or []:
            if isinstance(pattern, dict):
                pattern.setdefault("status", "True")
    _template(spec)


def job_labels(obj: dict[str, Any]) -> None:
    """A Job without labels shows its template's (SetDefaults_Job runs again on every read, after
    the selector labels were added to the template)."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)


def service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
        # Single-stack IPv4 cluster: what the REST allocator fills in.
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
