"""``chronos models``, ``db init`` and the error contract, end to end against the test database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.storage.schema import MODELS

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)

ROOM1 = ["--entity-type", "Room", "--entity-id", "Room1", "--feature", "temperature"]


def _create(chronos: Invoke, *extra: str) -> str:
    result = chronos("models", "create", *ROOM1, *extra)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_create_prints_the_id_and_list_shows_it(chronos: Invoke) -> None:
    model_id = _create(chronos, "--epochs", "3", "--rnn-units", "16", "--rnn-units", "8")
    assert len(model_id) == 36
    listed = chronos("models", "list", "--json")
    assert listed.exit_code == 0
    (model,) = listed.json()
    assert model["id"] == model_id
    assert model["model_type"] == "lstm"
    assert [layer["units"] for layer in model["rnn_layers"]] == [16, 8]
    assert model["created_at"].endswith("Z")
    table = chronos("models", "list")
    assert model_id in table.stdout and "LSTM - temperature" in table.stdout


def test_create_from_json_file_and_stdin(chronos: Invoke, tmp_path: Path) -> None:
    definition = {
        "model_type": "gru",
        "entity_type": "Room",
        "entity_id": "Room2",
        "feature": "humidity",
        "lookback_window": 12,
        "rnn_layers": [{"units": 4, "dropout": 0.0}],
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(definition))
    from_file = chronos("models", "create", "--from-json", str(path), "--json")
    assert from_file.exit_code == 0, from_file.stderr
    created = from_file.json()
    assert created["model_type"] == "gru" and created["lookback_window"] == 12

    # What `models show --json` prints can be fed back (read-only fields are ignored);
    # options override the file's fields.
    shown = chronos("models", "show", created["id"], "--json").stdout
    again = chronos("models", "create", "--from-json", "-", "--entity-id", "Room3", input=shown)
    assert again.exit_code == 0, again.stderr
    copy = chronos("models", "show", again.stdout.strip(), "--json").json()
    assert copy["entity_id"] == "Room3" and copy["feature"] == "humidity"
    assert copy["id"] != created["id"]


def test_show_update_delete(chronos: Invoke, db: Database[dict[str, Any]]) -> None:
    model_id = _create(chronos)
    shown = chronos("models", "show", model_id)
    assert shown.exit_code == 0 and "Recurrent layers" in shown.stdout
    updated = chronos("models", "update", model_id, "--epochs", "7", "--name", "Room 1 temp")
    assert updated.exit_code == 0, updated.stderr
    model = chronos("models", "show", model_id, "--json").json()
    assert model["epochs"] == 7 and model["name"] == "Room 1 temp"

    refused = chronos("models", "delete", model_id)  # no terminal, no --yes
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    deleted = chronos("models", "delete", model_id, "--yes", "--json")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.json()["model_id"] == model_id
    assert db[MODELS].count_documents({}) == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["models", "create", *ROOM1, "--epochs", "0"], 2, "epochs"),
        (
            [
                "models",
                "create",
                "--entity-type",
                "Room",
                "--entity-id",
                "Room 1",
                "--feature",
                "t",
            ],
            2,
            "entity_id",
        ),
        (["models", "create", *ROOM1, "--model-type", "rnn"], 2, "--model-type"),
        (["models", "create"], 2, "--entity-type"),
        (["models", "create", "--from-json", "/no/such/file.json"], 2, "no such file"),
        (["models", "create", *ROOM1, "--validation-ratio", "0.6"], 2, "No such option"),
        (["models", "show", "not-a-uuid"], 2, "not a valid id"),
        (["models", "show", "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d"], 3, "not found"),
        (
            ["models", "update", "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d", "--epochs", "5"],
            3,
            "not found",
        ),
        (["models", "list", "--limit", "0"], 2, "--limit"),
        (["models", "lst"], 2, "Did you mean 'list'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    chronos: Invoke, db: Database[dict[str, Any]], args: list[str], code: int, message: str
) -> None:
    result = chronos(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert db[MODELS].count_documents({}) == 0


def test_invalid_json_input(chronos: Invoke, db: Database[dict[str, Any]]) -> None:
    result = chronos("models", "create", "--from-json", "-", input="{not json")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: standard input is not valid JSON")
    unknown = chronos(
        "models", "create", "--from-json", "-", input='{"entity_type": "Room", "colour": 1}'
    )
    assert unknown.exit_code == 2 and "colour: unknown field" in unknown.stderr
    assert db[MODELS].count_documents({}) == 0


def test_update_of_a_trained_model_is_a_conflict(
    chronos: Invoke, db: Database[dict[str, Any]]
) -> None:
    model_id = _create(chronos)
    db[MODELS].update_one({"id": model_id}, {"$set": {"status": "trained"}})
    result = chronos("models", "update", model_id, "--epochs", "5")
    assert result.exit_code == 4
    assert "only draft models can be changed" in result.stderr


def test_bad_configuration_names_the_variable(
    chronos: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_STH_URL", "ftp://sth")
    result = chronos("models", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: invalid configuration: CHRONOS_STH_URL: must be an http:// or https:// URL"
    )


def test_db_init_reports_created_then_existing(chronos: Invoke) -> None:
    # The test database is bootstrapped already, so everything exists.
    result = chronos("db", "init", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["created"] == 0
    assert {
        "collection": "training_jobs",
        "index": "one_active_job_per_model",
        "created": False,
    } in (report["indexes"])
    assert "***" in report["uri"] or "@" not in report["uri"]


def test_db_init_creates_indexes(chronos: Invoke, db: Database[dict[str, Any]]) -> None:
    db[MODELS].drop_indexes()
    result = chronos("db", "init")
    assert result.exit_code == 0, result.stderr
    assert "created" in result.stdout
    assert "id_unique" in db[MODELS].index_information()


def test_definition_options_come_from_the_definition_fields(chronos: Invoke) -> None:
    model_id = _create(chronos, "--publish-next-value", "--model-type", "gru")
    assert chronos("models", "show", model_id, "--json").json()["publish_next_value"] is True
    # A false or zero value given as an option is a change too.
    updated = chronos("models", "update", model_id, "--no-publish-next-value", "--json")
    assert updated.exit_code == 0, updated.stderr
    assert updated.json()["publish_next_value"] is False and updated.json()["model_type"] == "gru"
    from typer.main import get_command

    from chronos_core.domain.model import ModelDefinition
    from cli.main import app

    create = get_command(app).commands["models"].commands["create"]  # type: ignore[attr-defined]
    helps = {parameter.name: parameter.help for parameter in create.params}
    assert helps["entity_type"] == ModelDefinition.model_fields["entity_type"].description
