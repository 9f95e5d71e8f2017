"""The Kubernetes CEL extension functions that CRD rules use, over the CEL standard library.

Lists (`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`), strings (`charAt`,
`indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`, `split`, `substring`,
`trim`, `join`, `reverse`) and regex (`find`, `findAll`), as in `k8s.io/apiserver/pkg/cel/library`
and cel-go's strings extension. The standard library (`size`, `has`, `matches`,
`startsWith`, `duration()`, macros...) comes from the evaluator itself.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from modeldeploy.sandbox.apiserver.crd.validation import compiled_pattern


class CelFunctionError(ValueError):
    """A library function was called on values it has no overload for."""


def _comparable(items: list[Any]) -> list[Any]:
    kinds = {_kind(item) for item in items}
    if len(kinds) > 1 or kinds & {"other"}:
        raise CelFunctionError("no such overload")
    return items


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str | bytes | timedelta | datetime):
        return type(value).__name__
    return "other"


def _is_sorted(items: list[Any]) -> bool:
    ordered = _comparable(list(items))
    return all(a <= b for a, b in itertools.pairwise(ordered))


def _sum(items: list[Any]) -> Any:
    if not items:
        return 0
    total = items[0]
    for item in _comparable(items)[1:]:
        total = total + item
    return total


def _extreme(pick: Callable[..., Any], name: str) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        values = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values:
            raise CelFunctionError(f"{name} called on empty list")
        return pick(_comparable(values))

    return extreme


def _index_of(target: Any, needle: Any, *start: int) -> int:
    if isinstance(target, str):
        return target.find(needle, *start)
    if isinstance(target, list):
        for position, item in enumerate(target):
            if item == needle and type(item) is type(needle):
                return position
        return -1
    raise CelFunctionError("no such overload")


def _last_index_of(target: Any, needle: Any, *end: int) -> int:
    if isinstance(target, str):
        if end:
            return target.rfind(needle, 0, end[0] + len(needle))
        return target.rfind(needle)
    if isinstance(target, list):
        for position in range(len(target) - 1, -1, -1):
            if target[position] == needle and type(target[position]) is type(needle):
                return position
        return -1
    raise CelFunctionError("no such overload")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise CelFunctionError("no such overload")
    return value


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _replace(text: Any, old: str, new: str, limit: int = -1) -> str:
    return _text(text).replace(old, new, limit)


def _split(text: Any, separator: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    value = _text(text)
    if separator == "":
        parts = list(value)
        return (
            parts
            if limit < 0 or limit >= len(parts)
            else [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        )
    return value.split(separator, limit - 1 if limit > 0 else -1)


def _substring(text: Any, start: int, end: int | None = None) -> str:
    value = _text(text)
    stop = len(value) if end is None else end
    if start < 0 or stop > len(value) or start > stop:
        raise CelFunctionError(
            f"index out of range: {start if start < 0 or start > len(value) else stop}"
        )
    return value[start:stop]


def _char_at(text: Any, position: int) -> str:
    value = _text(text)
    if position < 0 or position > len(value):
        raise CelFunctionError(f"index out of range: {position}")
    return value[position : position + 1]


def _join(items: Any, separator: str = "") -> str:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise CelFunctionError("no such overload")
    return separator.join(items)


def _regex(pattern: str) -> re.Pattern[str]:
    regex = compiled_pattern(pattern)
    if regex is None:
        raise CelFunctionError(f"invalid regular expression: {pattern}")
    return regex


def _find(text: Any, pattern: str) -> str:
    match = _regex(pattern).search(_text(text))
    return match.group(0) if match else ""


def _find_all(text: Any, pattern: str, limit: int = -1) -> list[str]:
    found = [match.group(0) for match in _regex(pattern).finditer(_text(text))]
    return found if limit < 0 else found[:limit]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _extreme(min, "min"),
    "max": _extreme(max, "max"),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "charAt": _char_at,
    "lowerAscii": lambda text: _text(text).translate(_ASCII_LOWER),
    "upperAscii": lambda text: _text(text).translate(_ASCII_UPPER),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda text: _text(text).strip(),
    "join": _join,
    "reverse": lambda text: _text(text)[::-1],
    "find": _find,
    "findAll": _find_all,
}
