"""A decoded JSON value as Go's `json.Marshal` writes it, the way field errors show maps and lists.

Compact, object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, and numbers as Go
writes a float64: no exponent from 1e-6 up to 1e21 (`100`, `0.000001`), otherwise `1e+21`,
`1e-7`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: Any) -> str:
    """`json.Marshal(value)` of a value decoded from JSON (dict, list, str, number, bool, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        entries = (f"{_string(str(k))}:{go_json(v)}" for k, v in sorted(value.items()))
        return "{" + ",".join(entries) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    return _string(str(value))


def _string(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c if c >= " " else f"\\u{ord(c):04x}") for c in text) + '"'


def _number(number: float) -> str:
    if not math.isfinite(number):  # Go refuses these; a decoded JSON value never holds one
        return _string(str(number))
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, exponent = repr(number).split("e")  # the shortest digits, as Go's 'e' format
        return f"{mantissa}e{exponent[0]}{exponent[1:].lstrip('0') or '0'}"
    # repr holds the shortest digits that read back as the same float, like Go's.
    return format(Decimal(repr(number)).normalize(), "f")
