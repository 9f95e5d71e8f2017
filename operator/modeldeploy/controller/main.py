"""`modeldeploy operator`: run the kopf operator (flags as the Helm chart passes them)."""

from __future__ import annotations

import argparse
import logging
import os

import kopf
from prometheus_client import start_http_server

from modeldeploy.reconcilers.options import (
    DEFAULT_ARTIFACT_STORE,
    DEFAULT_IMAGE,
    Options,
    validate_artifact_store,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modeldeploy operator", description=__doc__)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format", default="plain", choices=["plain", "json"], help="plain: timestamped lines"
    )
    parser.add_argument("--metrics-port", type=int, default=8080, help="0 turns metrics off")
    parser.add_argument(
        "--metrics-address", default="0.0.0.0", help="address the metrics server listens on"
    )
    parser.add_argument("--liveness", metavar="URL", help="e.g. http://0.0.0.0:8081/healthz")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    peering.add_argument("--peering", metavar="NAME", help="kopf peering object shared by replicas")
    parser.add_argument("--priority", type=int, default=0, help="peering priority")
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all-namespaces", action="store_true")
    scope.add_argument("--namespace", action="append", metavar="NS", help="repeatable")
    parser.add_argument(
        "--image",
        default=os.environ.get("MODELDEPLOY_IMAGE") or DEFAULT_IMAGE,
        help="default image of compression Jobs and serving pods ($MODELDEPLOY_IMAGE)",
    )
    parser.add_argument(
        "--artifact-store",
        type=validate_artifact_store,
        default=DEFAULT_ARTIFACT_STORE,
        help="pvc://<claim>/<prefix> (the claim in each resource's namespace) or s3://bucket/prefix",
    )
    parser.add_argument(
        "--artifact-store-secret", help="Secret with the artifact store's S3 credentials"
    )
    parser.add_argument(
        "--artifact-store-size", default="20Gi", help="size of an artifact claim it creates"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # Registering the handlers and settings is what importing them does.
    import modeldeploy.controller.handlers
    import modeldeploy.controller.settings  # noqa: F401
    from modeldeploy.controller import state

    kopf.configure(
        verbose=args.log_level == "debug",
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(args.log_level.upper())
    if args.log_level != "debug":  # kopf logs every handled watch event at info level
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    state.options = Options(
        image=args.image,
        artifact_store=args.artifact_store,
        artifact_store_secret=args.artifact_store_secret,
        artifact_store_size=args.artifact_store_size,
    )
    if args.metrics_port:
        start_http_server(args.metrics_port, args.metrics_address)
    kopf.run(
        standalone=args.standalone or not args.peering,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
    )
    return 0
