"""The single `modeldeploy` command.

Each subcommand lives in its own module with a `main(argv) -> int`; it is
imported only when chosen, so `modeldeploy serve` never pays for torch or kopf.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modeldeploy import __version__

# name -> (module with `main(argv: list[str]) -> int`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "crds": ("modeldeploy.api.v1alpha1.crdgen", "render the CustomResourceDefinition YAML"),
    "compress": ("modeldeploy.compress.job", "compress an ONNX model and gate it (the Job)"),
    "fetch": ("modeldeploy.compress.fetch", "copy a model into a serving pod (init container)"),
    "operator": ("modeldeploy.controller.main", "run the operator (kopf)"),
    "serve": ("modeldeploy.serve.server", "serve one ONNX model over KServe v1 and OIP v2 HTTP"),
    "sandbox": ("modeldeploy.sandbox.cli", "run a local Kubernetes cluster in a directory"),
    "demo": ("modeldeploy.demo", "a local cluster, the operator and a model rolled out in it"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description="Compress, verify, canary and roll back ONNX model deployments on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"modeldeploy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not args or args[0] not in COMMANDS:
        parser.parse_args(args)  # prints usage or the error and exits
        return 2
    module_name, _ = COMMANDS[args[0]]
    command_main = importlib.import_module(module_name).main
    result: int = command_main(args[1:])
    return result
