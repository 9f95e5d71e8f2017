"""PromQL of the built-in metrics over the series `modeldeploy serve` exports
(serve/metrics.py), and the placeholders of user templates."""

from __future__ import annotations

from modeldeploy.analysis.providers.base import Target

# `model` and `version` are the server's own labels; `namespace` comes from the scrape
# configuration's relabelling of the pod's namespace, as in every kubernetes_sd setup.
SELECTOR = 'namespace="{{namespace}}",model="{{name}}",version="{{version}}"'
_REQUESTS = f"modeldeploy_requests_total{{{SELECTOR}}}"
_ERRORS = f'modeldeploy_requests_total{{{SELECTOR},code!~"2.."}}'
_BUCKETS = f"modeldeploy_request_duration_seconds_bucket{{{SELECTOR}}}"


def _quantile(q: float) -> str:
    return f"1000 * histogram_quantile({q}, sum by (le) (rate({_BUCKETS}[{{{{interval}}}}])))"


BUILTIN = {
    "error-rate": f"(sum(rate({_ERRORS}[{{{{interval}}}}])) or vector(0))"
    f" / sum(rate({_REQUESTS}[{{{{interval}}}}]))",
    "latency-p99-ms": _quantile(0.99),
    "latency-p50-ms": _quantile(0.5),
    "request-rate": f"sum(rate({_REQUESTS}[{{{{interval}}}}]))",
}
REQUESTS = f"sum(increase({_REQUESTS}[{{{{interval}}}}]))"


def duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def render(template: str, target: Target) -> str:
    values = {
        "name": target.name,
        "namespace": target.namespace,
        "version": target.version,
        "interval": duration(target.interval_seconds),
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template
