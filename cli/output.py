"""What the CLI prints: rich tables for people, JSON (``--json``) for scripts.

JSON documents use the stored field names; datetimes are ISO-8601 in UTC (``...Z``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from chronos_core.clock import as_utc

#: Width used when stdout is not a terminal, so ids are never cut in pipes and files.
PIPE_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A console on the *current* stdout/stderr (so test runners capture it)."""
    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty():
        width = max(PIPE_WIDTH, int(os.environ.get("COLUMNS", "0") or 0))
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


def _iso(value: datetime) -> str:
    text = as_utc(value).astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Entities, enums and datetimes (recursively) as plain JSON values."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")


def text(value: Any) -> str:
    """A cell: datetimes shortened to seconds, ``None`` as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(text(item) for item in value)
    return str(value)


def print_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str] | Mapping[str, str],
    *,
    title: str | None = None,
    empty: str = "Nothing to show.",
) -> None:
    """``columns``: the keys to show, or ``{key: header}``."""
    headers = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
    rows = list(rows)
    out = console()
    if not rows:
        out.print(empty)
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for header in headers.values():
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(text(row.get(key)) for key in headers))
    out.print(table)


def print_fields(fields: Mapping[str, Any], *, title: str | None = None) -> None:
    """A two-column ``field | value`` table."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in fields.items():
        table.add_row(key, text(value))
    console().print(table)


def print_created(kind: str, identifier: str, *, as_json: bool, **extra: Any) -> None:
    """Every command that creates something prints its id (alone on a line, or as JSON)."""
    if as_json:
        print_json({"id": identifier, **extra})
    else:
        console().print(f"Created {kind} {identifier}")


def print_result(result: Any, *, title: str | None = None) -> None:
    """A flow's result: scalar fields (and lists of scalars) as a two-column table, nested
    objects and lists of objects as tables of their own."""
    data = jsonable(result)
    if not isinstance(data, dict):
        console().print(text(data))
        return

    def is_table(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)

    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not is_table(v)}
    if scalars:
        print_fields(scalars, title=title)
    for key, value in data.items():
        if isinstance(value, dict):
            print_result(value, title=key)
        elif is_table(value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            print_table(value, columns, title=key)
