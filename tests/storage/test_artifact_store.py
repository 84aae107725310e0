"""ArtifactStore on the ``model_artifacts`` GridFS bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from gridfs import GridIn
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ArtifactType, TrainingStatus
from chronos_core.domain.identifiers import new_id
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import InvalidInput, NotFound
from chronos_core.storage.artifact_store import ArtifactIntegrityError, ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from tests.database_commands import counted_client

Db = Database[dict[str, Any]]


def upload(
    store: ArtifactStore, model_id: str, job_id: str, kind: ArtifactType, data: bytes = b"x"
) -> str:
    return store.upload(
        data,
        f"{kind.value}.bin",
        model_id=model_id,
        training_job_id=job_id,
        artifact_type=kind,
        content_type="application/octet-stream",
    )


def test_round_trip_and_metadata(db: Db) -> None:
    store = ArtifactStore(db)
    payload = bytes(range(256)) * 2000  # several GridFS chunks
    artifact_id = store.upload(
        payload,
        "model.keras",
        model_id="m1",
        training_job_id="j1",
        artifact_type="model",
        content_type="application/zip",
        extra={"format": "keras", "keras_version": "3"},
    )
    assert len(artifact_id) == 24
    assert store.download(artifact_id) == payload
    info = store.info(artifact_id)
    assert info.id == artifact_id and info.filename == "model.keras"
    assert info.length == len(payload)
    assert (info.model_id, info.training_job_id) == ("m1", "j1")
    assert info.artifact_type == "model" and info.content_type == "application/zip"
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    assert info.metadata["size"] == len(payload) and info.metadata["format"] == "keras"
    assert isinstance(info.upload_date, datetime) and info.upload_date.tzinfo is not None
    raw = db["model_artifacts.files"].find_one({})
    assert raw is not None and raw["metadata"]["artifact_type"] == "model"
    assert db.list_collection_names().count("model_artifacts.chunks") == 1


def test_corruption_is_detected(db: Db) -> None:
    store = ArtifactStore(db)
    artifact_id = upload(store, "m", "j", ArtifactType.METADATA, b'{"a": 1}')
    db["model_artifacts.chunks"].update_one({}, {"$set": {"data": b'{"a": 2}'}})
    with pytest.raises(ArtifactIntegrityError, match="corrupted"):
        store.download(artifact_id)


def test_many_artifacts_are_read_together_and_their_chunks_checked(db: Db) -> None:
    store = ArtifactStore(db)
    payloads = {
        "big": bytes(range(256)) * 3000,  # four GridFS chunks
        "small": b'{"a": 1}',
        "empty": b"",
    }
    ids = {
        name: upload(store, "m", "j", ArtifactType.METADATA, data)
        for name, data in payloads.items()
    }
    read = store.download_many(ids.values())
    assert {name: read[artifact_id] for name, artifact_id in ids.items()} == payloads
    with pytest.raises(NotFound, match="artifact 0123456789abcdef01234567 not found"):
        store.download_many([ids["small"], "0123456789abcdef01234567"])
    chunks = db["model_artifacts.chunks"]
    # A chunk lost, then one cut short: neither passes for the file.
    lost = chunks.find_one_and_delete({"n": 2})
    assert lost is not None
    with pytest.raises(ArtifactIntegrityError, match="chunks do not add up"):
        store.download(ids["big"])
    lost["data"] = lost["data"][:-1]
    chunks.insert_one(lost)
    with pytest.raises(ArtifactIntegrityError, match="chunks do not add up"):
        store.download(ids["big"])
    assert store.download(ids["small"]) == payloads["small"]


def test_missing_and_invalid_ids(db: Db) -> None:
    store = ArtifactStore(db)
    with pytest.raises(NotFound, match="artifact 0123456789abcdef01234567 not found"):
        store.download("0123456789abcdef01234567")
    with pytest.raises(NotFound):
        store.info("0123456789abcdef01234567")
    with pytest.raises(InvalidInput, match="not valid"):
        store.download("not-an-id")
    assert store.delete("0123456789abcdef01234567") is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "text"}, "artifact data must be bytes"),
        ({"artifact_type": "pickle"}, "artifact_type must be one of model, x_scaler"),
        ({"model_id": ""}, "model_id must be a non-empty string"),
        ({"extra": {"sha256": "forged"}}, "cannot override sha256"),
        ({"filename": " "}, "filename"),
    ],
)
def test_upload_rejects_bad_input(db: Db, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "data": b"x",
        "filename": "f",
        "model_id": "m",
        "training_job_id": "j",
        "artifact_type": "model",
        "content_type": "application/octet-stream",
        **kwargs,
    }
    data = arguments.pop("data")
    filename = arguments.pop("filename")
    with pytest.raises(InvalidInput, match=message):
        ArtifactStore(db).upload(data, filename, **arguments)
    assert db["model_artifacts.files"].count_documents({}) == 0


def test_listing_and_cascading_deletes(db: Db) -> None:
    store = ArtifactStore(db)
    a = [upload(store, "m1", "j1", kind) for kind in ArtifactType]
    b = upload(store, "m1", "j2", ArtifactType.MODEL)
    c = upload(store, "m2", "j3", ArtifactType.MODEL)
    assert [i.id for i in store.list_for_job("j1")] == a
    assert {i.id for i in store.list_for_model("m1")} == {*a, b}
    assert store.delete_for_job("j1") == 4
    assert store.list_for_job("j1") == []
    assert db["model_artifacts.chunks"].count_documents({}) == 2  # chunks went with the files
    assert store.delete_for_model("m1") == 1
    assert store.delete(c) is True
    assert store.exists(c) is False
    assert db["model_artifacts.chunks"].count_documents({}) == 0


def test_find_orphans(db: Db, make_model: Callable[..., Model]) -> None:
    store = ArtifactStore(db)
    models = ModelRepository(db)
    jobs = TrainingJobRepository(db)
    model = models.insert(make_model())
    completed = jobs.insert(TrainingJob(model_id=model.id, status=TrainingStatus.COMPLETED))
    failed = jobs.insert(TrainingJob(model_id=model.id, status=TrainingStatus.FAILED))
    running = jobs.insert(TrainingJob(model_id=model.id, status=TrainingStatus.TRAINING))

    kept = upload(store, model.id, completed.id, ArtifactType.MODEL)
    jobs.set_fields(completed.id, {"model_artifact_id": kept})
    stray = upload(store, model.id, completed.id, ArtifactType.X_SCALER)  # never referenced
    of_failed = upload(store, model.id, failed.id, ArtifactType.MODEL)
    in_progress = upload(store, model.id, running.id, ArtifactType.MODEL)
    of_missing_job = upload(store, model.id, new_id(), ArtifactType.MODEL)
    of_missing_model = upload(store, new_id(), new_id(), ArtifactType.MODEL)

    orphans = {info.id for info in store.find_orphans()}
    assert orphans == {stray, of_failed, of_missing_job, of_missing_model}
    assert kept not in orphans and in_progress not in orphans
    assert store.find_orphans(uploaded_before=utc_now() - timedelta(hours=1)) == []


def test_an_upload_does_not_probe_for_the_indexes_bootstrap_made(db: Db, mongodb_uri: str) -> None:
    """pymongo's own check (a find_one on both collections per upload) is a full collection scan
    on the embedded database; bootstrap already made the indexes, so an upload only writes."""
    with counted_client(mongodb_uri) as (client, counter):
        payload = bytes(range(256)) * 2000  # several chunks
        artifact_id = upload(ArtifactStore(client[db.name]), "m", "j", ArtifactType.MODEL, payload)
        assert set(counter.names) <= {"insert"}, counter.names
    assert ArtifactStore(db).download(artifact_id) == payload
    indexes = db["model_artifacts.chunks"].index_information()
    assert indexes["files_id_1_n_1"]["unique"] is True


def test_a_failed_upload_leaves_no_file_or_chunks(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure is injected after the driver wrote everything (a lost answer to the last
    insert, say): the upload is undone."""
    closing = GridIn.close

    def close_then_fail(self: GridIn) -> None:
        closing(self)
        raise AutoReconnect("connection lost")

    monkeypatch.setattr(GridIn, "close", close_then_fail)
    store = ArtifactStore(db)
    with pytest.raises(AutoReconnect):
        upload(store, "m", "j", ArtifactType.MODEL, bytes(600_000))
    assert db["model_artifacts.files"].count_documents({}) == 0
    assert db["model_artifacts.chunks"].count_documents({}) == 0
