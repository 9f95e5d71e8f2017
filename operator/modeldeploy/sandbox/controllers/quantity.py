"""Kubernetes resource quantities ("500m", "2Gi", "1e3") as exact fractions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction

_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)

Resources = dict[str, Fraction]


class QuantityError(ValueError):
    """A resource quantity that Kubernetes would not accept."""


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; raises QuantityError naming the bad text."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression, got {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise QuantityError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}"
        )
    number = Fraction(match["number"])
    if match["exponent"]:
        return number * Fraction(10) ** int(match["exponent"][1:])
    return number * _SUFFIXES[match["suffix"] or ""]


def parse_resources(values: Mapping[str, str | int | float] | None) -> Resources:
    """A resource list (`requests`, `allocatable`, ...) as exact values."""
    return {name: parse_quantity(amount) for name, amount in (values or {}).items()}


def add_resources(total: Resources, extra: Mapping[str, Fraction]) -> None:
    for name, amount in extra.items():
        total[name] = total.get(name, Fraction(0)) + amount


def max_resources(first: Resources, second: Mapping[str, Fraction]) -> Resources:
    merged = dict(first)
    for name, amount in second.items():
        merged[name] = max(merged.get(name, Fraction(0)), amount)
    return merged


def format_quantity(value: Fraction, name: str = "") -> str:
    """A compact rendering: cpu in millicores, bytes in binary units, else a plain number."""
    if name == "cpu" and value.denominator != 1:
        return f"{int(value * 1000)}m"
    if name in ("memory", "ephemeral-storage") and value.denominator == 1:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            unit = _SUFFIXES[suffix]
            if value >= unit and value % unit == 0:
                return f"{value // unit}{suffix}"
    if value.denominator == 1:
        return str(value.numerator)
    return f"{int(value * 1000)}m"
