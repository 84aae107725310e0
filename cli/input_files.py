"""Reading JSON documents given on the command line (``--from-json FILE``, ``-`` for stdin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chronos_core.errors import InvalidInput


def read_json_object(source: str) -> dict[str, Any]:
    """The JSON object in file ``source`` (``-``: standard input)."""
    where = "standard input" if source == "-" else str(Path(source).expanduser())
    try:
        text = sys.stdin.read() if source == "-" else Path(where).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{where}: is a directory, expected a JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{where}: cannot read it ({error})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{where} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise InvalidInput(_too_deep(where)) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must hold a JSON object, got {type(value).__name__}")
    if _depth(value) > MAX_NESTING:
        raise InvalidInput(_too_deep(where))
    return value


#: No Chronos document nests deeper than a few levels; deeper input is refused up front.
MAX_NESTING = 32


def _too_deep(where: str) -> str:
    return f"{where} nests JSON arrays or objects deeper than {MAX_NESTING} levels"


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (counted without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
