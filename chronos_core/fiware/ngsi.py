"""NGSI v2 building blocks: the datetime wire format and typed attribute payloads.

Orion keeps an attribute's ``type`` and metadata verbatim, rejects ``< > " ' = ; ( )`` in ids and
string values, and renders DateTime values with milliseconds. These helpers build payloads that
Orion accepts and that STH-Comet can store::

    entity("Forecast:Room1", "TemperatureForecast",
           forecast=structured_attribute({...}, observed_at=issued_at),
           refRoom=relationship_attribute("Room1"))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chronos_core.domain.identifiers import check_ngsi_name
from chronos_core.errors import InvalidInput

ORION_FORBIDDEN_CHARS = frozenset("<>\"'=;()")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

NgsiAttribute = dict[str, Any]


def check_name(value: str, what: str) -> str:
    """:func:`check_ngsi_name`, refusing with :class:`InvalidInput`."""
    try:
        return check_ngsi_name(value, what)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def format_datetime(moment: datetime) -> str:
    """UTC with millisecond precision: ``2024-01-01T00:00:00.000Z`` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime(DATETIME_FORMAT) + f".{moment.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """An ISO-8601 timestamp (``Z``, offset or naive = UTC) as an aware UTC datetime."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check_value(value: Any, where: str) -> None:
    """Refuse what Orion would reject (forbidden characters) or JSON cannot carry (NaN)."""
    if isinstance(value, str):
        bad = sorted({c for c in value if c in ORION_FORBIDDEN_CHARS})
        if bad:
            raise InvalidInput(
                f"{where} contains characters Orion does not accept in values: "
                f"{' '.join(bad)} (none of < > \" ' = ; ( ) are allowed)"
            )
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InvalidInput(f"{where} is {value}, which JSON cannot carry")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, bool | int):
        raise InvalidInput(f"{where} has a value of type {type(value).__name__}, not JSON")


def dumps(payload: Any) -> str:
    """Compact JSON for a request body; NaN/Infinity are refused (they are not JSON)."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InvalidInput(f"payload cannot be sent as JSON: {exc}") from None


def time_instant_metadata(moment: datetime) -> dict[str, Any]:
    """``{"TimeInstant": {"type": "DateTime", "value": ...}}``: STH-Comet stores it as recvTime."""
    return {"TimeInstant": {"type": "DateTime", "value": format_datetime(moment)}}


def attribute(
    attr_type: str,
    value: Any,
    *,
    observed_at: datetime | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> NgsiAttribute:
    """A normalized NGSI v2 attribute, validated for Orion."""
    check_name(attr_type, "attribute type")
    _check_value(value, "attribute value")
    meta: dict[str, Any] = {}
    if metadata:
        for name, item in metadata.items():
            _check_value(item.get("value"), f"metadata {name!r}")
            meta[name] = dict(item)
    if observed_at is not None:
        meta.update(time_instant_metadata(observed_at))
    built: NgsiAttribute = {"type": attr_type, "value": value}
    if meta:
        built["metadata"] = meta
    return built


def text_attribute(value: str, *, observed_at: datetime | None = None) -> NgsiAttribute:
    if not isinstance(value, str):
        raise InvalidInput(f"a Text attribute needs a string, got {type(value).__name__}")
    return attribute("Text", value, observed_at=observed_at)


def datetime_attribute(value: datetime, *, observed_at: datetime | None = None) -> NgsiAttribute:
    return attribute("DateTime", format_datetime(value), observed_at=observed_at)


def structured_attribute(
    value: Mapping[str, Any] | Sequence[Any], *, observed_at: datetime | None = None
) -> NgsiAttribute:
    if isinstance(value, str) or not isinstance(value, Mapping | Sequence):
        raise InvalidInput("a StructuredValue attribute needs an object or an array")
    return attribute("StructuredValue", value, observed_at=observed_at)


def relationship_attribute(target_id: str, *, observed_at: datetime | None = None) -> NgsiAttribute:
    check_name(target_id, "relationship target")
    return attribute("Relationship", target_id, observed_at=observed_at)


def entity(entity_id: str, entity_type: str, **attributes: NgsiAttribute) -> dict[str, Any]:
    """``{"id", "type", **attributes}`` with the id, type and attribute names validated."""
    for value, what in [(entity_id, "entity id"), (entity_type, "entity type")]:
        check_name(value, what)
    for name in attributes:
        check_name(name, "attribute name")
    return {"id": entity_id, "type": entity_type, **attributes}
