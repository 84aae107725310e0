"""What every Chronos deployment's parameter form must carry."""

from __future__ import annotations

from typing import Any


def missing_help(schema: dict[str, Any]) -> list[str]:
    """Parameters (and fields of the nested definitions) without a readable title or a
    description; a title equal to the Python name (``model_id``) does not count."""
    problems: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        title = prop.get("title")
        if not title or title == name:
            problems.append(f"{name}: no readable title (got {title!r})")
        if not (prop.get("description") or "").strip():
            problems.append(f"{name}: no description")
    for model, definition in schema.get("definitions", {}).items():
        for name, prop in definition.get("properties", {}).items():
            if not prop.get("title"):
                problems.append(f"{model}.{name}: no title")
            if model in ("ModelDefinition", "RNNLayer", "DenseLayer") and not prop.get(
                "description"
            ):
                problems.append(f"{model}.{name}: no description")
    return problems
