"""Bad values printed as kube-apiserver (Go's fmt) prints them in field errors."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.apiserver.crd.causes import go_float, go_quote, go_value


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (2.0, "2"),
        (0.5, "0.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-3.25, "-3.25"),
        (float("inf"), "+Inf"),
    ],
)
def test_floats_as_go_prints_them(number: float, text: str) -> None:
    assert go_float(number) == text


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("tab\tbell\a", '"tab\\tbell\\a"'),
        ("\x01\x7f", '"\\x01\\x7f"'),
        ("héllo ☃", '"héllo ☃"'),
        ("\u200b", '"\\u200b"'),
    ],
)
def test_strings_as_go_quotes_them(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, '"null"'),
        (True, "true"),
        (7, "7"),
        (1.5, "1.5"),
        ("x", '"x"'),
        ({"name": "a", "port": 80}, 'map[string]interface {}{"name":"a", "port":80}'),
        (["a", None], '[]interface {}{"a", interface {}(nil)}'),
    ],
)
def test_values_as_field_errors_show_them(value: Any, shown: str) -> None:
    assert go_value(value) == shown
