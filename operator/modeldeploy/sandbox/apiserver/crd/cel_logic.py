"""Which error a rule that fails to evaluate reports: cel-go's, through top-level `||` and `&&`.

cel-go evaluates both operands of a logical operator and, when neither decides it (`true` for
`||`, `false` for `&&`), reports the error of the leftmost operand that failed; the evaluator
used here reports the rightmost. `self.provider == 'x' || self.metrics.all(...)` on `{}` is
`no such key: provider` in kube-apiserver. So when a rule raises, its top-level `||` / `&&`
terms (not those inside parentheses, calls or a `?:`) are evaluated one by one and combined
as cel-go does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cel

from modeldeploy.sandbox.apiserver.crd.cel_fields import blank_strings

_OPEN = "([{"
_CLOSE = ")]}"


class _UnsplittableError(Exception):
    """A term that does not compile on its own: keep the evaluator's error."""


def execute(program: Any, expression: str, context: Any) -> Any:
    """The value of `program` (compiled from `expression`); raises the error cel-go reports."""
    try:
        return program.execute(context)
    except Exception as error:  # any evaluation failure: find the one cel-go would report
        try:
            outcome = _outcome(expression, context)
        except _UnsplittableError:
            raise error from None
        raise (outcome if isinstance(outcome, Exception) else error) from None


def _outcome(expression: str, context: Any) -> Any:
    """The value of `expression`, or the exception cel-go's order of evaluation reports."""
    text = _without_outer_parentheses(expression)
    for operator, decisive in (("||", True), ("&&", False)):
        terms = _top_level_terms(text, operator)
        if len(terms) > 1:
            return _combine([_outcome(term, context) for term in terms], decisive)
    try:
        program = _compiled(text)
    except ValueError as error:
        raise _UnsplittableError(text) from error
    try:
        return program.execute(context)
    except Exception as error:  # the term's own failure is its outcome
        return error


def _combine(outcomes: list[Any], decisive: bool) -> Any:
    if any(outcome is decisive for outcome in outcomes):
        return decisive
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            return outcome
        if not isinstance(outcome, bool):
            return TypeError("no such overload")
    return not decisive


@cache
def _compiled(text: str) -> Any:
    return cel.compile(text)


def _top_level_terms(text: str, operator: str) -> list[str]:
    """`text` split at `operator` outside brackets and strings; whole when it has a `?:`."""
    blanked = blank_strings(text)
    depth = 0
    cuts: list[int] = []
    position = 0
    while position < len(blanked):
        char = blanked[position]
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif depth == 0 and char == "?":
            return [text]
        elif depth == 0 and blanked.startswith(operator, position):
            cuts.append(position)
            position += len(operator)
            continue
        position += 1
    starts = [0] + [cut + len(operator) for cut in cuts]
    ends = [*cuts, len(text)]
    return [text[start:end].strip() for start, end in zip(starts, ends, strict=True)]


def _without_outer_parentheses(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and _closing(blank_strings(text)) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(blanked: str) -> int:
    """The position of the bracket that closes the one `blanked` starts with."""
    depth = 0
    for position, char in enumerate(blanked):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth == 0:
                return position
    return -1
