"""The CRD in crds/ is generated, structural, and carries what kubectl users see."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.api.v1alpha1 import Rollout, crdgen
from tests.api.conftest import REPO

# The only places where free-form objects are wanted.
FREE_FORM = {"spec.serving.podOverrides", "status.conditions"}


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("relative", list(crdgen.generated_files()), ids=str)
def test_generated_files_are_fresh(relative: Path) -> None:
    assert (REPO / relative).read_text() == crdgen.generated_files()[relative], "run `make crds`"


def test_check_fails_on_a_stale_copy_naming_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for relative in crdgen.generated_files():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 0
    stale = tmp_path / crdgen.CRD_OUTPUTS[1]
    stale.write_text(stale.read_text().replace("maxLength: 63", "maxLength: 64", 1))
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1
    message = capsys.readouterr().err
    assert f"{crdgen.CRD_OUTPUTS[1]} is stale" in message
    assert "make crds" in message
    assert crdgen.main(["--root", str(tmp_path)]) == 0
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 0


def test_schema_is_structural(open_api_schema: dict[str, Any]) -> None:
    for path, node in _nodes(open_api_schema):
        assert not {"$ref", "title", "anyOf"} & set(node), path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert node.get("additionalProperties") is not False, path
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):  # OpenAPI v3.0: booleans
            assert node.get(bound, True) is True, path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path in FREE_FORM, path


def test_names_columns_and_subresources(crd: dict[str, Any]) -> None:
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == (
        "ModelDeployment",
        "modeldeployments",
        ["mdep"],
    )
    assert set(names["categories"]) == {"all", "ml"}
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Version", "Stable", "Canary", "Weight", "Phase", "Age"]


def test_cross_field_rules_are_cel_rules(open_api_schema: dict[str, Any]) -> None:
    rules = {
        rule["rule"]
        for _, node in _nodes(open_api_schema)
        for rule in node.get("x-kubernetes-validations", [])
    }
    assert any("isSorted()" in r for r in rules)
    assert any("calibrationUri" in r and "static" in r for r in rules)
    assert any("has(self.student)" in r for r in rules)


def test_defaults_match_the_models(open_api_schema: dict[str, Any]) -> None:
    rollout = open_api_schema["properties"]["spec"]["properties"]["rollout"]
    # Fully defaulted, so the object's own CEL rules hold on the default as written.
    assert rollout["default"] == Rollout().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert rollout["default"]["analysis"]["provider"] == "direct"
    assert rollout["properties"]["steps"]["default"] == [
        {"weight": 10, "pause": "60s"},
        {"weight": 50, "pause": "120s"},
    ]
    assert rollout["properties"]["keepRevisions"]["default"] == 3
