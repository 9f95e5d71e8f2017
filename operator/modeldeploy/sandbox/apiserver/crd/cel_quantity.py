"""The Kubernetes CEL quantity library: `quantity('1Gi')`, `isQuantity`, comparisons, arithmetic.

The evaluator cannot hold foreign objects, so a quantity is a one-key map holding its exact
value as a reduced fraction; equal quantities are then equal maps (`quantity('1Gi') ==
quantity('1024Mi')`), as the library's `==` compares values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from modeldeploy.sandbox.apiserver.crd.cel_library import CelFunctionError

QUANTITY_KEY = "__quantity__"
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(.*)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_EXPONENT = re.compile(r"[eE]([+-]?\d+)")
INT64 = 2**63


def parse_quantity(text: str) -> Fraction | None:
    """A Kubernetes resource quantity's exact value (`resource.ParseQuantity`); None if invalid."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    sign, number, suffix = match.groups()
    value = Fraction(number)
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
    elif (exponent := _EXPONENT.fullmatch(suffix)) is not None:
        value *= Fraction(10) ** int(exponent.group(1))
    else:
        return None
    return -value if sign == "-" else value


def _quantity_value(value: Fraction) -> dict[str, str]:
    return {QUANTITY_KEY: str(value)}


def _value_of(quantity: Any) -> Fraction:
    if isinstance(quantity, dict) and isinstance(quantity.get(QUANTITY_KEY), str):
        return Fraction(quantity[QUANTITY_KEY])
    if isinstance(quantity, int) and not isinstance(quantity, bool):
        return Fraction(quantity)
    raise CelFunctionError("no such overload")


def _quantity(text: Any) -> dict[str, str]:
    value = parse_quantity(text) if isinstance(text, str) else None
    if value is None:
        raise CelFunctionError(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    return _quantity_value(value)


def _as_integer(quantity: Any) -> int:
    value = _value_of(quantity)
    if value.denominator != 1 or not -INT64 <= value < INT64:
        raise CelFunctionError("cannot convert value to integer")
    return int(value)


def _compare(left: Any, right: Any) -> int:
    difference = _value_of(left) - _value_of(right)
    return (difference > 0) - (difference < 0)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quantity": _quantity,
    "isQuantity": lambda text: isinstance(text, str) and parse_quantity(text) is not None,
    "isInteger": lambda quantity: _value_of(quantity).denominator == 1,
    "asInteger": _as_integer,
    "asApproximateFloat": lambda quantity: float(_value_of(quantity)),
    "sign": lambda quantity: _compare(quantity, 0),
    "add": lambda left, right: _quantity_value(_value_of(left) + _value_of(right)),
    "sub": lambda left, right: _quantity_value(_value_of(left) - _value_of(right)),
    "isLessThan": lambda left, right: _compare(left, right) < 0,
    "isGreaterThan": lambda left, right: _compare(left, right) > 0,
    "compareTo": _compare,
}
