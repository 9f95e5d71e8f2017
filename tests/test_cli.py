"""The one `modeldeploy` command, as installed and as `python -m modeldeploy`."""

from __future__ import annotations

import subprocess
import sys

import yaml

from modeldeploy import __version__


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeldeploy", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"modeldeploy {__version__}"


def test_crds_subcommand_prints_the_crd() -> None:
    result = _run("crds", "--stdout")
    assert result.returncode == 0, result.stderr
    crd = yaml.safe_load(result.stdout)
    assert crd["metadata"]["name"] == "modeldeployments.modeldeploy.dev"


def test_unknown_subcommand_is_an_error_naming_it() -> None:
    result = _run("deploy")
    assert result.returncode == 2
    assert "invalid choice: 'deploy'" in result.stderr
