"""Reading seed data for the sandbox's STH-Comet from CSV files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from chronos_core.errors import InvalidInput


def read_series_csv(
    path: str | Path, timestamp_column: str = "timestamp", value_column: str = "value"
) -> list[tuple[datetime, Any]]:
    """(UTC datetime, value) pairs from a CSV file, in file order.

    Timestamps are parsed as ISO-8601 (naive ones are UTC). A numeric column gives floats; any
    other column keeps its strings verbatim, as STH-Comet would store them. Empty cells are skipped.
    """
    import pandas as pd

    csv_path = Path(path)
    if not csv_path.is_file():
        raise InvalidInput(f"seed file {str(csv_path)!r} does not exist")
    frame = pd.read_csv(csv_path, dtype={value_column: object}, keep_default_na=False)
    missing = [c for c in (timestamp_column, value_column) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"seed file {str(csv_path)!r} has no column {missing[0]!r} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    try:
        stamps = pd.to_datetime(frame[timestamp_column], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"seed file {str(csv_path)!r}: column {timestamp_column!r} holds a value that is "
            f"not an ISO-8601 timestamp ({exc})"
        ) from None
    raw = frame[value_column].astype(str).str.strip()
    numeric = pd.to_numeric(raw.where(raw != ""), errors="coerce")
    all_numeric = bool(numeric[raw != ""].notna().all())
    pairs: list[tuple[datetime, Any]] = []
    for stamp, text, number in zip(stamps, raw, numeric, strict=True):
        if text == "":
            continue
        pairs.append((stamp.to_pydatetime(), float(number) if all_numeric else text))
    return pairs
