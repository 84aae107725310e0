"""What the CLI prints and the arguments every command shares.

Tables for people, JSON (``--json``) for scripts: JSON documents use the stored field names,
datetimes are ISO-8601 in UTC (``...Z``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

from chronos_core.clock import as_utc

#: Width used when stdout is not a terminal, so ids are never cut in pipes and files.
PIPE_WIDTH = 200


def id_parameter(metavar: str, help: str, option: str | None = None) -> Any:
    """An argument (or ``option``) taking a model's or training job's id, checked by typer."""
    what = {"MODEL_ID": "model id", "JOB_ID": "training job id"}[metavar]

    def parse(value: str) -> str:
        from chronos_core.domain.identifiers import parse_id
        from chronos_core.errors import InvalidInput

        try:
            return parse_id(value, what)
        except InvalidInput as error:
            raise typer.BadParameter(str(error)) from None

    if option is None:
        return typer.Argument(metavar=metavar, parser=parse, help=help)
    return typer.Option(option, metavar=metavar, parser=parse, help=help)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines as the flow runs.")
]
ModelIdArgument = Annotated[str, id_parameter("MODEL_ID", "The model's id.")]
JobIdArgument = Annotated[str, id_parameter("JOB_ID", "The training job's id.")]


def console(*, stderr: bool = False) -> Console:
    """A console on the *current* stdout/stderr (so test runners capture it)."""
    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty():
        width = max(PIPE_WIDTH, int(os.environ.get("COLUMNS", "0") or 0))
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


def print_json(value: Any) -> None:
    data = to_jsonable_python(value, serialize_unknown=True)
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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


#: A column of :func:`print_table`: a key (of a mapping) or attribute name, or a function.
Column = str | Callable[[Any], Any]


def _cell(item: Any, column: Column) -> Any:
    if callable(column):
        return column(item)
    return item.get(column) if isinstance(item, Mapping) else getattr(item, column, None)


def print_table(
    items: Iterable[Any],
    columns: Sequence[str] | Mapping[str, Column],
    *,
    title: str | None = None,
    empty: str = "Nothing to show.",
) -> None:
    """One row per item; ``columns``: ``{header: column}``, or keys shown under their name."""
    headers = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
    items = list(items)
    if not items:
        console().print(empty)
        return
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for item in items:
        table.add_row(*(text(_cell(item, column)) for column in headers.values()))
    console().print(table)


def print_fields(fields: Mapping[str, Any], *, title: str | None = None) -> None:
    """A two-column ``field | value`` table."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in fields.items():
        table.add_row(key, text(value))
    console().print(table)


def print_result(result: Any, *, as_json: bool = False, title: str | None = None) -> None:
    """A flow's result as JSON, or: scalar fields (and lists of scalars) as a two-column table,
    nested objects and lists of objects as tables of their own."""
    if as_json:
        print_json(result)
        return
    data = to_jsonable_python(result, serialize_unknown=True)
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
            print_table(value, list(dict.fromkeys(k for row in value for k in row)), title=key)
