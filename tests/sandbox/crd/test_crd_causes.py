"""Bad values printed as kube-apiserver prints them in field errors (Go's fmt, or JSON)."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.apiserver.crd import causes
from modeldeploy.sandbox.apiserver.crd.causes import go_float, go_quote, go_value
from modeldeploy.sandbox.apiserver.crd.go_json import go_json


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
        (None, "null"),
        (True, "true"),
        (7, "7"),
        (1.5, "1.5"),
        ("x", '"x"'),
        ({"port": 80, "name": "a"}, '{"name":"a","port":80}'),
        (["a", None, 2.0], '["a",null,2]'),
    ],
)
def test_values_as_field_errors_show_them(value: Any, shown: str) -> None:
    assert go_value(value) == shown


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": [1e21, 1e-7, 1e20, 0.000001]}, '{"b":[1e+21,1e-7,100000000000000000000,0.000001]}'),
        ([-0.0, 1.5e-10, 2.5e300], "[-0,1.5e-10,2.5e+300]"),
        ('a<b>&"\n\x01\u2028é', '"a\\u003cb\\u003e\\u0026\\"\\n\\u0001\\u2028é"'),
        ({"é": 1, "z": 2, "a": 3}, '{"a":3,"z":2,"é":1}'),
    ],
)
def test_composite_values_as_go_json_marshals_them(value: Any, text: str) -> None:
    assert go_json(value) == text


def test_an_omitted_value_is_not_shown() -> None:
    assert causes.invalid("spec", causes.OMIT_VALUE, "too few").message == "Invalid value: too few"
    assert causes.invalid("spec", "object", "too few").message == 'Invalid value: "object": too few'
    assert causes.invalid("", None, "x") == causes.Cause(
        "<nil>", "Invalid value: null: x", causes.INVALID
    )
    assert causes.duplicate("spec.a", causes.OMIT_VALUE).message == "Duplicate value"
