"""The subset of Orion's Simple Query Language (``q=``) and ``orderBy`` the sandbox supports.

``q`` statements are joined by ``;`` (AND): ``attr``, ``!attr``, ``attr==v``, ``attr!=v``,
``attr>v``, ``attr>=v``, ``attr<v``, ``attr<=v``, ``attr~=regex``; ``==``/``!=`` accept a
comma list (``a,b``) or a range (``1..5``). Values are numbers, ``'quoted strings'``, plain strings,
``true``/``false``/``null`` or ISO-8601 dates (for DateTime attributes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fiware_sandbox.wire import encode_json, parse_date_ms

_OPERATORS = ("==", "!=", ">=", "<=", "~=", ">", "<", ":")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

# An attribute as the query sees it: (NGSI type, value).
AttributeView = tuple[str, Any]
Predicate = Callable[[Mapping[str, AttributeView]], bool]


class QueryError(ValueError):
    """The ``q`` expression cannot be parsed."""


def _split_statements(text: str) -> list[str]:
    statements: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == ";" and not quoted:
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _literal(token: str) -> Any:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1]
    if _NUMBER.match(token):
        return float(token)
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    return token


def _comparable(attribute: AttributeView, literal: Any) -> tuple[Any, Any] | None:
    """Both sides in a comparable form, or None when they cannot be compared."""
    attr_type, value = attribute
    if attr_type == "DateTime" and isinstance(value, str):
        left_ms = parse_date_ms(value)
        right_ms = parse_date_ms(literal) if isinstance(literal, str) else None
        if left_ms is None or right_ms is None:
            return None
        return left_ms, right_ms
    if isinstance(value, bool) or isinstance(literal, bool):
        return (value, literal) if isinstance(value, bool) and isinstance(literal, bool) else None
    if isinstance(value, int | float) and isinstance(literal, float):
        return float(value), literal
    if isinstance(value, str):
        right = literal if isinstance(literal, str) else encode_json(literal)
        return value, right
    return None


def _statement(text: str) -> Predicate:
    if text.startswith("!"):
        name = text[1:].strip()
        return lambda attrs: name not in attrs
    for operator in _OPERATORS:
        index = text.find(operator)
        if index > 0:
            name = text[:index].strip()
            raw = text[index + len(operator) :].strip()
            if not name or raw == "":
                raise QueryError(f"empty side in q statement {text!r}")
            return _comparison(name, "==" if operator == ":" else operator, raw)
    name = text.strip()
    if not re.fullmatch(r"[\w.\-]+", name):
        raise QueryError(f"invalid q statement {text!r}")
    return lambda attrs: name in attrs


def _comparison(name: str, operator: str, raw: str) -> Predicate:
    if operator == "~=":
        try:
            pattern = re.compile(raw)
        except re.error as exc:
            raise QueryError(f"invalid pattern in q: {exc}") from None

        def matches(attrs: Mapping[str, AttributeView]) -> bool:
            attribute = attrs.get(name)
            return (
                attribute is not None
                and isinstance(attribute[1], str)
                and bool(pattern.search(attribute[1]))
            )

        return matches

    if operator in ("==", "!=") and ".." in raw and "'" not in raw:
        low_text, high_text = raw.split("..", 1)
        low, high = _literal(low_text), _literal(high_text)

        def in_range(attrs: Mapping[str, AttributeView]) -> bool:
            attribute = attrs.get(name)
            if attribute is None:
                return False
            a, b = _comparable(attribute, low), _comparable(attribute, high)
            inside = a is not None and b is not None and a[1] <= a[0] <= b[1]
            return inside if operator == "==" else not inside

        return in_range

    literals = (
        [_literal(t) for t in raw.split(",")] if operator in ("==", "!=") else [_literal(raw)]
    )

    def compare(attrs: Mapping[str, AttributeView]) -> bool:
        attribute = attrs.get(name)
        if attribute is None:
            return False
        results = []
        for literal in literals:
            pair = _comparable(attribute, literal)
            if pair is None:
                results.append(operator == "!=")
                continue
            left, right = pair
            if operator == "==":
                results.append(left == right)
            elif operator == "!=":
                results.append(left != right)
            elif operator == ">":
                results.append(left > right)
            elif operator == ">=":
                results.append(left >= right)
            elif operator == "<":
                results.append(left < right)
            else:
                results.append(left <= right)
        return all(results) if operator == "!=" else any(results)

    return compare


def parse_q(text: str) -> Predicate:
    """A predicate over ``{attribute name: (type, value)}`` for an Orion ``q`` expression."""
    statements = [_statement(s) for s in _split_statements(text)]
    if not statements:
        raise QueryError("empty q")
    return lambda attrs: all(statement(attrs) for statement in statements)


def sort_key(value: Any) -> tuple[int, Any]:
    """MongoDB-like ordering: missing < numbers < strings < everything else."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    return (3, encode_json(value))
