"""Connecting, URI redaction and the exact index set ``bootstrap`` creates."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.errors import ExternalServiceError, InvalidInput
from chronos_core.settings import Settings
from chronos_core.storage.database import (
    bootstrap,
    client_for,
    connect,
    get_database,
    redact_uri,
)
from chronos_core.storage.schema import COLLECTION_INDEXES

ACTIVE = ["cancel_requested", "collecting_data", "pending", "preprocessing", "training"]

EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "models": {
        "_id_": {"key": [("_id", 1)]},
        "id_unique": {"key": [("id", 1)], "unique": True},
        "created_at_idx": {"key": [("created_at", 1)]},
        "status_idx": {"key": [("status", 1)]},
        "model_type_idx": {"key": [("model_type", 1)]},
        "entity_id_idx": {"key": [("entity_id", 1)]},
        "feature_idx": {"key": [("feature", 1)]},
        "model_type_status_idx": {"key": [("model_type", 1), ("status", 1)]},
        "entity_feature_idx": {"key": [("entity_id", 1), ("feature", 1)]},
    },
    "training_jobs": {
        "_id_": {"key": [("_id", 1)]},
        "id_unique": {"key": [("id", 1)], "unique": True},
        "model_id_idx": {"key": [("model_id", 1)]},
        "one_active_job_per_model": {
            "key": [("model_id", 1)],
            "unique": True,
            "partialFilterExpression": {"status": {"$in": ACTIVE}},
        },
        "prediction_enabled_idx": {"key": [("prediction_config.enabled", 1)]},
        "next_prediction_at_idx": {"key": [("next_prediction_at", 1)]},
    },
    "model_artifacts.files": {
        "_id_": {"key": [("_id", 1)]},
        "filename_1_uploadDate_1": {"key": [("filename", 1), ("uploadDate", 1)]},
    },
    "model_artifacts.chunks": {
        "_id_": {"key": [("_id", 1)]},
        "files_id_1_n_1": {"key": [("files_id", 1), ("n", 1)], "unique": True},
    },
    "forecasts": {
        "_id_": {"key": [("_id", 1)]},
        "id_unique": {"key": [("id", 1)], "unique": True},
        "model_issued_idx": {"key": [("model_id", 1), ("issued_at", -1)]},
        "job_issued_idx": {"key": [("training_job_id", 1), ("issued_at", -1)]},
        "one_forecast_per_slot": {
            "key": [("training_job_id", 1), ("scheduled_for", 1)],
            "unique": True,
            "partialFilterExpression": {"trigger": "schedule"},
        },
        # The test server is the embedded database: its expiry index has no TTL (see schema).
        "expires_at_idx": {"key": [("expires_at", 1)]},
    },
}


def _indexes(db: Database[dict[str, Any]], collection: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for index in db[collection].list_indexes():
        spec: dict[str, Any] = {"key": [(k, int(v)) for k, v in index["key"].items()]}
        if index.get("unique"):
            spec["unique"] = True
        if "partialFilterExpression" in index:
            pfe = index["partialFilterExpression"]
            if "status" in pfe:
                spec["partialFilterExpression"] = {"status": {"$in": list(pfe["status"]["$in"])}}
            else:
                spec["partialFilterExpression"] = dict(pfe)
        if "expireAfterSeconds" in index:
            spec["expireAfterSeconds"] = int(index["expireAfterSeconds"])
        found[index["name"]] = spec
    return found


def _fresh(mongodb_uri: str, name: str) -> Database[dict[str, Any]]:
    return client_for(mongodb_uri)[f"{name}_{uuid.uuid4().hex[:8]}"]


def test_bootstrap_creates_exactly_the_index_set(mongodb_uri: str) -> None:
    db = _fresh(mongodb_uri, "chronos_test_bootstrap")
    try:
        bootstrap(db)
        for collection, expected in EXPECTED.items():
            assert _indexes(db, collection) == expected, collection
        assert set(COLLECTION_INDEXES) == set(EXPECTED)
        bootstrap(db)  # idempotent
        for collection, expected in EXPECTED.items():
            assert _indexes(db, collection) == expected, collection
    finally:
        db.client.drop_database(db.name)


def test_the_embedded_database_expires_forecasts_without_its_ttl_monitor(mongodb_uri: str) -> None:
    """SecantusDB's TTL monitor reads every document of the collection once a minute; there the
    TTL index of an earlier version is replaced by a plain one, and chronos-maintenance deletes
    expired forecasts with a range query on it."""
    from chronos_core.storage.database import is_embedded_server
    from chronos_core.storage.forecast_repository import ForecastRepository

    db = _fresh(mongodb_uri, "chronos_test_expiry")
    try:
        assert is_embedded_server(db)
        db["forecasts"].create_index("expires_at", name="expires_at_ttl", expireAfterSeconds=0)
        bootstrap(db)
        indexes = _indexes(db, "forecasts")
        assert "expires_at_ttl" not in indexes
        assert indexes["expires_at_idx"] == {"key": [("expires_at", 1)]}
        now = utc_now()
        db["forecasts"].insert_many(
            [
                {"id": "old", "expires_at": now - timedelta(seconds=1)},
                {"id": "new", "expires_at": now + timedelta(days=1)},
            ]
        )
        assert ForecastRepository(db).delete_expired(now) == 1
        assert [d["id"] for d in db["forecasts"].find({}, {"id": 1})] == ["new"]
    finally:
        db.client.drop_database(db.name)


def test_bootstrap_reports_a_conflicting_index(mongodb_uri: str) -> None:
    db = _fresh(mongodb_uri, "chronos_test_conflict")
    try:
        db["models"].create_index("status", name="my_status")
        with pytest.raises(ExternalServiceError, match=r"indexes of .*\.models"):
            bootstrap(db)
    finally:
        db.client.drop_database(db.name)


def test_connect_uses_settings_and_returns_utc_datetimes(settings: Settings) -> None:
    db = connect(settings)
    assert db.name == settings.mongodb_database
    assert connect(settings).client is db.client  # one client per process and URI
    from chronos_core.clock import utc_now

    db["probe"].insert_one({"at": utc_now()})
    stored = db["probe"].find_one({})
    assert stored is not None
    assert stored["at"].tzinfo is not None
    assert stored["at"].utcoffset().total_seconds() == 0
    assert stored["at"].tzinfo == UTC


def test_get_database_bootstraps(settings: Settings) -> None:
    db = get_database(settings)
    assert "one_active_job_per_model" in {i["name"] for i in db["training_jobs"].list_indexes()}


def test_with_a_uri_nothing_embedded_starts(settings: Settings) -> None:
    connect(settings)
    assert not (settings.data_dir / "embedded-db.json").exists()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "mongodb://user:s3cr3t@db.example:27017/chronos",
            "mongodb://***@db.example:27017/chronos",
        ),
        (
            "mongodb+srv://bob:pw@cluster.example.net/?w=1",
            "mongodb+srv://***@cluster.example.net/?w=1",
        ),
        ("mongodb://u:p@ss@h/", "mongodb://***@h/"),
        (
            "mongodb://h/?tlsCertificateKeyFilePassword=x&w=1",
            "mongodb://h/?tlsCertificateKeyFilePassword=***&w=1",
        ),
        (
            "mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:abc",
            "mongodb://h/?authMechanismProperties=***",
        ),
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_a_bad_uri_is_reported_without_its_secret(tmp_path: Any) -> None:
    settings = Settings(
        _env_file=None,
        mongodb_uri=SecretStr("mongodb://alice:hunter2@host:notaport/"),
        data_dir=tmp_path,
    )
    with pytest.raises(InvalidInput) as caught:
        connect(settings)
    assert "hunter2" not in str(caught.value)
    assert "alice" not in str(caught.value)
    assert "***@" in str(caught.value)
    assert "hunter2" not in repr(settings)


def test_an_unreachable_database_is_one_line_naming_it_and_since_when(
    db: Any,
) -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    from chronos_core.storage.database import is_unreachable, unreachable_error

    db.command("ping")  # its last answer
    error = ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused, " + "x" * 700)
    assert is_unreachable(error)
    message = str(unreachable_error(error, db))
    assert message.startswith(f"the database {db.name} at 127.0.0.1:")
    assert " is unreachable since 20" in message and message.endswith(
        "(ServerSelectionTimeoutError)"
    )
    assert len(message) < 200 and "\n" not in message
