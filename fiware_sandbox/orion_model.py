"""Orion emulation: entities, attributes, errors and the validation rules Orion applies."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fiware_sandbox.wire import iso_ms, parse_date_ms

if TYPE_CHECKING:
    from fiware_sandbox.orion_subscriptions import Subscription

FORBIDDEN_CHARS = set("<>\"'=;()")
FORBIDDEN_ID_CHARS = FORBIDDEN_CHARS | set("&?/#")
ENTITY_NOT_FOUND = "The requested entity has not been found. Check type and id"


class OrionError(Exception):
    """An NGSI v2 error answer."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def bad_request(description: str) -> OrionError:
    return OrionError(400, "BadRequest", description)


def not_found(description: str = ENTITY_NOT_FOUND) -> OrionError:
    return OrionError(404, "NotFound", description)


def unprocessable(description: str) -> OrionError:
    return OrionError(422, "Unprocessable", description)


# =============================================================================== model


@dataclass
class Attribute:
    """A stored attribute: NGSI type, JSON value, metadata by name."""

    type: str
    value: Any
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Entity:
    """A stored entity; ``created``/``modified`` are epoch seconds."""

    id: str
    type: str
    servicepath: str
    attrs: dict[str, Attribute] = field(default_factory=dict)
    created: float = 0.0
    modified: float = 0.0


@dataclass
class TenantData:
    entities: list[Entity] = field(default_factory=list)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)


@dataclass
class Change:
    """An entity after a write, and which of its attributes changed."""

    tenant: str
    entity: Entity
    changed: set[str]


def iso_seconds(seconds: float) -> str:
    return iso_ms(round(seconds * 1000))


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "Text"
    if isinstance(value, dict | list):
        return "StructuredValue"
    return "None"


def has_forbidden(value: Any) -> bool:
    if isinstance(value, str):
        return any(c in FORBIDDEN_CHARS for c in value)
    if isinstance(value, dict):
        return any(has_forbidden(v) for v in value.values())
    if isinstance(value, list):
        return any(has_forbidden(v) for v in value)
    return False


def check_name(value: Any, what: str, forbidden: set[str] = FORBIDDEN_CHARS) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Invalid JSON type for {what}")
    if value == "":
        raise bad_request(f"{what} length: 0, min length supported: 1")
    if len(value) > 256:
        raise bad_request(f"{what} length: {len(value)}, max length supported: 256")
    if any(c in forbidden or c.isspace() or ord(c) < 32 for c in value):
        raise bad_request(f"Invalid characters in {what}")
    return value


def normalize_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        raise bad_request("date has invalid format")
    millis = parse_date_ms(value)
    if millis is None or re.fullmatch(r"-?\d+", value.strip()):
        raise bad_request("date has invalid format")
    return iso_ms(millis)


# =============================================================================== emulator


def path_matches(scope: str, servicepath: str) -> bool:
    for path in scope.split(","):
        if path == "/#":
            return True
        if path.endswith("/#"):
            prefix = path[:-2]
            if servicepath == prefix or servicepath.startswith(prefix + "/"):
                return True
        elif path == servicepath:
            return True
    return False


#: Orion prints a number with at most this many decimals.
RENDERED_DECIMALS = 9


def rendered_numbers(value: Any) -> Any:
    """``value`` as Orion renders it: every float with at most 9 decimals (nested values too)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        rounded = round(value, RENDERED_DECIMALS)
        return 0 if rounded == 0 else rounded
    if isinstance(value, dict):
        return {key: rendered_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rendered_numbers(item) for item in value]
    return value
