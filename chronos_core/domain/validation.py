"""Turn pydantic validation errors into one clear ``InvalidInput`` message; check the scalar
arguments of functions called with plain values."""

from __future__ import annotations

from math import nan
from numbers import Integral, Real
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


def check_int(value: Any, what: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (NumPy integers too, never a bool), else
    ``InvalidInput`` saying what is allowed."""
    number = int(value) if isinstance(value, Integral) and not isinstance(value, bool) else None
    if number is None or number < low or (high is not None and number > high):
        rule = f">= {low}" if high is None else f"from {low} to {high}"
        raise InvalidInput(f"{what} must be an integer {rule}, got {value!r}")
    return number


def check_number(value: Any, what: str, interval: str) -> float:
    """``value`` as a ``float`` inside ``interval``, written ``"(0, 1]"`` (open or closed ends),
    else ``InvalidInput``; booleans are refused."""
    low, high = (float(end) for end in interval[1:-1].split(","))
    number = float(value) if isinstance(value, Real) and not isinstance(value, bool) else nan
    if not (
        (low < number if interval[0] == "(" else low <= number)
        and (number < high if interval[-1] == ")" else number <= high)
    ):
        raise InvalidInput(f"{what} must be a number in {interval}, got {value!r}")
    return number
