"""Field errors worded as kube-apiserver words them (`k8s.io/apimachinery/.../field/errors.go`).

A `Cause` is one `details.causes` entry of a 422 `Invalid` Status: `message` is the error
body without the field path (`Required value`, `Invalid value: 1.5: ...`), as the real
server puts it there; `str(cause)` is the `field: message` line that goes into the
Status message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from modeldeploy.sandbox.apiserver.crd.go_json import go_json

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
FORBIDDEN = "FieldValueForbidden"
DUPLICATE = "FieldValueDuplicate"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"

# The path kube-apiserver prints for an error that belongs to no field.
NO_FIELD = "<nil>"
# A bad value that is not shown (`field.OmitValueType{}`): `Invalid value: <detail>`.
OMIT_VALUE: Any = object()


@dataclass(frozen=True)
class Cause:
    """One invalid field: its path, the error body and the machine-readable reason."""

    field: str
    message: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def go_float(number: float) -> str:
    """A float as Go's `%v` prints it: `2`, `0.5`, `123456`, `1e+06`, `1.5e-05`."""
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr is the shortest text that reads back as the same float, like Go's.
    decimal = Decimal(repr(abs(float(number)))).normalize()
    digits = "".join(str(d) for d in decimal.as_tuple().digits)
    exponent = decimal.adjusted()
    if exponent < -4 or exponent >= 6:  # strconv.FormatFloat(f, 'g', -1, 64)
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return sign + digits + "0" * (exponent + 1 - len(digits))
    return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def go_value(value: Any) -> str:
    """A bad value as `field.Error.ErrorBody` prints it: a float `%v`, a string `%q`, and
    anything else as JSON (which is also how `%v` prints a bool or an int)."""
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Go's `%q` (`strconv.Quote`): printable characters kept, others escaped."""
    return '"' + "".join(_go_quote_char(char) for char in text) + '"'


def _go_quote_char(char: str) -> str:
    if char in _GO_ESCAPES:
        return _GO_ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _with_value(kind: str, value: Any) -> str:
    return kind if value is OMIT_VALUE else f"{kind}: {go_value(value)}"


def required(field: str, detail: str = "") -> Cause:
    return Cause(_field(field), _with_detail("Required value", detail), REQUIRED)


def forbidden(field: str, detail: str) -> Cause:
    return Cause(_field(field), _with_detail("Forbidden", detail), FORBIDDEN)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(_field(field), _with_detail(_with_value("Invalid value", value), detail), INVALID)


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(
        _field(field), _with_detail(f"Invalid value: {go_value(value)}", detail), TYPE_INVALID
    )


def not_supported(field: str, value: Any, supported: Iterable[str]) -> Cause:
    quoted = ", ".join(go_quote(v) for v in supported)
    detail = f"supported values: {quoted}" if quoted else ""
    body = _with_detail(f"Unsupported value: {go_value(value)}", detail)
    return Cause(_field(field), body, NOT_SUPPORTED)


def duplicate(field: str, value: Any) -> Cause:
    return Cause(_field(field), _with_value("Duplicate value", value), DUPLICATE)


def too_long(field: str, max_length: int) -> Cause:
    unit = "byte" if max_length == 1 else "bytes"
    return Cause(_field(field), f"Too long: may not be more than {max_length} {unit}", TOO_LONG)


def too_many(field: str, actual: int, maximum: int) -> Cause:
    unit = "item" if maximum == 1 else "items"
    return Cause(_field(field), f"Too many: {actual}: must have at most {maximum} {unit}", TOO_MANY)


def _field(path: str) -> str:
    """An error at the resource root has no path; kube-apiserver prints a nil path as <nil>."""
    return path or NO_FIELD


def _with_detail(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body
