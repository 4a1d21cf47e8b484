"""EventBridge content filtering, as far as a local event router needs it.

Supported: exact values (any of a list; a list-valued event field matches if any element does),
``null``, nested objects, ``prefix`` / ``suffix`` (plain or ``equals-ignore-case``),
``equals-ignore-case``, ``anything-but`` (value, list, ``prefix`` or ``suffix``), ``exists`` and
``numeric`` ranges. Not supported: ``cidr``, ``wildcard``, ``$or``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["event_pattern_matches"]

_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}


def event_pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when `event` (an EventBridge envelope or any JSON object) matches `pattern`."""
    for key, expected in pattern.items():
        actual = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if actual is _MISSING:
                actual = {}
            if not isinstance(actual, Mapping) or not event_pattern_matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _field_matches(expected, actual):
                return False
        else:
            raise ValueError(f"invalid event pattern at {key!r}: leaf values must be lists, got {expected!r}")
    return True


def _field_matches(rules: list[Any], actual: Any) -> bool:
    if actual is _MISSING:
        return any(isinstance(r, Mapping) and r.get("exists") is False for r in rules)
    values = actual if isinstance(actual, list) else [actual]
    return any(_rule_matches(rule, value) for rule in rules for value in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _rule_matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _same(rule, value)
    if len(rule) != 1:
        raise ValueError(f"invalid content filter {rule!r}: exactly one operator expected")
    ((op, arg),) = rule.items()
    match op:
        case "exists":
            return bool(arg)  # the field is present (missing fields are handled by the caller)
        case "prefix" | "suffix":
            return _affix_matches(op, arg, value)
        case "equals-ignore-case":
            return isinstance(value, str) and value.casefold() == str(arg).casefold()
        case "anything-but":
            if isinstance(arg, Mapping):
                ((inner_op, inner_arg),) = arg.items()
                return not _affix_matches(inner_op, inner_arg, value)
            excluded = arg if isinstance(arg, list) else [arg]
            return not any(_same(e, value) for e in excluded)
        case "numeric":
            if not _is_number(value):
                return False
            pairs = zip(arg[0::2], arg[1::2], strict=True)
            return all(_NUMERIC_OPS[cmp](float(value), float(bound)) for cmp, bound in pairs)
        case _:
            raise ValueError(f"unsupported content filter {op!r}")


def _affix_matches(op: str, arg: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(arg, Mapping):  # {"prefix": {"equals-ignore-case": "..."}}
        arg, value = str(arg["equals-ignore-case"]).casefold(), value.casefold()
    if op == "prefix":
        return value.startswith(arg)
    if op == "suffix":
        return value.endswith(arg)
    raise ValueError(f"unsupported content filter {op!r}")
