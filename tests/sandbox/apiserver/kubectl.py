"""Running the real kubectl (v1.35, and v1.33 / v1.28 as `kubectl-1.33` / `kubectl-1.28`; all
installed by `make tools`) against a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.sandbox.conftest import SandboxApi

KUBECTL = Path(sys.prefix) / "tools" / "bin" / "kubectl"
# Older releases the tests also run where kubectl's behaviour changed between versions.
OLD_KUBECTL = KUBECTL.with_name("kubectl-1.33")
OLDEST_KUBECTL = KUBECTL.with_name("kubectl-1.28")
_TIMEOUT = 60


class Kubectl:
    def __init__(self, api: SandboxApi, binary: Path = KUBECTL) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(api.kubeconfig),
            # A discovery cache per sandbox: CRDs added later must show up.
            "KUBECACHEDIR": str(api.directory / "kubectl-cache"),
        }

    def _exec(self, args: tuple[str, ...], stdin: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=_TIMEOUT,
            check=False,
        )

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """stdout of a command that must succeed (unchecked: stdout and stderr)."""
        done = self._exec(args, stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout + (done.stderr if not check else "")

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """stderr of a command that must fail."""
        done = self._exec(args, stdin)
        assert done.returncode != 0, f"kubectl {' '.join(args)} succeeded: {done.stdout}"
        return done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
