"""Turn pydantic validation errors into one clear ``InvalidInput`` message."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chronos_core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "input"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "enum":
            expected = item.get("ctx", {}).get("expected", "")
            message = f"must be one of {expected}" if expected else message
        parts.append(f"{location}: {message}")
    return "invalid input: " + "; ".join(parts)


def parse_input(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model`` or raise ``InvalidInput`` listing every problem."""
    if isinstance(data, model):
        data = data.model_dump(exclude_unset=True)
    if not isinstance(data, dict):
        raise InvalidInput(f"invalid input: expected an object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error)) from None
