"""Bad input that used to escape as a raw error: each gets one ``Error:`` line and exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.errors import InvalidInput
from chronos_core.services.models import register_model
from chronos_core.settings import Settings
from chronos_core.storage.schema import MODELS

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


def _one_error(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    return str(lines[0])


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_json_is_one_error_line(
    chronos: Invoke, tmp_path: Path, db: Database[dict[str, Any]], depth: int
) -> None:
    source = tmp_path / "deep.json"
    source.write_text('{"model_type": "lstm", "x": ' + "[" * depth + "]" * depth + "}")
    result = chronos("models", "create", "--from-json", str(source))
    assert result.exit_code == 2
    assert "deeper than 32 levels" in _one_error(result)
    assert db[MODELS].count_documents({}) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("entity_type", "Räum"), ("entity_id", "Room☃1"), ("feature", "température")],
)
def test_non_ascii_ngsi_names_are_refused_with_the_rule(
    chronos: Invoke, db: Database[dict[str, Any]], field: str, value: str
) -> None:
    options = {"entity_type": "Room", "entity_id": "Room1", "feature": "temperature"}
    options[field] = value
    args = [f"--{name.replace('_', '-')}={text}" for name, text in options.items()]
    result = chronos("models", "create", *args)
    assert result.exit_code == 2, result.stderr
    assert "NGSI v2 allows only ASCII" in _one_error(result)
    assert db[MODELS].count_documents({}) == 0


def test_non_ascii_names_are_refused_by_the_service(
    db: Database[dict[str, Any]], settings: Settings, model_definition: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput, match="only ASCII"):
        register_model(db, {**model_definition, "entity_id": "Zimmer_Größe"}, settings)
    assert db[MODELS].count_documents({}) == 0


@pytest.mark.parametrize("name", ["ok\nError: forged", "bell\x07", "del\x7f", "c1\x85x"])
def test_control_characters_in_display_names_are_refused(
    db: Database[dict[str, Any]], settings: Settings, model_definition: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidInput, match="control characters"):
        register_model(db, {**model_definition, "name": name}, settings)
    assert db[MODELS].count_documents({}) == 0


@pytest.mark.parametrize("command", [("models", "list"), ("health",)])
def test_an_invalid_fiware_service_is_a_configuration_error_naming_the_variable(
    chronos: Invoke, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("CHRONOS_FIWARE_SERVICE", "Smart City")
    result = chronos(*command)
    assert result.exit_code == 2
    assert _one_error(result).startswith(
        "Error: invalid configuration: CHRONOS_FIWARE_SERVICE: a FIWARE service is 1-50"
    )


def test_a_raw_driver_error_for_an_unreachable_database_is_short_and_exit_5() -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    from cli.errors import describe, exit_code_for

    dump = (
        "127.0.0.1:27027: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: "
        "20000.0ms, connectTimeoutMS: 20000.0ms), Timeout: 5.0s, Topology Description: "
        + "<TopologyDescription ...>"
        * 30
    )
    error = ServerSelectionTimeoutError(dump)
    assert exit_code_for(error) == 5
    message = describe(error) or ""
    assert message.startswith("the database is unreachable (ServerSelectionTimeoutError: ")
    assert "Topology Description" not in message and len(message) <= 400
