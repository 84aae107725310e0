"""docs/configuration.md lists every CHRONOS_* setting; the table is generated from Settings.

Regenerate it after changing chronos_core/settings.py:

    CHRONOS_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/docs
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from chronos_core.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
START = "<!-- settings-table:start (generated from chronos_core/settings.py) -->"
END = "<!-- settings-table:end -->"


# Descriptions for settings that carry none in chronos_core/settings.py (a Field description
# there wins). Every setting must have one or the other.
FALLBACK_DESCRIPTIONS = {
    "mongodb_database": "Database name used inside MongoDB.",
    "sth_url": "Base URL of STH-Comet (history of attribute values).",
    "orion_url": "Base URL of the Orion Context Broker (NGSI v2), where forecasts are published.",
    "iot_agent_url": "Base URL of the IoT Agent northbound API (device discovery).",
    "fiware_service": "Default `Fiware-Service` (tenant) of models that name none.",
    "fiware_servicepath": "Default `Fiware-ServicePath` of models that name none.",
    "sth_max_page_size": "Points per STH-Comet page (`hLimit`); STH-Comet refuses more than 100.",
    "http_timeout_seconds": "Timeout of each HTTP request to a FIWARE service.",
    "http_retries": "Retries of a failed idempotent FIWARE request.",
    "http_backoff_seconds": "First delay between retries (doubles each time).",
    "collection_concurrency": "Collection chunks fetched in parallel during training.",
    "max_last_n": "Largest `last_n` (history points) a training may request.",
    "random_seed": "Seed for NumPy, Python and TensorFlow (reproducible training).",
    "forecast_entity_type": "NGSI type of the forecast entities Chronos writes to Orion.",
    "min_prediction_interval_seconds": "Shortest interval accepted for recurring forecasts.",
    "forecast_concurrency": "Forecasts run in parallel by one scheduler sweep.",
    "forecast_retention_days": "Days stored forecasts are kept before they expire.",
    "model_cache_size": "Trained models kept loaded in memory per process.",
}


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        names = [_type_name(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " | ".join(names) + " (optional)"
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None:
        return "unset"
    if isinstance(value, Path):
        text = str(value)
        home = str(Path.home())
        return "`" + ("~" + text[len(home) :] if text.startswith(home) else text) + "`"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            parts.append(f"≥ {item.ge}")
        if isinstance(item, annotated_types.Gt):
            parts.append(f"> {item.gt}")
        if isinstance(item, annotated_types.Le):
            parts.append(f"≤ {item.le}")
        if isinstance(item, annotated_types.Lt):
            parts.append(f"< {item.lt}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"length ≥ {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"length ≤ {item.max_length}")
    return ", ".join(parts)


def render_settings_table() -> str:
    lines = [
        "| Variable | Type | Default | Allowed | Description |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        description = (field.description or FALLBACK_DESCRIPTIONS.get(name, "")).replace("|", "\\|")
        lines.append(
            f"| `CHRONOS_{name.upper()}` | {_type_name(field.annotation)} | {_default(field)} "
            f"| {_bounds(field)} | {description} |"
        )
    return "\n".join(lines)


def test_every_setting_is_described() -> None:
    missing = [
        name
        for name, field in Settings.model_fields.items()
        if not (field.description or FALLBACK_DESCRIPTIONS.get(name))
    ]
    assert not missing, f"describe these settings (Field description=...): {missing}"


def test_configuration_doc_lists_every_setting() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, f"{DOC} lost its generated-table markers"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    expected = f"{head}{START}\n{render_settings_table()}\n{END}{tail}"
    if os.environ.get("CHRONOS_UPDATE_DOCS") == "1":
        DOC.write_text(expected, encoding="utf-8")
    assert text == expected, (
        "docs/configuration.md is out of date with chronos_core/settings.py; regenerate it with "
        "CHRONOS_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/docs"
    )
