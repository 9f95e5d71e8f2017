"""`modeldeploy operator`: run the kopf operator (flags as the Helm chart passes them)."""

from __future__ import annotations

import argparse
import logging

import kopf
from prometheus_client import start_http_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modeldeploy operator", description=__doc__)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--metrics-port", type=int, default=8080, help="0 turns metrics off")
    parser.add_argument("--liveness", metavar="URL", help="e.g. http://0.0.0.0:8081/healthz")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    peering.add_argument("--peering", metavar="NAME", help="kopf peering object shared by replicas")
    parser.add_argument("--priority", type=int, default=0, help="peering priority")
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all-namespaces", action="store_true")
    scope.add_argument("--namespace", action="append", metavar="NS", help="repeatable")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Registering the handlers and settings is what importing them does.
    import modeldeploy.controller.handlers
    import modeldeploy.controller.settings  # noqa: F401

    if args.metrics_port:
        start_http_server(args.metrics_port)
    kopf.run(
        standalone=args.standalone or not args.peering,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
    )
    return 0
