"""STH-Comet's aggregated view (``aggrMethod`` / ``aggrPeriod``), computed from raw points.

STH-Comet updates aggregation buckets as notifications arrive. Its rules, reproduced here:

- a number 0, ``""``, objects, arrays, booleans and ``null`` are stored raw only, never aggregated;
- numeric strings (``"41.0"``) are aggregated as numbers;
- other strings (``"null"``, ``"abc"``) count in ``samples`` and in an ``occur`` map of the same
  bucket, while ``min``/``max``/``sum``/``sum2`` only see the numeric values;
- one document per origin (minute -> hour start, hour -> day start, day -> month start), empty
  buckets dropped, only the requested methods shown;
- only the configured resolutions (day, hour, minute) are computed: month and second are empty.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fiware_sandbox.wire import EPOCH, iso_ms, to_epoch_ms

AGGREGATION_METHODS = ("min", "max", "sum", "sum2", "occur")
RESOLUTIONS = ("month", "day", "hour", "minute", "second")
COMPUTED_RESOLUTIONS = ("day", "hour", "minute")
_FIELDS = (*RESOLUTIONS, "microsecond")
_FIELD_MINIMUM = {"month": 1, "day": 1}

_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_OCTAL = re.compile(r"^0[oO][0-7]+$")
_BINARY = re.compile(r"^0[bB][01]+$")


def js_string_to_number(text: str) -> float | None:
    """JavaScript ``Number(text)`` for a non-blank string, or None where it gives NaN."""
    stripped = text.strip()
    if _DECIMAL.match(stripped):
        return float(stripped)
    if _HEX.match(stripped):
        return float(int(stripped[2:], 16))
    if _OCTAL.match(stripped):
        return float(int(stripped[2:], 8))
    if _BINARY.match(stripped):
        return float(int(stripped[2:], 2))
    if stripped in ("Infinity", "+Infinity"):
        return math.inf
    if stripped == "-Infinity":
        return -math.inf
    return None


def classify(value: Any) -> tuple[str, float | str | None]:
    """``("number", x)``, ``("text", s)`` or ``("none", None)`` for a notified value."""
    if isinstance(value, bool) or value is None:
        return "none", None
    if isinstance(value, int | float):
        return ("number", float(value)) if value != 0 else ("none", None)
    if isinstance(value, str):
        if not value.strip():
            return "none", None
        number = js_string_to_number(value)
        return ("number", number) if number is not None else ("text", value)
    return "none", None


def bucket_of(epoch_ms: int, resolution: str) -> tuple[int, int]:
    """(origin epoch ms, offset) of the bucket that holds ``epoch_ms``: a minute bucket is the
    minute within its hour, a month bucket the month (from 0) within its year."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    finer = _FIELDS[_FIELDS.index(resolution) :]
    start: dict[str, Any] = {field: _FIELD_MINIMUM.get(field, 0) for field in finer}
    origin = moment.replace(**start)
    return to_epoch_ms(origin), getattr(moment, resolution) - (resolution == "month")


def bucket_start(origin_ms: int, offset: int, resolution: str) -> int:
    origin = EPOCH + timedelta(milliseconds=origin_ms)
    field: dict[str, Any] = {resolution: offset + (resolution == "month")}
    return to_epoch_ms(origin.replace(**field))


@dataclass
class _Bucket:
    samples: int = 0
    numbers: list[tuple[int, float]] = field(default_factory=list)
    texts: list[tuple[int, str]] = field(default_factory=list)


def expand_methods(spec: str) -> tuple[str, ...]:
    wanted = set(spec.split(","))
    if "all" in wanted:
        return AGGREGATION_METHODS
    return tuple(method for method in AGGREGATION_METHODS if method in wanted)


def aggregate(
    points: Iterable[tuple[int, int, Any]],
    resolution: str,
    methods: tuple[str, ...],
    date_from_ms: int | None = None,
    date_to_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Aggregated documents for ``(recv_ms, arrival sequence, value)`` points of one attribute.

    The caller adds the ``attrName`` to each ``_id``; see :func:`render_documents`.
    """
    if resolution not in COMPUTED_RESOLUTIONS:
        return []
    from_start = (
        bucket_start(*bucket_of(date_from_ms, resolution), resolution)
        if (date_from_ms is not None)
        else None
    )
    buckets: dict[tuple[int, int], _Bucket] = {}
    for recv_ms, sequence, value in points:
        kind, parsed = classify(value)
        if kind == "none":
            continue
        origin, offset = bucket_of(recv_ms, resolution)
        start = bucket_start(origin, offset, resolution)
        if from_start is not None and start < from_start:
            continue
        if date_to_ms is not None and start > date_to_ms:
            continue
        bucket = buckets.setdefault((origin, offset), _Bucket())
        bucket.samples += 1
        if kind == "number":
            assert isinstance(parsed, float)
            bucket.numbers.append((sequence, parsed))
        else:
            assert isinstance(parsed, str)
            bucket.texts.append((sequence, parsed))
    documents: dict[int, list[dict[str, Any]]] = {}
    for (origin, offset), bucket in sorted(buckets.items()):
        point: dict[str, Any] = {"offset": offset, "samples": bucket.samples}
        numbers = [number for _, number in sorted(bucket.numbers)]
        if numbers:
            total = 0.0
            total2 = 0.0
            for number in numbers:
                total += number
                total2 += number * number
            stats = {"min": min(numbers), "max": max(numbers), "sum": total, "sum2": total2}
            for method in ("min", "max", "sum", "sum2"):
                if method in methods:
                    point[method] = stats[method]
        if bucket.texts and "occur" in methods:
            occur: dict[str, int] = {}
            for _, text in sorted(bucket.texts):
                occur[text] = occur.get(text, 0) + 1
            point["occur"] = occur
        documents.setdefault(origin, []).append(point)
    return [
        {"_id": {"origin": iso_ms(origin), "resolution": resolution}, "points": points_}
        for origin, points_ in sorted(documents.items())
    ]


def render_documents(documents: list[dict[str, Any]], attribute: str) -> list[dict[str, Any]]:
    """Put ``attrName`` first in each ``_id``, as STH-Comet's collection keys are ordered."""
    rendered = []
    for document in documents:
        key = document["_id"]
        rendered.append(
            {
                "_id": {
                    "attrName": attribute,
                    "origin": key["origin"],
                    "resolution": key["resolution"],
                },
                "points": document["points"],
            }
        )
    return rendered
