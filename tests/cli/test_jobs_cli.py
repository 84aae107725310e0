"""``chronos jobs list|show`` against the test database (jobs made with the core services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from chronos_core.domain.model import ModelDefinition
from chronos_core.services.models import register_model
from chronos_core.services.training_jobs import finish_job_failed, start_training_job
from chronos_core.settings import Settings

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


def _model(db: Database[dict[str, Any]], settings: Settings, entity_id: str) -> str:
    definition = ModelDefinition(
        model_type="lstm", entity_type="Room", entity_id=entity_id, feature="temperature"
    )
    return register_model(db, definition, settings).id


def test_list_and_show_jobs(
    chronos: Invoke, db: Database[dict[str, Any]], settings: Settings
) -> None:
    first = _model(db, settings, "Room1")
    second = _model(db, settings, "Room2")
    failed = start_training_job(db, first, 200, settings=settings)
    finish_job_failed(db, failed.id, "STH-Comet answered 500")
    active = start_training_job(db, second, 300, settings=settings)

    listed = chronos("jobs", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [job["id"] for job in listed.json()] == [active.id, failed.id]

    only_first = chronos("jobs", "list", "--model", first, "--json").json()
    assert [job["id"] for job in only_first] == [failed.id]
    pending = chronos("jobs", "list", "--status", "pending", "--json").json()
    assert [job["id"] for job in pending] == [active.id]

    table = chronos("jobs", "list")
    assert failed.id in table.stdout and "failed" in table.stdout

    shown = chronos("jobs", "show", failed.id)
    assert shown.exit_code == 0
    assert "STH-Comet answered 500" in shown.stdout
    document = chronos("jobs", "show", failed.id, "--json").json()
    assert document["status"] == "failed" and document["last_n"] == 200
    assert document["end_time"].endswith("Z")


def test_job_errors(chronos: Invoke) -> None:
    missing = chronos("jobs", "show", "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d")
    assert missing.exit_code == 3 and missing.stderr.startswith("Error: training job")
    bad = chronos("jobs", "list", "--status", "sleeping")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1
    bad_id = chronos("jobs", "cancel", "42")
    assert bad_id.exit_code == 2 and "not a valid id" in bad_id.stderr
